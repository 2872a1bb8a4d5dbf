/**
 * The Pareto frontier of the explorer's configurations: lowest KL, highest predicted speed-up.
 * Speed-ups within a relative `tolerance` count as equal, so a variant that saves a few norm
 * weights (fusion) but costs KL does not make the frontier on a rounding difference.
 */
export interface TradeOff {
  kl: number;
  speedup: number;
}

export const SPEEDUP_TOLERANCE = 1e-3;

function faster(a: number, b: number, tolerance: number): boolean {
  return a > b * (1 + tolerance);
}

/** Whether `q` dominates `p`: no worse on both, strictly better on one. */
export function dominates(q: TradeOff, p: TradeOff, tolerance = SPEEDUP_TOLERANCE): boolean {
  const notSlower = !faster(p.speedup, q.speedup, tolerance);
  return q.kl <= p.kl && notSlower && (q.kl < p.kl || faster(q.speedup, p.speedup, tolerance));
}

/** Indices of the non-dominated points, by ascending speed-up (so their KL never decreases). */
export function paretoFrontier(points: readonly TradeOff[], tolerance = SPEEDUP_TOLERANCE): number[] {
  const idx = points.map((_, i) => i).filter((i) => !points.some((q, j) => j !== i && dominates(q, points[i]!, tolerance)));
  // Equal points: keep the first only.
  const kept = idx.filter((i, k) => !idx.slice(0, k).some((j) => points[j]!.kl === points[i]!.kl && !faster(points[i]!.speedup, points[j]!.speedup, tolerance) && !faster(points[j]!.speedup, points[i]!.speedup, tolerance)));
  return kept.sort((a, b) => points[a]!.speedup - points[b]!.speedup || points[a]!.kl - points[b]!.kl);
}

/** The fastest point with KL ≤ `maxKl` (speed-ups within tolerance: the lowest KL); -1 if none. */
export function bestWithin(points: readonly TradeOff[], maxKl: number, tolerance = SPEEDUP_TOLERANCE): number {
  const ok = points.map((_, i) => i).filter((i) => points[i]!.kl <= maxKl);
  if (!ok.length) return -1;
  const top = Math.max(...ok.map((i) => points[i]!.speedup));
  return ok.filter((i) => !faster(top, points[i]!.speedup, tolerance)).sort((a, b) => points[a]!.kl - points[b]!.kl)[0]!;
}
