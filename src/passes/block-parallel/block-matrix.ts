import { cloneModel } from '../../ir/clone.js';
import type { Model } from '../../ir/model.js';
import { concatRows, realTokenRows, runTrials, type CalibrationMode, type CalibrationStats } from '../measure/index.js';
import type { LayerMap } from '../analysis/layer-map.js';
import { cosineDistance, type DependencyMatrix } from '../ffn-fusion/dependency-matrix.js';
import { bypassSublayer, joinIn } from '../rewrite/residual-join.js';

export interface BlockMatrixOptions {
  sequences: readonly (readonly number[])[];
  batchSize?: number;
  threads?: number;
  calibration?: CalibrationMode;
  stats?: CalibrationStats;
}

/**
 * The paper's block dependency matrix (App. B): `M_ij = cosine_distance(h_j(X), h_j(X | block i
 * removed))` with h_j the whole block's contribution to the stream, `Attn_j + FFN_j`, mean over
 * calibration tokens, for i < j inside one of `windows`. One baseline run and one run per removed
 * block (each probing every h_j it can affect).
 */
export async function blockMatrix(model: Model, map: LayerMap, windows: readonly (readonly [number, number])[], o: BlockMatrixOptions): Promise<DependencyMatrix> {
  const layers = [...new Set(windows.flatMap(([j, k]) => range(j, k)))].sort((a, b) => a - b);
  const at = new Map(layers.map((l, i) => [l, i]));
  const values: (number | null)[][] = layers.map(() => layers.map(() => null));
  const info = (l: number) => map.layers.find((x) => x.index === l)!;
  const parts = (l: number) => [info(l).attention!.output.name, info(l).ffn!.output.name];
  const downstream = new Map<number, Set<number>>();
  for (const [j, k] of windows) for (let i = j; i < k; i++) for (let t = i + 1; t <= k; t++) (downstream.get(i) ?? downstream.set(i, new Set()).get(i)!).add(t);
  const removals = [...downstream].map(([i, ts]) => ({ i, downstream: [...ts].sort((a, b) => a - b) }));
  const trials = [
    { model, wanted: layers.flatMap(parts) },
    ...removals.map(({ i, downstream: ts }) => ({ model: withoutBlock(model, map, i), wanted: ts.flatMap(parts) })),
  ];
  // Per trial and probe: the real tokens' rows of each batch, in batch order.
  const chunks = trials.map((t) => new Map(t.wanted.map((n) => [n, [] as Float64Array[]])));
  let positions = 0;
  await runTrials(trials, o.sequences, { batchSize: o.batchSize ?? 8, threads: o.threads, calibration: o.calibration, stats: o.stats, map }, (t, batch, name, value) => {
    const { rows, count } = realTokenRows(batch.mask, value);
    chunks[t]!.get(name)![batch.index] = rows;
    if (t === 0 && name === trials[0]!.wanted[0]) positions += count;
  });
  const contribution = (t: number, l: number) => {
    const [a, f] = parts(l).map((n) => concatRows(chunks[t]!.get(n)!));
    for (let p = 0; p < a!.length; p++) a![p] = a![p]! + f![p]!;
    return a!;
  };
  removals.forEach(({ i, downstream: ts }, r) => {
    for (const t of ts) values[at.get(i)!]![at.get(t)!] = cosineDistance(contribution(0, t), contribution(r + 1, t), positions);
  });
  return { layers, values, evaluations: trials.length };
}

/** A clone without block i: both of its joins add zeros (`x − x`; a fused join's bias goes too), so every value keeps its name. */
export function withoutBlock(model: Model, map: LayerMap, i: number): Model {
  const copy = cloneModel(model);
  const layer = map.layers.find((x) => x.index === i)!;
  // Both joins are found in the copy before either edit.
  const joins = [layer.attention!.join!, layer.ffn!.join!].map((j) => joinIn(copy, model, j));
  for (const join of joins) bypassSublayer(copy, join, { keepJoin: true, name: `block_${i}_removed`, rule: 'block-parallel' });
  return copy;
}

export interface WindowScore {
  window: [number, number];
  mMax: number;
  mSum: number;
}

/** M_max and M_sum over the pairs i < j of each window. */
export function scoreWindows(m: DependencyMatrix, windows: readonly [number, number][]): WindowScore[] {
  const at = new Map(m.layers.map((l, i) => [l, i]));
  return windows.map(([j, k]) => {
    let mMax = 0;
    let mSum = 0;
    for (let i = j; i < k; i++) {
      for (let t = i + 1; t <= k; t++) {
        const v = m.values[at.get(i)!]?.[at.get(t)!] ?? Infinity;
        mMax = Math.max(mMax, v);
        mSum += v;
      }
    }
    return { window: [j, k], mMax, mSum };
  });
}

/** Greedy by lowest M_max (ties by M_sum), dropping windows that overlap a chosen one. */
export function selectWindows(scores: readonly WindowScore[], count: number): WindowScore[] {
  const ranked = [...scores].sort((a, b) => a.mMax - b.mMax || a.mSum - b.mSum || a.window[0] - b.window[0]);
  const chosen: WindowScore[] = [];
  for (const s of ranked) {
    if (chosen.length >= count) break;
    if (chosen.some((c) => c.window[0] <= s.window[1] && s.window[0] <= c.window[1])) continue;
    chosen.push(s);
  }
  return chosen;
}

function range(j: number, k: number): number[] {
  return Array.from({ length: k - j + 1 }, (_, i) => j + i);
}
