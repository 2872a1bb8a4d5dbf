/**
 * Seeded fuzzing of the model reader (see fuzz-cases.ts for what is mutated and fuzz-runner.ts for
 * what is checked). The same FUZZ_CASES cases run every time; `npm run fuzz -- --cases N --seed S`
 * runs more. Cases run in child processes, so a hang is killed and a crash is reported as such.
 */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { FAMILIES, generateCase } from './fuzz-cases.js';
import { FUZZ_CASES, FUZZ_SEED } from './fuzz-config.js';
import { runFuzz } from './fuzz-pool.js';

describe('fuzzing the reader', () => {
  it(`${FUZZ_CASES} seeded cases: a typed error or a clean load and save; no hang, no huge allocation, no file touched`, async () => {
    // The scale family is capped at 2,000 nodes here: verifyModel is quadratic in fan-out, inputs and
    // cycle length, so bigger cases approach the time budget (npm run fuzz runs them up to 50,000).
    const s = await runFuzz({ seed: FUZZ_SEED, cases: FUZZ_CASES, workers: 2, maxScale: 2000 });
    const report = s.failures.map((o) => `#${o.index} [${o.family}] ${o.what}: ${o.failures.join('; ')}`);
    expect(report).toEqual([]);
    expect(s.outcomes).toHaveLength(FUZZ_CASES);
    // Every family ran, and the cases reach every outcome the reader has.
    for (const f of FAMILIES) expect(s.byFamily[f] ?? 0, f).toBeGreaterThanOrEqual(f === 'scale' ? 10 : 50);
    // refused:USAGE / loaded:USAGE: the paths family's devices, directories and links as model or output.
    for (const r of ['saved', 'refused:PARSE', 'refused:INVALID_MODEL', 'refused:EXTERNAL_DATA_PATH', 'refused:EXTERNAL_DATA_RANGE', 'refused:EXTERNAL_DATA_MISSING', 'refused:USAGE', 'loaded:USAGE']) {
      expect(s.byResult[r] ?? 0, r).toBeGreaterThanOrEqual(20);
    }
    const slowest = s.slowest[0]!;
    console.log(`fuzz: ${s.outcomes.length} cases in ${(s.wallMs / 1000).toFixed(1)} s; slowest case ${slowest.ms} ms (#${slowest.index} ${slowest.what}); ${JSON.stringify(s.byResult)}`);
  }, 300_000);

  it('a case is a pure function of (seed, index)', () => {
    const digest = (seed: number, index: number) => {
      const c = generateCase(seed, index);
      const h = createHash('sha256').update(c.what).update(JSON.stringify(c.save));
      for (const f of c.files) h.update(f.path).update(f.kind === 'file' ? f.bytes : f.kind === 'symlink' ? f.target : f.kind === 'device' ? `${f.major},${f.minor}` : 'dir');
      return h.digest('hex');
    };
    for (const i of [0, 1, 17, 499, 1999]) expect(digest(FUZZ_SEED, i)).toBe(digest(FUZZ_SEED, i));
    expect(new Set([0, 1, 2, 3, 4, 5, 6, 7].map((i) => digest(FUZZ_SEED, i))).size).toBe(8);
    expect(digest(FUZZ_SEED, 3)).not.toBe(digest(FUZZ_SEED + 1, 3));
  });
});
