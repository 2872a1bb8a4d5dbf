/**
 * Roofline prediction: batch-1 decoding is bound by memory bandwidth, so a decode step costs the
 * bytes it reads (every weight once, the embedding one row, plus the whole KV cache); prefill is
 * bound by compute, so it costs its FLOPs. The ratio original / optimized is the predicted speed-up.
 * Counts come from the IR only; no weight is read.
 */
import { bitsPerElement } from '../ir/dtype.js';
import type { Model } from '../ir/model.js';
import type { Value } from '../ir/value.js';
import { analyzeDecoder } from '../passes/analysis/analyze-decoder.js';
import { attentionsOf, type WeightRef } from '../passes/analysis/layer-map.js';
import { kvBytesPerToken } from '../passes/attn-prune/attn-prune.js';

export interface RooflineCounts {
  /** Weight bytes one decode step reads: each initializer once, a Gather-only table one row. */
  weightBytesPerStep: number;
  /** KV-cache bytes one token adds (read back by every later step). */
  kvBytesPerToken: number;
  /** FLOPs per token of the weight matmuls (2 per multiply-add). */
  matmulFlopsPerToken: number;
  /** Σ over attention sublayers of the query width (heads × head size): the attention-score FLOPs scale with it. */
  attentionWidth: number;
}

/** What {@link rooflineCounts} needs from a model, computed once. */
export function rooflineCounts(model: Model): RooflineCounts {
  let weightBytes = 0;
  let matmulFlops = 0;
  for (const v of model.graph.initializers.values()) {
    const t = v.initializer!;
    const users = v.consumers;
    // An embedding table read only through Gather (its data input): a decode step reads one row.
    const gatherOnly = users.length > 0 && t.dims.length >= 2 && users.every((n) => n.opType === 'Gather' && n.inputs[0] === v);
    weightBytes += gatherOnly ? t.byteLength / t.dims[0]! : t.byteLength;
    matmulFlops += 2 * matmulElements(v);
  }
  const map = analyzeDecoder(model);
  let attentionWidth = 0;
  let kvEstimate = 0;
  for (const a of map.layers.flatMap(attentionsOf)) {
    const q = a.q ? outColumns(a.q) : a.qkv && map.hiddenSize ? map.hiddenSize : 0;
    attentionWidth += q || map.hiddenSize || 0;
    // Models without cache inputs: K and V widths from the projections, at the weights' element size.
    if (a.k && a.v) kvEstimate += ((outColumns(a.k) + outColumns(a.v)) * elementBits(a.k)) / 8;
  }
  const kv = kvBytesPerToken(model);
  return { weightBytesPerStep: weightBytes, kvBytesPerToken: kv || kvEstimate, matmulFlopsPerToken: matmulFlops, attentionWidth };
}

/** Bytes one batch-1 decode step reads at `context` tokens of cache. */
export function decodeBytes(c: RooflineCounts, context: number): number {
  return c.weightBytesPerStep + c.kvBytesPerToken * context;
}

/** FLOPs of a causal prefill of `tokens`: the matmuls per token, plus QKᵀ and AV (2·P²·width, causal halves). */
export function prefillFlops(c: RooflineCounts, tokens: number): number {
  return c.matmulFlopsPerToken * tokens + 2 * tokens * tokens * c.attentionWidth;
}

export interface RooflinePrediction {
  /** Decode speed-up original/optimized at each context. */
  decode: { context: number; before: number; after: number; speedup: number }[];
  prefill: { tokens: number; before: number; after: number; speedup: number };
}

/** Predicted speed-ups of `after` over `before` at the given contexts and prefill length. */
export function predictSpeedup(before: RooflineCounts, after: RooflineCounts, contexts: readonly number[], prefillTokens: number): RooflinePrediction {
  const decode = contexts.map((context) => {
    const b = decodeBytes(before, context);
    const a = decodeBytes(after, context);
    return { context, before: b, after: a, speedup: b / a };
  });
  const pb = prefillFlops(before, prefillTokens);
  const pa = prefillFlops(after, prefillTokens);
  return { decode, prefill: { tokens: prefillTokens, before: pb, after: pa, speedup: pb / pa } };
}

/** Elements of an initializer that a MatMul/Gemm/MatMulNBits multiplies per token (0 for anything else). */
function matmulElements(v: Value): number {
  const t = v.initializer!;
  let n = 0;
  for (const node of v.consumers) {
    if ((node.opType === 'MatMul' || node.opType === 'Gemm') && node.inputs[1] === v) n += t.size;
    else if (node.opType === 'MatMulNBits' && node.inputs[1] === v) {
      n += (node.attrInt('K') ?? 0) * (node.attrInt('N') ?? 0);
    }
  }
  // A weight read through a Transpose (stored [out, in]) still multiplies once per token.
  if (n === 0 && v.consumers.length === 1 && v.consumers[0]!.opType === 'Transpose') {
    const out = v.consumers[0]!.outputs[0];
    if (out && out.consumers.some((c) => (c.opType === 'MatMul' || c.opType === 'Gemm') && c.inputs[1] === out)) n = t.size;
  }
  return n;
}

function outColumns(w: WeightRef): number {
  if (w.kind === 'matmulnbits') return w.n;
  if (w.columns) return w.columns[1] - w.columns[0];
  const dims = w.weight.initializer?.dims ?? (w.weight.type?.kind === 'tensor' ? w.weight.type.shape?.filter((d): d is number => typeof d === 'number') : undefined) ?? [];
  if (dims.length < 2) return 0;
  return w.transposed ? dims[dims.length - 2]! : dims[dims.length - 1]!;
}

function elementBits(w: WeightRef): number {
  if (w.kind === 'matmulnbits') return 32;
  const dt = w.weight.initializer?.dtype;
  return dt === undefined ? 32 : bitsPerElement(dt);
}
