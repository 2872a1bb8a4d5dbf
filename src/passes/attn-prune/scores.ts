import type * as ort from 'onnxruntime-node';
import type { Model } from '../../ir/model.js';
import { runCalibration } from '../../runtime/calibration/index.js';
import { copyModel } from '../../runtime/probes.js';
import { toFloat64 } from '../../verify/metrics.js';
import { analyzeDecoder } from '../analysis/analyze-decoder.js';
import type { LayerMap } from '../analysis/layer-map.js';
import { removeAttention } from './remove-attention.js';

export type ScoreMethod = 'cosine' | 'kl' | 'greedy-kl';

export interface LayerScore {
  layer: number;
  score: number;
}

export interface ScoreOptions {
  sequences: readonly (readonly number[])[];
  batchSize?: number;
  threads?: number;
  /** Called after each model evaluation (progress). */
  onEvaluation?: (done: number, total: number) => void;
}

/**
 * LLM-Drop's cosine redundancy `1 − cos(x_in, x_in + a_i)`, averaged over calibration tokens, for
 * every attention sublayer, from one probed forward pass over the calibration data.
 */
export async function cosineScores(model: Model, map: LayerMap, options: ScoreOptions): Promise<LayerScore[]> {
  const layers = map.layers.filter((l) => l.attention);
  const probes = layers.flatMap((l) => [l.residualIn.name, l.attention!.output.name]);
  const sums = new Float64Array(layers.length);
  let tokens = 0;
  await runCalibration(model, options.sequences, { batchSize: options.batchSize ?? 8, probes, threads: options.threads }, ({ outputs, mask }) => {
    const positions = mask.flat();
    layers.forEach((l, k) => {
      const x = toFloat64(outputs[l.residualIn.name]!);
      const a = toFloat64(outputs[l.attention!.output.name]!);
      const h = x.length / positions.length;
      positions.forEach((m, p) => {
        if (!m) return;
        let dot = 0;
        let nx = 0;
        let ny = 0;
        for (let i = p * h; i < (p + 1) * h; i++) {
          const y = x[i]! + a[i]!;
          dot += x[i]! * y;
          nx += x[i]! * x[i]!;
          ny += y * y;
        }
        const cos = nx > 0 && ny > 0 ? dot / Math.sqrt(nx * ny) : 1;
        sums[k] = sums[k]! + (1 - cos);
      });
    });
    tokens += positions.filter((m) => m).length;
  });
  options.onEvaluation?.(1, 1);
  return layers.map((l, k) => ({ layer: l.index, score: tokens ? sums[k]! / tokens : 0 }));
}

/** Last-position-per-token next-token log-probabilities of a model over the calibration data. */
export async function logitsOf(model: Model, options: ScoreOptions): Promise<Float64Array[]> {
  const out: Float64Array[] = [];
  await runCalibration(model, options.sequences, { batchSize: options.batchSize ?? 8, threads: options.threads }, ({ outputs, mask }) => {
    const logits = firstLogits(outputs);
    const data = toFloat64(logits);
    const vocab = logits.dims[logits.dims.length - 1]!;
    mask.flat().forEach((m, p) => {
      if (m) out.push(logSoftmaxRow(data, p * vocab, vocab));
    });
  });
  return out;
}

function firstLogits(outputs: Record<string, ort.Tensor>): ort.Tensor {
  return outputs.logits ?? Object.values(outputs)[0]!;
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
  let total = 0;
  for (let k = 0; k < p.length; k++) {
    const a = p[k]!;
    const b = q[k]!;
    let kl = 0;
    for (let i = 0; i < a.length; i++) kl += Math.exp(a[i]!) * (a[i]! - b[i]!);
    total += kl;
  }
  return p.length ? total / p.length : 0;
}

/** A copy of `model` with the attention of `layers` removed (layer indices as in the LayerMap). */
export function withoutAttention(model: Model, layers: readonly number[], keepCacheIo = false): Model {
  const copy = copyModel(model);
  for (const i of layers) {
    const map = analyzeDecoder(copy);
    const layer = map.layers.find((l) => l.index === i);
    if (layer?.attention) removeAttention(copy, layer, { keepCacheIo });
  }
  return copy;
}

/**
 * KL of the final next-token distribution with sublayer i removed, against the original: one
 * run per layer plus the baseline. With `alreadyRemoved`, scores are relative to the original
 * with those layers gone too (greedy re-scoring).
 */
export async function klScores(
  model: Model,
  candidates: readonly number[],
  options: ScoreOptions & { baseline?: Float64Array[]; alreadyRemoved?: readonly number[] },
): Promise<{ scores: LayerScore[]; baseline: Float64Array[]; evaluations: number }> {
  const baseline = options.baseline ?? (await logitsOf(model, options));
  let evaluations = options.baseline ? 0 : 1;
  const scores: LayerScore[] = [];
  for (const i of candidates) {
    const variant = withoutAttention(model, [...(options.alreadyRemoved ?? []), i]);
    scores.push({ layer: i, score: meanKl(baseline, await logitsOf(variant, options)) });
    evaluations++;
    options.onEvaluation?.(scores.length, candidates.length);
  }
  return { scores, baseline, evaluations };
}
