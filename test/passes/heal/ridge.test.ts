import { describe, expect, it } from 'vitest';
import { OnnxOptError } from '../../../src/errors.js';
import { NormalEquations, solveRidge } from '../../../src/passes/heal/ridge.js';

/** A small deterministic PRNG (tests must not depend on Math.random). */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32 - 0.5;
  };
}

describe('ridge solver (Cholesky of HᵀH + λI)', () => {
  it('solves a known SPD system exactly', () => {
    // [[4, 2], [2, 3]] x = [[1, 0], [2, 1]] → x = A⁻¹ B with A⁻¹ = [[3, -2], [-2, 4]] / 8.
    const x = solveRidge(new Float64Array([4, 2, 2, 3]), new Float64Array([1, 0, 2, 1]), 2, 2, 0);
    const want = [(3 * 1 - 2 * 2) / 8, (3 * 0 - 2 * 1) / 8, (-2 * 1 + 4 * 2) / 8, (-2 * 0 + 4 * 1) / 8];
    want.forEach((w, i) => expect(x[i]).toBeCloseTo(w, 12));
  });

  it('recovers a planted linear map from streamed rows, batch by batch', () => {
    const m = 12;
    const n = 3;
    const r = rng(1);
    const truth = Float64Array.from({ length: m * n }, () => r());
    const eq = new NormalEquations(m, n);
    for (let b = 0; b < 5; b++) {
      const rows = 40;
      const h = Float64Array.from({ length: rows * m }, () => r());
      const t = new Float64Array(rows * n);
      for (let i = 0; i < rows; i++) for (let k = 0; k < n; k++) for (let j = 0; j < m; j++) t[i * n + k] = t[i * n + k]! + h[i * m + j]! * truth[j * n + k]!;
      eq.addRows(h, t, rows);
    }
    expect(eq.rows).toBe(200);
    const x = eq.solve(1e-12);
    for (let i = 0; i < m * n; i++) expect(x[i]).toBeCloseTo(truth[i]!, 8);
    // The targets are exactly linear in H: the fit leaves nothing.
    expect(eq.errorAfter(x) / eq.residualSquares).toBeLessThan(1e-12);
    expect(eq.errorAfter(new Float64Array(m * n))).toBeCloseTo(eq.residualSquares, 8);
  });

  it('errorAfter equals ‖R − HΔ‖² computed from the rows', () => {
    const m = 5;
    const n = 2;
    const rows = 30;
    const r = rng(7);
    const h = Float64Array.from({ length: rows * m }, () => r());
    const t = Float64Array.from({ length: rows * n }, () => r());
    const eq = new NormalEquations(m, n);
    eq.addRows(h, t, rows);
    const d = eq.solve(0.5);
    let direct = 0;
    for (let i = 0; i < rows; i++) {
      for (let k = 0; k < n; k++) {
        let p = 0;
        for (let j = 0; j < m; j++) p += h[i * m + j]! * d[j * n + k]!;
        direct += (t[i * n + k]! - p) ** 2;
      }
    }
    expect(eq.errorAfter(d)).toBeCloseTo(direct, 10);
    // Ridge: the fit is worse than plain least squares on the data, never better than it.
    expect(eq.errorAfter(d)).toBeGreaterThan(eq.errorAfter(eq.solve(1e-12)));
  });

  it('λ makes a singular (rank-deficient) system solvable, and a large λ shrinks Δ to 0', () => {
    // Two identical columns and fewer rows than unknowns: HᵀH is singular.
    const m = 4;
    const rows = 3;
    const h = new Float64Array([1, 1, 2, 0, 2, 2, 1, 1, 3, 3, 0, 2]);
    const t = new Float64Array([1, 2, 3]);
    const eq = new NormalEquations(m, 1);
    eq.addRows(h, t, rows);
    expect(() => solveRidge(eq.gram(), eq.cross, m, 1, 0)).toThrow(OnnxOptError);
    const x = eq.solve(1e-3);
    expect(x.every(Number.isFinite)).toBe(true);
    // The duplicated columns get equal weights (the minimum-norm split).
    expect(x[0]).toBeCloseTo(x[1]!, 8);
    expect(eq.errorAfter(x) / eq.residualSquares).toBeLessThan(0.01);
    const shrunk = eq.solve(1e9);
    expect(Math.max(...shrunk.map(Math.abs))).toBeLessThan(1e-8);
  });

  it('refuses matrices of the wrong size', () => {
    expect(() => solveRidge(new Float64Array(3), new Float64Array(2), 2, 1, 0)).toThrow(/2×2/);
    expect(() => new NormalEquations(2, 1).addRows(new Float64Array(3), new Float64Array(1), 1)).toThrow(/1×2/);
  });
});
