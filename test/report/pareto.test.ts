import { describe, expect, it } from 'vitest';
import { bestWithin, dominates, paretoFrontier } from '../../src/report/pareto.js';

describe('pareto frontier', () => {
  const pts = [
    { kl: 0, speedup: 1 },
    { kl: 0.01, speedup: 1.2 },
    { kl: 0.05, speedup: 1.1 }, // dominated by the one above
    { kl: 0.02, speedup: 1.2000001 }, // as fast within tolerance, worse KL: dominated
    { kl: 0.3, speedup: 1.5 },
    { kl: 0.3, speedup: 1.5 }, // a duplicate is listed once
  ];

  it('keeps the non-dominated points by ascending speed-up', () => {
    expect(paretoFrontier(pts)).toEqual([0, 1, 4]);
    expect(dominates(pts[1]!, pts[2]!)).toBe(true);
    expect(dominates(pts[2]!, pts[1]!)).toBe(false);
    expect(dominates(pts[1]!, pts[3]!)).toBe(true);
  });

  it('picks the fastest point within a KL budget, the lowest KL among equally fast ones', () => {
    expect(bestWithin(pts, 0.1)).toBe(1);
    expect(bestWithin(pts, 1)).toBe(4);
    expect(bestWithin(pts, 0)).toBe(0);
    expect(bestWithin(pts, -1)).toBe(-1);
  });
});
