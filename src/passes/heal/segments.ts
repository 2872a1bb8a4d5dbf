import { hasAttention, parallelWindowNote, type LayerInfo, type LayerMap, type WeightRef } from '../analysis/layer-map.js';
import { sameStream } from '../analysis/stream-casts.js';
import type { Value } from '../../ir/value.js';

/**
 * Where the current model differs from its reference, as healing sees it. Both are walked as a
 * chain of sublayers over the residual stream; each of the current model's sublayers starts and
 * ends at a point of the reference's stream. A sublayer is changed when it is a fusion the
 * reference does not have, or when the next sublayer does not start where it ends (sublayers were
 * removed in between). Healing refits its last linear map so that the stream after it matches the
 * reference's stream where the next sublayer starts.
 */
export interface HealSegment {
  /** `fused-ffn`: a fused FFN; `removed-attention`: the sublayer just before removed attention(s). */
  kind: 'fused-ffn' | 'removed-attention';
  /** The sublayer refitted: its layer (first of a span) and which part. */
  layer: number;
  part: 'ffn' | 'attention';
  /** The original layers this sublayer covers ([first, last]; one layer unless fused). */
  span: [number, number];
  /** Layers whose attention the reference has and the current model lacks right after this sublayer. */
  removedAttention: number[];
  /** The reference's stream value the healed stream must match (the next sublayer's start). */
  target: Value;
  /** The initializer of the projection that would be refitted, when there is one. */
  projection?: string;
  /** Why this segment cannot be healed (left alone and reported), or undefined. */
  problem?: string;
}

/** The refit's graph handles in the current model. */
export interface SegmentSite {
  /** The projection refitted (the FFN's down projection or the attention's o_proj). */
  projection: WeightRef & { kind: 'matmul' };
  /** Its input: the H of the least-squares fit. */
  input: Value;
  /** The residual stream before the sublayer's add, and what the sublayer adds. */
  streamBefore: Value;
  increment: Value;
  /** The increment is `scale · projection(H)` (Granite's residual multiplier); 1 otherwise. */
  scale: number;
}

interface Sublayer {
  layer: LayerInfo;
  part: 'ffn' | 'attention';
  span: [number, number];
  start: Value;
  end: Value;
  fused: boolean;
}

/**
 * The changed segments in stream order, or a reason the two maps cannot be compared (then
 * nothing is healed).
 */
export function changedSegments(reference: LayerMap, current: LayerMap): HealSegment[] | string {
  if (reference.unrecognized.length || current.unrecognized.length) return 'some decoder layers are not recognized, so the models cannot be matched layer by layer';
  const byIndex = new Map(reference.layers.map((l) => [l.index, l]));
  const ref = (i: number) => byIndex.get(i);
  const chain: Sublayer[] = [];
  for (const l of current.layers) {
    const last = l.span?.[1] ?? l.index;
    const first = ref(l.index);
    const end = ref(last);
    if (!first || !end) return `layer ${l.index} of the optimized model has no counterpart in the reference`;
    if (l.parallel || first.parallel) {
      chain.push({ layer: l, part: 'ffn', span: [l.index, last], start: first.residualIn, end: end.residualOut, fused: false });
      continue;
    }
    if (hasAttention(l)) chain.push({ layer: l, part: 'attention', span: [l.index, l.index], start: first.residualIn, end: first.residualMid, fused: false });
    if (l.ffn) {
      const refSpan = first.span?.[1] ?? first.index;
      chain.push({ layer: l, part: 'ffn', span: [l.index, last], start: first.residualMid, end: end.residualOut, fused: refSpan !== last });
    }
  }
  const refLast = reference.layers[reference.layers.length - 1];
  const segments: HealSegment[] = [];
  chain.forEach((s, k) => {
    const next = chain[k + 1];
    const target = next ? next.start : refLast!.residualOut;
    if (!s.fused && sameStream(target, s.end)) return;
    const nextLayer = next ? next.span[0] : Infinity;
    const removedAttention = reference.layers
      .filter((r) => r.attention && r.index > s.span[1] && r.index <= nextLayer && !(next && next.part === 'attention' && r.index === nextLayer))
      .map((r) => r.index);
    const seg: HealSegment = { kind: s.fused ? 'fused-ffn' : 'removed-attention', layer: s.layer.index, part: s.part, span: s.span, removedAttention, target };
    const problem = siteOf(s.layer, s.part);
    if (typeof problem === 'string') seg.problem = problem;
    else seg.projection = problem.projection.weight.name;
    // A final Skip norm (genai) adds the last FFN without materializing the sum: no target value.
    if (!next && refLast!.ffn && sameStream(refLast!.residualOut, refLast!.residualMid)) seg.problem = `the input model's stream after its last layer is not a value of the graph (a fused final norm adds the last FFN)`;
    segments.push(seg);
  });
  return segments;
}

/** The projection, its input and the stream values of a sublayer, or why it cannot be refitted. */
export function siteOf(layer: LayerInfo, part: 'ffn' | 'attention'): SegmentSite | string {
  if (layer.parallel) return `layer ${layer.index} is a parallel-residual block (attention and FFN share one add)`;
  if (part === 'ffn') {
    const f = layer.ffn!;
    if (f.postNorm) return `layer ${layer.index}'s FFN output is normalized before the residual add, so its down projection is not linear in the stream`;
    return site(f.down, layer.residualMid, f.output, f.outputScale ?? 1, `layer ${layer.index}'s down projection`);
  }
  const a = layer.attention;
  if (!a) return `${parallelWindowNote(layer)}: no single o_proj to refit`;
  if (!a.o) return `layer ${layer.index}'s attention has no separate output projection`;
  return site(a.o, layer.residualIn, a.output, 1, `layer ${layer.index}'s o_proj`);
}

function site(w: WeightRef, streamBefore: Value, increment: Value, scale: number, what: string): SegmentSite | string {
  if (w.kind === 'matmulnbits') return `${what} is a MatMulNBits (int${w.bits}) weight; healing would have to re-quantize it`;
  if (w.columns) return `${what} is a column slice of a packed weight`;
  if (!w.weight.constant) return `${what} is not a constant initializer`;
  if (w.weight.constant.dims.length !== 2) return `${what} is not 2-D`;
  const input = w.node.input(0);
  if (!input) return `${what} has no input`;
  return { projection: w, input, streamBefore, increment, scale };
}
