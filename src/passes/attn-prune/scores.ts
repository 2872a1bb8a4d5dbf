import type * as ort from 'onnxruntime-node';
import { cloneModel } from '../../ir/clone.js';
import { decoderSignature } from '../../ir/decoder-signature.js';
import type { Model } from '../../ir/model.js';
import { logProbRows, runTrials, sumKl, toFloat64, tokenBatches, type CalibrationMode, type CalibrationStats, type TrialRunOptions } from '../measure/index.js';
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
  /** `blockwise` (default): one decoder layer at a time, removal trials re-run only what follows the change; `whole`: one session per model. */
  calibration?: CalibrationMode;
  /** Accumulates the compute spent (forward passes of the model over the calibration tokens). */
  stats?: CalibrationStats;
  /** Called after each model evaluation (progress). */
  onEvaluation?: (done: number, total: number) => void;
}

/**
 * LLM-Drop's cosine redundancy `1 − cos(x_in, x_in + a_i)`, averaged over calibration tokens, for
 * every attention sublayer, from one probed forward pass over the calibration data.
 */
export async function cosineScores(model: Model, map: LayerMap, options: ScoreOptions): Promise<LayerScore[]> {
  const layers = map.layers.filter((l) => l.attention);
  const pairs = layers.map((l) => [l.residualIn.name, l.attention!.output.name] as const);
  const sums = new Float64Array(layers.length);
  let tokens = 0;
  // Values of a batch arrive one slice at a time; a layer is scored once both of its are in.
  const pending = new Map<number, { values: Map<string, ort.Tensor>; done: Set<number> }>();
  await runTrials([{ model, wanted: [...new Set(pairs.flat())] }], options.sequences, trialOptions(options), (_, batch, name, value) => {
    let p = pending.get(batch.index);
    if (!p) {
      pending.set(batch.index, (p = { values: new Map(), done: new Set() }));
      tokens += batch.mask.flat().filter((m) => m).length;
    }
    p.values.set(name, value);
    const positions = batch.mask.flat();
    pairs.forEach(([xn, an], k) => {
      if (p.done.has(k) || !p.values.has(xn) || !p.values.has(an)) return;
      p.done.add(k);
      sums[k] = sums[k]! + cosineRedundancy(toFloat64(p.values.get(xn)!), toFloat64(p.values.get(an)!), positions);
    });
    for (const n of [...p.values.keys()]) if (pairs.every(([xn, an], k) => p.done.has(k) || (xn !== n && an !== n))) p.values.delete(n);
    if (p.done.size === pairs.length) pending.delete(batch.index);
  });
  options.onEvaluation?.(1, 1);
  return layers.map((l, k) => ({ layer: l.index, score: tokens ? sums[k]! / tokens : 0 }));
}

/** Σ over real positions of 1 − cos(x, x + a). */
function cosineRedundancy(x: Float64Array, a: Float64Array, positions: readonly number[]): number {
  const h = x.length / positions.length;
  let sum = 0;
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
    sum += 1 - cos;
  });
  return sum;
}

function trialOptions(o: ScoreOptions): TrialRunOptions {
  return { batchSize: o.batchSize ?? 8, threads: o.threads, calibration: o.calibration, stats: o.stats };
}

// Logits and KL are shared by every pass that measures; re-exported for scores' users.
export { logitsOf, meanKl } from '../measure/logits.js';

/** A copy of `model` with the attention of `layers` removed (layer indices as in the LayerMap). */
export function withoutAttention(model: Model, layers: readonly number[], keepCacheIo = false): Model {
  const copy = cloneModel(model);
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
 * with those layers gone too (greedy re-scoring). Block-wise, every trial re-runs only the layers
 * from its removal on, and shares the slices after it with the other trials' sessions.
 */
export async function klScores(
  model: Model,
  candidates: readonly number[],
  options: ScoreOptions & { baseline?: Float64Array[]; alreadyRemoved?: readonly number[] },
): Promise<{ scores: LayerScore[]; baseline: Float64Array[]; evaluations: number }> {
  const logits = decoderSignature(model).logits;
  const already = options.alreadyRemoved ?? [];
  // The reference the trials differ from: the model with the already removed layers gone.
  const reference = already.length ? withoutAttention(model, already) : model;
  const trials: { model: Model; wanted: string[] }[] = [{ model: reference, wanted: options.baseline || already.length ? [] : [logits] }];
  let originalTrial = options.baseline ? -1 : 0;
  if (!options.baseline && already.length) {
    originalTrial = trials.length;
    trials.push({ model, wanted: [logits] });
  }
  const first = trials.length;
  for (const i of candidates) trials.push({ model: withoutAttention(model, [...already, i]), wanted: [logits] });

  const baselineBatches: Float64Array[][] = [];
  const waiting = new Map<number, { trial: number; rows: Float64Array[] }[]>();
  const kl = new Float64Array(candidates.length);
  let positions = 0;
  const remaining = new Map<number, number>();
  let done = 0;
  let batches = 0;
  const add = (trial: number, batch: number, rows: Float64Array[]) => {
    const base = options.baseline ? undefined : baselineBatches[batch];
    const ref = base ?? (options.baseline ? baselineRowsOf(options.baseline, batch) : undefined);
    if (!ref) {
      const w = waiting.get(batch) ?? [];
      w.push({ trial, rows });
      waiting.set(batch, w);
      return;
    }
    kl[trial - first] = kl[trial - first]! + sumKl(ref, rows);
    const left = (remaining.get(trial) ?? batches) - 1;
    remaining.set(trial, left);
    if (left === 0) options.onEvaluation?.(++done, candidates.length);
  };
  // With a given baseline, rows are located by position: each batch's offset into it.
  const offsets: number[] = [];
  const baselineRowsOf = (b: Float64Array[], batch: number) => (offsets[batch] !== undefined ? b.slice(offsets[batch], offsets[batch]! + batchRows[batch]!) : undefined);
  const batchRows: number[] = [];
  const seqBatches = [...tokenBatches(options.sequences, options.batchSize ?? 8, { equalLength: !decoderSignature(model).attentionMask })];
  batches = seqBatches.length;
  let at = 0;
  seqBatches.forEach((b, k) => {
    offsets[k] = at;
    batchRows[k] = b.reduce((n, r) => n + r.length, 0);
    at += batchRows[k]!;
  });
  await runTrials(trials, options.sequences, trialOptions(options), (trial, batch, _, value) => {
    const rows = logProbRows(value, batch.mask);
    if (trial === originalTrial) {
      baselineBatches[batch.index] = rows;
      positions += rows.length;
      for (const w of waiting.get(batch.index) ?? []) add(w.trial, batch.index, w.rows);
      waiting.delete(batch.index);
    } else if (trial >= first) add(trial, batch.index, rows);
  });
  const baseline = options.baseline ?? baselineBatches.flat();
  const n = options.baseline ? options.baseline.length : positions;
  const scores = candidates.map((layer, k) => ({ layer, score: n ? kl[k]! / n : 0 }));
  return { scores, baseline, evaluations: candidates.length + (options.baseline ? 0 : 1) };
}
