import type { Model } from '../../ir/model.js';
import { cloneModel } from '../../ir/clone.js';
import { decoderSignature } from '../../ir/decoder-signature.js';
import { concatRows, realTokenRows, runTrials, tokenBatches, type CalibrationMode, type CalibrationStats } from '../measure/index.js';
import type { LayerMap } from '../analysis/layer-map.js';
import { bypassSublayer, joinIn } from '../rewrite/residual-join.js';

/** M[i][j] for the layers of the candidate runs; null where undefined (j ≤ i, or another run). */
export interface DependencyMatrix {
  layers: number[];
  values: (number | null)[][];
  /** Model evaluations spent: n + 1 for n FFNs with a downstream FFN in their run. */
  evaluations: number;
}

export interface MatrixOptions {
  sequences: readonly (readonly number[])[];
  batchSize?: number;
  threads?: number;
  /** `blockwise` (default): removal trials re-run only the layers after the removed FFN; `whole`: one session per model. */
  calibration?: CalibrationMode;
  /** Accumulates the compute spent (forward passes of the model over the calibration tokens). */
  stats?: CalibrationStats;
  onEvaluation?: (done: number, total: number) => void;
}

/**
 * The paper's dependency matrix: `M_ij = cosine_distance(h_j(X), h_j(X | FFN i removed))`, mean over
 * calibration tokens, for i < j in the same run. One baseline run probes every h_j; each removal
 * run probes every h_j downstream of the removed FFN: n + 1 evaluations, never n². Block-wise, a
 * removal run starts at the removed FFN's layer (the prefix is the baseline's), so the n removal
 * runs cost about half a model each.
 */
export async function dependencyMatrix(model: Model, map: LayerMap, runs: readonly number[][], o: MatrixOptions): Promise<DependencyMatrix> {
  const layers = runs.flat();
  const at = new Map(layers.map((l, i) => [l, i]));
  const values: (number | null)[][] = layers.map(() => layers.map(() => null));
  const outputName = (l: number) => map.layers.find((x) => x.index === l)!.ffn!.output.name;
  const removals = runs.flatMap((r) => r.slice(0, -1).map((i) => ({ i, downstream: r.filter((j) => j > i) })));
  const total = removals.length + 1;
  const trials = [
    { model, wanted: layers.map(outputName) },
    ...removals.map(({ i, downstream }) => ({ model: withoutFfn(model, map, i), wanted: downstream.map(outputName) })),
  ];
  // Per trial and probe: the real tokens' rows of each batch, in batch order.
  const chunks = trials.map((t) => new Map(t.wanted.map((n) => [n, [] as Float64Array[]])));
  const delivered = trials.map(() => 0);
  let positions = 0;
  const nBatches = [...tokenBatchesOf(model, o)].length;
  let done = 0;
  await runTrials(trials, o.sequences, { batchSize: o.batchSize ?? 8, threads: o.threads, calibration: o.calibration, stats: o.stats }, (t, batch, name, value) => {
    const { rows, count } = realTokenRows(batch.mask, value);
    chunks[t]!.get(name)![batch.index] = rows;
    if (t === 0 && name === trials[0]!.wanted[0]) positions += count;
    if (++delivered[t]! === nBatches * trials[t]!.wanted.length) o.onEvaluation?.(++done, total);
  });
  const baseline = new Map([...chunks[0]!].map(([n, c]) => [n, concatRows(c)]));
  removals.forEach(({ i, downstream }, k) => {
    downstream.forEach((j) => {
      const name = outputName(j);
      values[at.get(i)!]![at.get(j)!] = cosineDistance(baseline.get(name)!, concatRows(chunks[k + 1]!.get(name)!), positions);
    });
  });
  return { layers, values, evaluations: total };
}

/**
 * A clone of `model` without FFN i: its residual join adds zeros instead (`x − x`, exact; a fused
 * join's bias, which belongs to the FFN, goes too), so the stream passes through and every value
 * keeps its name, and the FFN's nodes fall out as dead code.
 */
export function withoutFfn(model: Model, map: LayerMap, i: number): Model {
  const copy = cloneModel(model);
  const layer = map.layers.find((x) => x.index === i)!;
  bypassSublayer(copy, joinIn(copy, model, layer.ffn!.join!), { keepJoin: true, name: 'ffn_removed' });
  return copy;
}

function* tokenBatchesOf(model: Model, o: MatrixOptions): Generator<number[][]> {
  yield* tokenBatches(o.sequences, o.batchSize ?? 8, { equalLength: !decoderSignature(model).attentionMask });
}

/** Mean over tokens of 1 − cos(a_t, b_t). */
export function cosineDistance(a: Float64Array, b: Float64Array, positions: number): number {
  const h = a.length / positions;
  let total = 0;
  for (let p = 0; p < positions; p++) {
    let dot = 0;
    let na = 0;
    let nb = 0;
    for (let i = p * h; i < (p + 1) * h; i++) {
      dot += a[i]! * b[i]!;
      na += a[i]! * a[i]!;
      nb += b[i]! * b[i]!;
    }
    total += na > 0 && nb > 0 ? 1 - dot / Math.sqrt(na * nb) : na === nb ? 0 : 1;
  }
  return positions ? total / positions : 0;
}
