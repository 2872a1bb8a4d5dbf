import { parallelWindowNote, type LayerInfo, type LayerMap } from '../analysis/layer-map.js';
import { sameStream } from '../analysis/stream-casts.js';

/** The layers of window [j, k], in order (undefined entries for unrecognized layers). */
export function windowLayers(map: LayerMap, window: readonly [number, number]): (LayerInfo | undefined)[] {
  const byIndex = new Map(map.layers.map((l) => [l.index, l]));
  const out: (LayerInfo | undefined)[] = [];
  for (let t = window[0]; t <= window[1]; t++) out.push(byIndex.get(t));
  return out;
}

/**
 * Why window [j, k] cannot be run as parallel blocks, or undefined: every layer must be a whole
 * pre-norm block (attention then FFN), each sublayer joined to the stream (by an Add or a fused
 * Skip norm), one after the other.
 */
export function windowProblem(map: LayerMap, window: readonly number[]): string | undefined {
  if (window.length !== 2) return `window [${window.join(',')}] must be [first, last]`;
  const [j, k] = window as [number, number];
  if (!(k > j)) return `window [${j},${k}] must span at least two layers`;
  const layers = windowLayers(map, [j, k]);
  for (const [at, l] of layers.entries()) {
    const t = j + at;
    if (!l) {
      const holder = map.layers.find((x) => x.span && t >= x.span[0] && t <= x.span[1]);
      if (holder?.attentions) return `${parallelWindowNote(holder)}: already parallel`;
      if (holder) return `layer ${t} is part of layers ${holder.span![0]}-${holder.span![1]}, whose FFNs are fused into one`;
      const u = map.unrecognized.find((x) => x.index === t);
      return `layer ${t} was not recognized${u ? `: ${u.reason}` : ''}`;
    }
    if (l.attentions) return `${parallelWindowNote(l)}: already parallel`;
    if (l.span) return `layer ${t} holds an FFN fused by ffn-fuse (layers ${l.span[0]}-${l.span[1]}); run block-parallel before ffn-fuse`;
    if (l.parallel) return `layer ${t} is already a parallel-residual block`;
    if (!l.attention) return `layer ${t} has no attention sublayer (removed by attn-prune?)`;
    if (!l.ffn) return `layer ${t} has no FFN sublayer`;
    if (l.ffn.postNorm) return `layer ${t}'s FFN output is normalized before the residual add: a sum of such FFNs is not one wide FFN`;
    for (const [what, sub] of [['attention', l.attention], ['FFN', l.ffn]] as const) {
      if (!sub.join) return `layer ${t}: the ${what} output is not joined to the residual stream by a node onnx-opt recognizes`;
      if (sub.join.parallel) return `layer ${t}: the ${what} output is added to a partial sum, not to the stream`;
    }
    if (l.attention.join!.stream !== l.residualIn) return `layer ${t}: the attention output is added to ${l.attention.join!.stream.name}, not to the layer's input stream`;
    // A norm fused into a Skip-norm join normalizes that join's sum, the stream by construction.
    if (!l.attention.norm.fused && !sameStream(l.attention.norm.input, l.residualIn)) return `layer ${t}: the attention norm does not read the residual stream`;
    if (!l.ffn.norm.fused && !sameStream(l.ffn.norm.input, l.residualMid)) return `layer ${t}: the FFN norm does not read the residual stream`;
    if (l.attention.sharedCacheOutputs?.length) return `layer ${t} writes a KV cache shared with other layers`;
    if (at > 0 && !sameStream(l.residualIn, layers[at - 1]!.residualOut)) return `the residual stream between layers ${t - 1} and ${t} passes through more than the residual adds`;
  }
  return undefined;
}

/** Every window of `size` consecutive layers that can be parallelized and holds no protected layer. */
export function candidateWindows(map: LayerMap, size: number, protect: ReadonlySet<number>, problem: (w: [number, number]) => string | undefined = (w) => windowProblem(map, w)): [number, number][] {
  const last = Math.max(-1, ...map.layers.map((l) => l.index), ...map.unrecognized.map((u) => u.index));
  const out: [number, number][] = [];
  for (let j = 0; j + size - 1 <= last; j++) {
    const w: [number, number] = [j, j + size - 1];
    let guarded = false;
    for (let t = w[0]; t <= w[1]; t++) if (protect.has(t)) guarded = true;
    if (!guarded && !problem(w)) out.push(w);
  }
  return out;
}

export function overlaps(a: readonly number[], b: readonly number[]): boolean {
  return a[0]! <= b[1]! && b[0]! <= a[1]!;
}
