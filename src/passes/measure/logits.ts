import type * as ort from 'onnxruntime-node';
import { decoderSignature } from '../../ir/decoder-signature.js';
import type { Model } from '../../ir/model.js';
import { toFloat64 } from '../../runtime/tensor-data.js';
import { runTrials, type CalibrationMode, type CalibrationStats } from './trials.js';

export interface LogitsOptions {
  sequences: readonly (readonly number[])[];
  /** Sequences per run (default 8). */
  batchSize?: number;
  threads?: number;
  calibration?: CalibrationMode;
  /** Accumulates the compute spent. */
  stats?: CalibrationStats;
}

/** Last-position-per-token next-token log-probabilities of a model over the calibration data. */
export async function logitsOf(model: Model, options: LogitsOptions): Promise<Float64Array[]> {
  const out: Float64Array[][] = [];
  const o = { batchSize: options.batchSize ?? 8, threads: options.threads, calibration: options.calibration, stats: options.stats };
  await runTrials([{ model, wanted: [decoderSignature(model).logits] }], options.sequences, o, (_, batch, __, logits) => {
    out[batch.index] = logProbRows(logits, batch.mask);
  });
  return out.flat();
}

/** One log-softmax row per real position of a [B, S, V] logits tensor, in order. */
export function logProbRows(logits: ort.Tensor, mask: readonly (readonly number[])[]): Float64Array[] {
  const data = toFloat64(logits);
  const vocab = logits.dims[logits.dims.length - 1]!;
  const rows: Float64Array[] = [];
  mask.flat().forEach((m, p) => {
    if (m) rows.push(logSoftmaxRow(data, p * vocab, vocab));
  });
  return rows;
}

function logSoftmaxRow(x: Float64Array, off: number, n: number): Float64Array {
  let max = -Infinity;
  for (let i = 0; i < n; i++) max = Math.max(max, x[off + i]!);
  let sum = 0;
  for (let i = 0; i < n; i++) sum += Math.exp(x[off + i]! - max);
  const lse = max + Math.log(sum);
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = x[off + i]! - lse;
  return out;
}

/** Mean KL(p ‖ q) over positions, from log-probabilities. */
export function meanKl(p: Float64Array[], q: Float64Array[]): number {
  return p.length ? sumKl(p, q) / p.length : 0;
}

/** Σ over positions of KL(p ‖ q), from log-probabilities. */
export function sumKl(p: readonly Float64Array[], q: readonly Float64Array[]): number {
  let total = 0;
  for (let k = 0; k < p.length; k++) {
    const a = p[k]!;
    const b = q[k]!;
    let kl = 0;
    for (let i = 0; i < a.length; i++) kl += Math.exp(a[i]!) * (a[i]! - b[i]!);
    total += kl;
  }
  return total;
}
