import { DataType } from '../../ir/dtype.js';
import type { Dim } from '../../ir/types.js';
import { MS, ONNX, sameAs, type InferContext, type OutputInfo, type RuleEntry, type ShapeRule } from './context.js';
import { dimAdd, dimDivExact, dimMul, mergeDim } from './dims.js';
import { matmulShape, statsShape, transposeLast } from './rules-nn.js';
import type { Value } from '../../ir/value.js';

/**
 * com.microsoft contrib ops that LLM exports use (onnxruntime-genai model builder, transformers
 * optimizer). Shapes follow onnxruntime's ContribOperators.md.
 */

function dimAt(ctx: InferContext, v: Value | undefined, i: number): Dim {
  const s = ctx.shape(v);
  if (!s) return null;
  const k = i < 0 ? s.length + i : i;
  return s[k] ?? null;
}

/** SimplifiedLayerNormalization(X, scale) → Y (scale's type, V), inv_std_var (U). */
const simplifiedLayerNorm: ShapeRule = (node, ctx) => {
  const x = ctx.type(node.input(0));
  const dtype = ctx.dtype(node.input(1)) ?? x?.dtype;
  const stats: OutputInfo = { dtype: (node.attrInt('stash_type', 1) as DataType) ?? DataType.FLOAT, shape: statsShape(x?.shape, node.attrInt('axis', -1)!) };
  return [{ dtype, shape: x?.shape }, stats];
};

/**
 * SkipLayerNormalization(input, skip, gamma, beta?, bias?) and
 * SkipSimplifiedLayerNormalization(input, skip, gamma, bias?) → output, mean?, inv_std_var?,
 * input_skip_bias_sum? (the residual stream).
 */
const skipLayerNorm: ShapeRule = (node, ctx) => {
  const x = sameAs(ctx, node.input(0));
  const stats: OutputInfo = { dtype: DataType.FLOAT, shape: statsShape(x?.shape, -1) };
  return [x, stats, stats, x];
};

/**
 * GroupQueryAttention(query, key?, value?, past_key?, past_value?, seqlens_k, total_sequence_length, ...)
 * → output [B, S, num_heads*head_size], present_key/value [B, kv_num_heads, T, head_size].
 */
const groupQueryAttention: ShapeRule = (node, ctx) => {
  const q = node.input(0);
  const dtype = ctx.dtype(q);
  const numHeads = node.attrInt('num_heads');
  const kvHeads = node.attrInt('kv_num_heads');
  const [b, s, d] = [dimAt(ctx, q, 0), dimAt(ctx, q, 1), dimAt(ctx, q, 2)];
  const packed = !node.input(1);
  let headSize: Dim = null;
  let hidden: Dim = null;
  if (numHeads && kvHeads) {
    headSize = packed ? dimDivExact(d, numHeads + 2 * kvHeads) : dimDivExact(d, numHeads);
    hidden = packed ? dimMul(headSize, numHeads) : d;
  }
  const past = node.input(3);
  headSize = mergeDim(headSize, dimAt(ctx, past, 3));
  const kvSeq = packed ? s : dimAt(ctx, node.input(1), 1);
  const total = ctx.value(node.input(6))?.data[0] ?? null;
  let presentSeq: Dim = null;
  if (!past) presentSeq = kvSeq;
  else {
    const p = dimAt(ctx, past, 2);
    // A fixed past length is a shared (max-length) buffer; a symbolic one grows to the total.
    if (typeof p === 'number') presentSeq = typeof total === 'number' ? Math.max(p, total) : p;
    else presentSeq = total;
  }
  const present: OutputInfo = {
    dtype: ctx.dtype(past) ?? dtype,
    shape: [mergeDim(b, dimAt(ctx, past, 0)), kvHeads ?? dimAt(ctx, past, 1), presentSeq, headSize],
  };
  return [{ dtype, shape: ctx.shape(q)?.length === 3 ? [b, s, hidden] : undefined }, present, { ...present, dtype: ctx.dtype(node.input(4)) ?? present.dtype }];
};

/**
 * MultiHeadAttention(query, key?, value?, bias?, key_padding_mask?, attention_bias?, past_key?, past_value?, ...)
 * → output [B, S, v_hidden], present_key/value [B, N, past + kv_seq, head_size], qk?.
 */
const multiHeadAttention: ShapeRule = (node, ctx) => {
  const q = node.input(0);
  const k = node.input(1);
  const v = node.input(2);
  const dtype = ctx.dtype(q);
  const n = node.attrInt('num_heads') ?? null;
  const qs = ctx.shape(q);
  const ks = ctx.shape(k);
  const vs = ctx.shape(v);
  let out: Dim[] | undefined;
  if (qs?.length === 5) out = [qs[0]!, qs[1]!, dimMul(qs[2]!, qs[4]!)];
  else if (qs?.length === 3 && vs) out = [qs[0]!, qs[1]!, vs.length === 3 ? vs[2]! : vs.length === 4 ? dimMul(vs[1]!, vs[3]!) : null];
  else if (qs?.length === 3 && ks?.length === 5) out = [...qs];
  // Present key/value.
  const past = node.input(6);
  const ps = ctx.shape(past);
  let kvSeq: Dim = null;
  let headSize: Dim = null;
  if (qs?.length === 5) {
    kvSeq = qs[1]!;
    headSize = qs[4]!;
  } else if (ks?.length === 3) {
    kvSeq = ks[1]!;
    headSize = n ? dimDivExact(ks[2]!, n) : null;
  } else if (ks?.length === 5) {
    kvSeq = ks[1]!;
    headSize = ks[4]!;
  }
  let present: OutputInfo | undefined;
  if (ks?.length === 4 && !past) present = { dtype, shape: ks };
  else if (past && node.attrInt('past_present_share_buffer', 0) === 1) present = sameAs(ctx, past);
  else {
    const b = qs ? qs[0]! : null;
    const seq = past ? dimAdd(ps?.[2] ?? null, kvSeq) : kvSeq;
    present = { dtype: ctx.dtype(past) ?? dtype, shape: [mergeDim(b, ps?.[0] ?? null), n ?? ps?.[1] ?? null, seq, mergeDim(headSize, ps?.[3] ?? null)] };
  }
  return [{ dtype, shape: out }, present, present];
};

/**
 * Attention(input, weights, bias?, mask_index?, past?, attention_bias?, past_sequence_length?)
 * → output [B, S, v_hidden], present [2, B, N, past + S, head_size].
 */
const attention: ShapeRule = (node, ctx) => {
  const x = node.input(0);
  const dtype = ctx.dtype(x);
  const xs = ctx.shape(x);
  const n = node.attrInt('num_heads') ?? null;
  const sizes = node.attrInts('qkv_hidden_sizes');
  const w = dimAt(ctx, node.input(1), 1) ?? dimAt(ctx, node.input(2), 0);
  const [hq, , hv] = sizes ?? [dimDivExact(w, 3), dimDivExact(w, 3), dimDivExact(w, 3)];
  const out: OutputInfo = { dtype, shape: xs?.length === 3 ? [xs[0]!, xs[1]!, hv ?? null] : undefined };
  const past = node.input(4);
  if (node.outputs.length < 2) return [out];
  if (past && node.attrInt('past_present_share_buffer', 0) === 1) return [out, sameAs(ctx, past)];
  const ps = ctx.shape(past);
  const b = xs?.[0] ?? null;
  const s = xs?.[1] ?? null;
  const headSize = mergeDim(n ? dimDivExact(hq ?? null, n) : null, ps?.[4] ?? null);
  const seq = past ? dimAdd(ps?.[3] ?? null, s) : s;
  return [out, { dtype, shape: [2, mergeDim(b, ps?.[1] ?? null), n ?? ps?.[2] ?? null, seq, headSize] }];
};

/** EmbedLayerNormalization → output [B, S, H], mask_index int32 [B], embedding_sum? [B, S, H]. */
const embedLayerNorm: ShapeRule = (node, ctx) => {
  const ids = ctx.shape(node.input(0));
  const dtype = ctx.dtype(node.input(2)) ?? ctx.dtype(node.input(5));
  const h = mergeDim(dimAt(ctx, node.input(2), 1), dimAt(ctx, node.input(5), 0));
  const out: OutputInfo = { dtype, shape: ids?.length === 2 ? [ids[0]!, ids[1]!, h] : undefined };
  return [out, { dtype: DataType.INT32, shape: ids ? [ids[0] ?? null] : undefined }, out];
};

/** MatMulNBits(A, B, scales, ...) → A[..., K] x [K, N] → [..., N]. */
const matMulNBits: ShapeRule = (node, ctx) => {
  const a = ctx.shape(node.input(0));
  const n = node.attrInt('N') ?? dimAt(ctx, node.input(1), 0);
  return [{ dtype: ctx.dtype(node.input(0)), shape: a ? [...a.slice(0, -1), n] : undefined }];
};

const fusedMatMul: ShapeRule = (node, ctx) => {
  if (node.attrInt('transBatchA', 0) || node.attrInt('transBatchB', 0)) return [{ dtype: ctx.dtype(node.input(0)) }];
  const a = transposeLast(ctx.shape(node.input(0)), node.attrInt('transA', 0) === 1);
  const b = transposeLast(ctx.shape(node.input(1)), node.attrInt('transB', 0) === 1);
  return [{ dtype: ctx.dtype(node.input(0)), shape: matmulShape(a, b) }];
};

const gemmFastGelu: ShapeRule = (node, ctx) => [{ dtype: ctx.dtype(node.input(0)), shape: matmulShape(ctx.shape(node.input(0)), ctx.shape(node.input(1))) }];

const passThrough: ShapeRule = (node, ctx) => [sameAs(ctx, node.input(0))];

export const CONTRIB_RULES: RuleEntry[] = [
  [[...ONNX, ...MS], ['SimplifiedLayerNormalization'], simplifiedLayerNorm],
  [MS, ['SkipLayerNormalization', 'SkipSimplifiedLayerNormalization'], skipLayerNorm],
  [MS, ['GroupQueryAttention'], groupQueryAttention],
  [MS, ['MultiHeadAttention'], multiHeadAttention],
  [MS, ['Attention'], attention],
  [MS, ['EmbedLayerNormalization'], embedLayerNorm],
  [MS, ['MatMulNBits'], matMulNBits],
  [MS, ['FusedMatMul'], fusedMatMul],
  [MS, ['GemmFastGelu'], gemmFastGelu],
  [MS, ['RotaryEmbedding', 'FastGelu', 'BiasGelu', 'Gelu', 'QuickGelu', 'BiasAdd'], passThrough],
];
