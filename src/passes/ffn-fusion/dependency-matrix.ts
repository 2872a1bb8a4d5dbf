import type { Model } from '../../ir/model.js';
import { runCalibration } from '../../runtime/calibration/index.js';
import { copyModel } from '../../runtime/probes.js';
import { toFloat64 } from '../../verify/metrics.js';
import { analyzeDecoder } from '../analysis/analyze-decoder.js';
import type { LayerMap } from '../analysis/layer-map.js';

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
  onEvaluation?: (done: number, total: number) => void;
}

/**
 * The paper's dependency matrix: `M_ij = cosine_distance(h_j(X), h_j(X | FFN i removed))`, mean over
 * calibration tokens, for i < j in the same run. One baseline run probes every h_j; each removal
 * run probes every h_j downstream of the removed FFN: n + 1 evaluations, never n².
 */
export async function dependencyMatrix(model: Model, map: LayerMap, runs: readonly number[][], o: MatrixOptions): Promise<DependencyMatrix> {
  const layers = runs.flat();
  const at = new Map(layers.map((l, i) => [l, i]));
  const values: (number | null)[][] = layers.map(() => layers.map(() => null));
  const outputName = (m: LayerMap, l: number) => m.layers.find((x) => x.index === l)!.ffn!.output.name;
  const removals = runs.flatMap((r) => r.slice(0, -1).map((i) => ({ i, downstream: r.filter((j) => j > i) })));
  const total = removals.length + 1;
  const baseline = await probeFfns(model, layers.map((l) => outputName(map, l)), o);
  o.onEvaluation?.(1, total);
  let done = 1;
  for (const { i, downstream } of removals) {
    const copy = copyModel(model);
    const cmap = analyzeDecoder(copy);
    const layer = cmap.layers.find((x) => x.index === i)!;
    // FFN i removed: its residual add passes the stream through.
    const join = layer.ffn!.residualAdd!;
    const g = copy.graph;
    if (join.opType === 'Add') g.replaceAllUsesWith(join.output(0), join.inputs[0] === layer.ffn!.output ? join.inputs[1]! : join.inputs[0]!);
    else {
      const ffnAt = join.inputs[0] === layer.ffn!.output ? 0 : 1;
      // A fused Skip norm adds 0 instead: the FFN output is replaced by zeros of its shape.
      const zero = g.addNode({ opType: 'Sub', inputs: [layer.ffn!.output, layer.ffn!.output], outputs: ['ffn_removed_zero'], before: join });
      join.setInput(ffnAt, zero.output(0));
    }
    const names = downstream.map((j) => outputName(cmap, j));
    const probed = await probeFfns(copy, names, o);
    downstream.forEach((j, k) => {
      values[at.get(i)!]![at.get(j)!] = cosineDistance(baseline[layers.indexOf(j)]!, probed[k]!, baseline.positions);
    });
    done++;
    o.onEvaluation?.(done, total);
  }
  return { layers, values, evaluations: total };
}

interface Probed extends Array<Float64Array> {
  positions?: number;
}

async function probeFfns(model: Model, names: string[], o: MatrixOptions): Promise<Probed & { positions: number }> {
  const chunks: Float64Array[][] = names.map(() => []);
  let positions = 0;
  await runCalibration(model, o.sequences, { batchSize: o.batchSize ?? 8, probes: names, threads: o.threads }, ({ outputs, mask }) => {
    const flat = mask.flat();
    names.forEach((n, k) => {
      const data = toFloat64(outputs[n]!);
      const h = data.length / flat.length;
      // Keep real tokens only, in order.
      const kept = new Float64Array(flat.filter((m) => m).length * h);
      let w = 0;
      flat.forEach((m, p) => {
        if (m) kept.set(data.subarray(p * h, (p + 1) * h), (w++) * h);
      });
      chunks[k]!.push(kept);
    });
    positions += flat.filter((m) => m).length;
  });
  const out = chunks.map((c) => concat(c)) as Probed & { positions: number };
  out.positions = positions;
  return out;
}

function concat(parts: Float64Array[]): Float64Array {
  const out = new Float64Array(parts.reduce((s, p) => s + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
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
