import { CholeskyDecomposition, Matrix } from 'ml-matrix';
import { OnnxOptError } from '../../errors.js';

/**
 * Ridge regression from streamed sufficient statistics: `G = HᵀH` (m×m) and `C = HᵀR` (m×n) are
 * summed over calibration batches, so the token rows are never all in memory; the solve is one
 * Cholesky factorization of `G + λ·I` (ml-matrix).
 */
export class NormalEquations {
  /** HᵀH, row-major m×m; only the upper triangle is accumulated until {@link gram} mirrors it. */
  private readonly g: Float64Array;
  /** HᵀR, row-major m×n. */
  readonly cross: Float64Array;
  /** Rows seen. */
  rows = 0;
  /** Σ‖r‖² over the rows: the squared error of Δ = 0 (no correction). */
  residualSquares = 0;

  constructor(
    readonly m: number,
    readonly n: number,
  ) {
    this.g = new Float64Array(m * m);
    this.cross = new Float64Array(m * n);
  }

  /**
   * Adds `rows` row pairs: H (rows×m) and its targets R (rows×n), both row-major. The batch is
   * transposed first so each entry of HᵀH is one contiguous dot product (several times faster
   * than row-by-row rank-1 updates).
   */
  addRows(h: Float64Array, r: Float64Array, rows: number): void {
    const { m, n, g, cross } = this;
    if (h.length !== rows * m || r.length !== rows * n) throw new Error(`addRows: H must be ${rows}×${m} and R ${rows}×${n}`);
    const ht = transpose(h, rows, m);
    const rt = transpose(r, rows, n);
    const s = new Float64Array(4);
    // Two rows of Hᵀ at a time against two columns: four sums per four loads.
    let i = 0;
    for (; i + 1 < m; i += 2) {
      const a0 = i * rows;
      const a1 = a0 + rows;
      let j = i;
      for (; j + 1 < m; j += 2) {
        dot2x2(ht, a0, a1, ht, j * rows, (j + 1) * rows, rows, s);
        g[i * m + j] = g[i * m + j]! + s[0]!;
        g[i * m + j + 1] = g[i * m + j + 1]! + s[1]!;
        // Row i+1 starts at its diagonal: (i+1, i) is below it when j = i.
        if (j > i) g[(i + 1) * m + j] = g[(i + 1) * m + j]! + s[2]!;
        g[(i + 1) * m + j + 1] = g[(i + 1) * m + j + 1]! + s[3]!;
      }
      if (j < m) {
        g[i * m + j] = g[i * m + j]! + dot(ht, a0, ht, j * rows, rows);
        g[(i + 1) * m + j] = g[(i + 1) * m + j]! + dot(ht, a1, ht, j * rows, rows);
      }
      for (let k = 0; k < n; k++) {
        dot2x2(ht, a0, a1, rt, k * rows, k * rows, rows, s);
        cross[i * n + k] = cross[i * n + k]! + s[0]!;
        cross[(i + 1) * n + k] = cross[(i + 1) * n + k]! + s[2]!;
      }
    }
    if (i < m) {
      const a = i * rows;
      for (let j = i; j < m; j++) g[i * m + j] = g[i * m + j]! + dot(ht, a, ht, j * rows, rows);
      for (let k = 0; k < n; k++) cross[i * n + k] = cross[i * n + k]! + dot(ht, a, rt, k * rows, rows);
    }
    for (let x = 0; x < r.length; x++) this.residualSquares += r[x]! * r[x]!;
    this.rows += rows;
  }

  /** HᵀH as a full symmetric matrix (row-major). */
  gram(): Float64Array {
    const { m, g } = this;
    const out = new Float64Array(g);
    for (let i = 0; i < m; i++) for (let j = i + 1; j < m; j++) out[j * m + i] = out[i * m + j]!;
    return out;
  }

  /** ‖R − HΔ‖² over the rows seen, from the sums: ‖R‖² − 2·tr(ΔᵀHᵀR) + tr(ΔᵀHᵀHΔ). */
  errorAfter(delta: Float64Array): number {
    const { m, n, g, cross } = this;
    let e = this.residualSquares;
    for (let i = 0; i < m; i++) for (let k = 0; k < n; k++) e -= 2 * delta[i * n + k]! * cross[i * n + k]!;
    // G Δ with G's upper triangle: G_ij = G_ji.
    const gd = new Float64Array(m * n);
    for (let i = 0; i < m; i++) {
      for (let j = i; j < m; j++) {
        const v = g[i * m + j]!;
        if (v === 0) continue;
        for (let k = 0; k < n; k++) {
          gd[i * n + k] = gd[i * n + k]! + v * delta[j * n + k]!;
          if (j !== i) gd[j * n + k] = gd[j * n + k]! + v * delta[i * n + k]!;
        }
      }
    }
    for (let x = 0; x < m * n; x++) e += delta[x]! * gd[x]!;
    return Math.max(0, e);
  }

  /** Mean of HᵀH's diagonal: the scale a relative λ is measured in. */
  meanDiagonal(): number {
    let s = 0;
    for (let i = 0; i < this.m; i++) s += this.g[i * this.m + i]!;
    return s / this.m;
  }

  /**
   * Δ minimizing ‖HΔ − R‖² + λ‖Δ‖², with λ = `relativeLambda` × mean(diag HᵀH) so the option does
   * not depend on the activations' scale. Row-major m×n.
   */
  solve(relativeLambda: number): Float64Array {
    return solveRidge(this.gram(), this.cross, this.m, this.n, relativeLambda * this.meanDiagonal());
  }
}

/** Solves `(A + λI) X = B` for symmetric positive semi-definite A (m×m) and B (m×n), row-major. */
export function solveRidge(a: Float64Array, b: Float64Array, m: number, n: number, lambda: number): Float64Array {
  if (a.length !== m * m || b.length !== m * n) throw new Error(`solveRidge: A must be ${m}×${m} and B ${m}×${n}`);
  const rows: Float64Array[] = [];
  for (let i = 0; i < m; i++) {
    const r = a.slice(i * m, (i + 1) * m);
    r[i] = r[i]! + lambda;
    rows.push(r);
  }
  const chol = new CholeskyDecomposition(new Matrix(rows));
  if (!chol.isPositiveDefinite()) {
    throw new OnnxOptError('UNSUPPORTED', `the ${m}×${m} system is not positive definite (λ = ${lambda.toPrecision(3)}); raise heal-lambda`);
  }
  const rhs = new Matrix(m, n);
  for (let i = 0; i < m; i++) for (let k = 0; k < n; k++) rhs.set(i, k, b[i * n + k]!);
  const x = chol.solve(rhs);
  const out = new Float64Array(m * n);
  for (let i = 0; i < m; i++) for (let k = 0; k < n; k++) out[i * n + k] = x.get(i, k);
  return out;
}

function transpose(x: Float64Array, rows: number, cols: number): Float64Array {
  const out = new Float64Array(x.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = x[r * cols + c]!;
  return out;
}

function dot(a: Float64Array, ai: number, b: Float64Array, bi: number, len: number): number {
  let s0 = 0;
  let s1 = 0;
  let s2 = 0;
  let s3 = 0;
  let t = 0;
  for (; t + 3 < len; t += 4) {
    s0 += a[ai + t]! * b[bi + t]!;
    s1 += a[ai + t + 1]! * b[bi + t + 1]!;
    s2 += a[ai + t + 2]! * b[bi + t + 2]!;
    s3 += a[ai + t + 3]! * b[bi + t + 3]!;
  }
  for (; t < len; t++) s0 += a[ai + t]! * b[bi + t]!;
  return s0 + s1 + s2 + s3;
}

/** The four dot products of rows x[a0], x[a1] with rows y[b0], y[b1] (each `len` long), into out [00, 01, 10, 11]. */
function dot2x2(x: Float64Array, a0: number, a1: number, y: Float64Array, b0: number, b1: number, len: number, out: Float64Array): void {
  let s00 = 0;
  let s01 = 0;
  let s10 = 0;
  let s11 = 0;
  for (let t = 0; t < len; t++) {
    const x0 = x[a0 + t]!;
    const x1 = x[a1 + t]!;
    const y0 = y[b0 + t]!;
    const y1 = y[b1 + t]!;
    s00 += x0 * y0;
    s01 += x0 * y1;
    s10 += x1 * y0;
    s11 += x1 * y1;
  }
  out[0] = s00;
  out[1] = s01;
  out[2] = s10;
  out[3] = s11;
}
