/**
 * A small deterministic PRNG (SplitMix32 seeding a Mulberry32 stream): the same seed gives the
 * same numbers on every platform and Node version, unlike Math.random.
 */
export class Rng {
  private state: number;

  /** `streams` derive independent generators from one seed, e.g. `new Rng(seed, sequenceIndex)`. */
  constructor(seed: number, ...streams: number[]) {
    let s = mix32(Math.trunc(seed) >>> 0 ^ 0x9e3779b9);
    for (const k of streams) s = mix32((s ^ mix32(Math.trunc(k) + 0x6d2b79f5)) >>> 0);
    this.state = s;
  }

  /** A float in [0, 1). */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** An integer in [0, n). */
  int(n: number): number {
    return Math.min(n - 1, Math.floor(this.next() * n));
  }
}

function mix32(x: number): number {
  let z = (x + 0x9e3779b9) >>> 0;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
  return (z ^ (z >>> 16)) >>> 0;
}
