/**
 * Numerics for comparing two models' outputs: elementwise error, cosine similarity, and
 * next-token statistics on logits (KL divergence, top-1 agreement, perplexity). All arithmetic is
 * in float64; accumulators take one batch at a time so nothing grows with the data except one
 * number per logits position (for percentiles).
 */
import type * as ort from 'onnxruntime-node';
import { OnnxOptError } from '../errors.js';

// The ORT tensor reader moved to runtime/; re-exported for verify's users.
export { toFloat64 } from '../runtime/tensor-data.js';

/** log softmax of `x[offset .. offset+n)`, into `out` (length n). */
export function logSoftmax(x: ArrayLike<number>, offset = 0, n = x.length - offset, out = new Float64Array(n)): Float64Array {
  let max = -Infinity;
  for (let i = 0; i < n; i++) max = Math.max(max, x[offset + i]!);
  let sum = 0;
  for (let i = 0; i < n; i++) sum += Math.exp(x[offset + i]! - max);
  const lse = max + Math.log(sum);
  for (let i = 0; i < n; i++) out[i] = x[offset + i]! - lse;
  return out;
}

/** KL(softmax(p) ‖ softmax(q)) for two logit vectors, from their log-softmaxes. */
export function klFromLogProbs(logP: ArrayLike<number>, logQ: ArrayLike<number>): number {
  let kl = 0;
  for (let i = 0; i < logP.length; i++) {
    const lp = logP[i]!;
    if (lp === -Infinity) continue;
    kl += Math.exp(lp) * (lp - logQ[i]!);
  }
  // Rounding can make a tiny true zero negative.
  return Math.max(0, kl);
}

/** KL(softmax(p) ‖ softmax(q)) for two logit vectors. */
export function klDivergence(pLogits: ArrayLike<number>, qLogits: ArrayLike<number>): number {
  return klFromLogProbs(logSoftmax(pLogits), logSoftmax(qLogits));
}

/** Index of the largest element (the first, on ties). */
export function argmaxOf(x: ArrayLike<number>, offset = 0, n = x.length - offset): number {
  let best = 0;
  for (let i = 1; i < n; i++) if (x[offset + i]! > x[offset + best]!) best = i;
  return best;
}

/** The p-quantile (0..1) with linear interpolation between order statistics (numpy's default). */
export function quantile(values: ArrayLike<number>, p: number): number {
  if (values.length === 0) return NaN;
  const s = Float64Array.from(values).sort();
  const at = p * (s.length - 1);
  const lo = Math.floor(at);
  const hi = Math.min(s.length - 1, lo + 1);
  return s[lo]! + (s[hi]! - s[lo]!) * (at - lo);
}

export function cosineSimilarity(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.length; i++) {
    dot += a[i]! * b[i]!;
    na += a[i]! * a[i]!;
    nb += b[i]! * b[i]!;
  }
  return cosineOf(dot, na, nb);
}

function cosineOf(dot: number, na: number, nb: number): number {
  if (na === 0 && nb === 0) return 1;
  if (na === 0 || nb === 0) return 0;
  return dot / Math.sqrt(na * nb);
}

export interface DiffMetrics {
  /** max |a − b|. */
  maxAbs: number;
  /** max |a − b| / max(|a|, relFloor). */
  maxRel: number;
  /** Cosine similarity of the two outputs flattened (over every batch). */
  cosine: number;
  elements: number;
  /** Elements where exactly one side is NaN, or where both are infinite with different signs. */
  nanMismatches: number;
}

/** Elementwise error of one output, accumulated over batches. `a` is the reference. */
export class DiffAccumulator {
  private maxAbs = 0;
  private maxRel = 0;
  private dot = 0;
  private na = 0;
  private nb = 0;
  private n = 0;
  private nan = 0;

  /** `relFloor` keeps near-zero reference elements from dominating the relative error (default 1e-3). */
  constructor(private readonly relFloor = 1e-3) {}

  add(a: ArrayLike<number>, b: ArrayLike<number>): void {
    if (a.length !== b.length) throw new OnnxOptError('VERIFY', `cannot compare ${a.length} elements with ${b.length}`);
    for (let i = 0; i < a.length; i++) {
      const x = a[i]!;
      const y = b[i]!;
      if (Number.isNaN(x) || Number.isNaN(y)) {
        if (Number.isNaN(x) !== Number.isNaN(y)) this.nan++;
        continue;
      }
      if (!Number.isFinite(x) || !Number.isFinite(y)) {
        if (x !== y) this.nan++;
        continue;
      }
      const d = Math.abs(x - y);
      if (d > this.maxAbs) this.maxAbs = d;
      const r = d / Math.max(Math.abs(x), this.relFloor);
      if (r > this.maxRel) this.maxRel = r;
      this.dot += x * y;
      this.na += x * x;
      this.nb += y * y;
    }
    this.n += a.length;
  }

  result(): DiffMetrics {
    return { maxAbs: this.maxAbs, maxRel: this.maxRel, cosine: cosineOf(this.dot, this.na, this.nb), elements: this.n, nanMismatches: this.nan };
  }
}

export interface LogitsMetrics {
  /** Positions compared (padding excluded). */
  positions: number;
  /** KL(a ‖ b) of next-token distributions over positions. */
  klMean: number;
  klP95: number;
  klMax: number;
  /** Fraction of positions where both models' most likely next token is the same. */
  top1: number;
  /** Next-token predictions scored (positions with a known next token). */
  scoredTokens: number;
  /** exp(mean next-token NLL) of each model on the tokens; undefined without tokens. */
  perplexityA: number | undefined;
  perplexityB: number | undefined;
  /** perplexityB / perplexityA. */
  perplexityRatio: number | undefined;
}

/**
 * Next-token statistics of two models' logits ([B, S, V]) over batches. `mask` ([B, ≥S], 1 =
 * real token; its last S columns line up with the logits) excludes padding; `ids` ([B, S], the
 * tokens the logits were computed on) gives perplexity: position t predicts ids[b][t+1].
 */
export class LogitsAccumulator {
  private kls: number[] = [];
  private agree = 0;
  private nllA = 0;
  private nllB = 0;
  private scored = 0;

  add(a: ArrayLike<number>, b: ArrayLike<number>, dims: readonly number[], tokens: { ids?: readonly (readonly number[])[]; mask?: readonly (readonly number[])[] } = {}): void {
    const V = dims[dims.length - 1]!;
    const S = dims.length >= 3 ? dims[dims.length - 2]! : 1;
    const B = dims.length >= 3 ? dims.slice(0, -2).reduce((x, y) => x * y, 1) : dims.length === 2 ? dims[0]! : 1;
    if (a.length !== B * S * V || b.length !== a.length) throw new OnnxOptError('VERIFY', `logits of [${dims.join(',')}] do not match their data`);
    const la = new Float64Array(V);
    const lb = new Float64Array(V);
    const { ids, mask } = tokens;
    for (let r = 0; r < B; r++) {
      const m = mask?.[r];
      const shift = m ? m.length - S : 0;
      const idRow = ids?.[r]?.length === S ? ids[r] : undefined;
      for (let t = 0; t < S; t++) {
        if (m && !m[shift + t]) continue;
        const off = (r * S + t) * V;
        logSoftmax(a, off, V, la);
        logSoftmax(b, off, V, lb);
        this.kls.push(klFromLogProbs(la, lb));
        if (argmaxOf(a, off, V) === argmaxOf(b, off, V)) this.agree++;
        if (idRow && t + 1 < S && (!m || m[shift + t + 1])) {
          const next = idRow[t + 1]!;
          if (next >= 0 && next < V) {
            this.nllA -= la[next]!;
            this.nllB -= lb[next]!;
            this.scored++;
          }
        }
      }
    }
  }

  result(): LogitsMetrics {
    const n = this.kls.length;
    let sum = 0;
    let max = 0;
    for (const k of this.kls) {
      sum += k;
      if (k > max) max = k;
    }
    const pA = this.scored ? Math.exp(this.nllA / this.scored) : undefined;
    const pB = this.scored ? Math.exp(this.nllB / this.scored) : undefined;
    return {
      positions: n,
      klMean: n ? sum / n : 0,
      klP95: n ? quantile(this.kls, 0.95) : 0,
      klMax: max,
      top1: n ? this.agree / n : 1,
      scoredTokens: this.scored,
      perplexityA: pA,
      perplexityB: pB,
      perplexityRatio: pA !== undefined && pB !== undefined ? pB / pA : undefined,
    };
  }
}

/** Perplexity of one model's logits ([B, S, V]) on `ids`: exp(mean −log p(ids[t+1] | ≤ t)). */
export function perplexity(logits: ArrayLike<number>, dims: readonly number[], ids: readonly (readonly number[])[]): number {
  const V = dims[dims.length - 1]!;
  const S = dims[dims.length - 2]!;
  const lp = new Float64Array(V);
  let nll = 0;
  let n = 0;
  ids.forEach((row, r) => {
    for (let t = 0; t + 1 < S; t++) {
      logSoftmax(logits, (r * S + t) * V, V, lp);
      nll -= lp[row[t + 1]!]!;
      n++;
    }
  });
  return Math.exp(nll / n);
}
