import { Attribute } from '../../../ir/attribute.js';
import type { Node } from '../../../ir/node.js';
import { constantSource } from '../../pattern/constants.js';
import { defineRule, fail, ok, type Match } from '../../pattern/index.js';
import type { SumNode, WeightRef } from '../layer-map.js';
import type { AttentionOp, FfnFound, JoinRecognizer, NormFound, Spelling, SpellingContext } from '../spelling.js';
import { producerIn } from '../spelling.js';
import { addJoin, describeGeglu, describeSwiglu, gegluRule, onnxAttention, swigluRule } from './common.js';

/**
 * onnxruntime's fused norms, as the genai model builder and the transformers optimizer emit them:
 * `SimplifiedLayerNormalization` (registered by ORT in the default domain) and
 * `com.microsoft::SkipSimplifiedLayerNormalization(x, skip, w)` for RMSNorm, ONNX
 * `LayerNormalization` and `com.microsoft::SkipLayerNormalization(x, skip, γ, β, bias)` for
 * LayerNorm. A Skip norm adds `x + skip (+ bias)` before normalizing; its output 3 is that sum,
 * the residual stream.
 */
const norm = (name: string, opType: string, domain: string) =>
  defineRule({
    name,
    description: `${domain ? `${domain}::` : ''}${opType}`,
    vars: ['x'],
    pattern: (op, x) => op.call(opType, [x], { domain, allowOtherInputs: true, allowExternalUses: true }),
  });

export const simplifiedLayerNorm = norm('simplified-layernorm', 'SimplifiedLayerNormalization', '');
export const skipSimplifiedLayerNorm = norm('skip-simplified-layernorm', 'SkipSimplifiedLayerNormalization', 'com.microsoft');
export const layerNorm = norm('layernorm', 'LayerNormalization', '');
export const skipLayerNorm = norm('skip-layernorm', 'SkipLayerNormalization', 'com.microsoft');

/**
 * `com.microsoft::EmbedLayerNormalization(ids, segment, word, pos, segment_emb, γ, β, …)`: embeddings
 * summed and normalized in one op: the first layer's attention norm; output 2 is the sum, the
 * residual stream.
 */
export const embedLayerNorm = defineRule({
  name: 'embed-layernorm',
  description: 'com.microsoft::EmbedLayerNormalization (embedding sum and the first LayerNorm)',
  vars: [],
  pattern: (op) => op.call('EmbedLayerNormalization', [op.any()], { domain: 'com.microsoft', allowOtherInputs: true, allowExternalUses: true }),
});

export function describeEmbedLayerNorm(m: Match): NormFound | string {
  const n = m.root;
  const gamma = constantInput(n, 5);
  const beta = constantInput(n, 6);
  const sum = n.outputs[2];
  if (!gamma || !sum) return 'EmbedLayerNormalization without a constant gamma or an embedding_sum output';
  return {
    kind: 'layer',
    input: sum,
    output: n.output(0),
    weight: gamma,
    bias: beta,
    epsilon: n.attrFloat('epsilon', 1e-12)!,
    nodes: [n],
    fused: { node: n, skip: sum, residualOutput: sum },
  };
}

function constantInput(n: Node, i: number) {
  const v = n.inputs[i];
  return v ? constantSource(v) : undefined;
}

export function describeFusedNorm(m: Match): NormFound | string {
  const n = m.root;
  const skip = n.opType.startsWith('Skip');
  const rms = n.opType.includes('Simplified');
  const axis = n.attrInt('axis', -1);
  if (axis !== -1 && !skip) return `${n.opType} normalizes axis ${axis}, not the last`;
  const weight = constantInput(n, skip ? 2 : 1);
  if (!weight) return 'the norm weight is not a constant';
  const bias = rms ? undefined : constantInput(n, skip ? 3 : 2);
  return {
    kind: rms ? 'rms' : 'layer',
    input: n.inputs[0]!,
    output: n.output(0),
    weight,
    bias,
    epsilon: n.attrFloat('epsilon', rms ? 1e-6 : 1e-5)!,
    nodes: [n],
    ...(skip ? { fused: { node: n, skip: n.inputs[1]!, residualOutput: n.outputs[3] } } : {}),
  };
}

/**
 * Two-layer MLPs with a GELU/ReLU activation: `MatMul(z, W1) (+ b1) → act → MatMul(·, W2) (+ b2)`.
 * The activation is ONNX Gelu (opset 20), its Erf decomposition `x·(1 + erf(x/√2))·0.5`, Relu, or
 * com.microsoft FastGelu/BiasGelu (which take b1 as their second input).
 */
export const mlpRule = defineRule({
  name: 'gelu-mlp',
  description: 'MatMul(z, W1) (+b1) → Gelu | Erf-GELU | FastGelu | BiasGelu | Relu → MatMul(W2) (+b2)',
  vars: ['z'],
  pattern: (op, z) => {
    const nbits = (x: unknown, as: string) => op.call('MatMulNBits', [x as never, op.any(), op.any()], { domain: 'com.microsoft', allowOtherInputs: true, as });
    const fc = op.oneOf(
      op.Add(op.MatMul(z, op.any(), { as: 'fc' }), op.var('b1', { constant: true })),
      op.MatMul(z, op.any(), { as: 'fc' }),
      // int4 (genai builder): MatMulNBits, with the bias as an Add.
      op.Add(nbits(z, 'fc'), op.var('b1', { constant: true })),
      // torch.onnx on 2-D inputs (OPT flattens tokens): Gemm(z, W, b, transB=1).
      op.Gemm(z, op.any(), op.var('b1', { constant: true }), { as: 'fc' }),
      // HF Conv1D (GPT-2): Reshape(Gemm(Reshape(z, [-1, d]), W, b), [B, S, n]).
      op.Reshape(op.Gemm(op.Reshape(z, op.any(), { allowOtherInputs: true }), op.any(), op.var('b1', { constant: true }), { as: 'fc' }), op.any(), { allowOtherInputs: true }),
    );
    const h = fc;
    // The activation's output may also feed Shape reads (Conv1D computes its reshape target from it).
    const ext = { allowExternalUses: true };
    const act = op.oneOf(
      op.Gelu(h, { as: 'act', ...ext }),
      op.Relu(h, { as: 'act', ...ext }),
      op.call('FastGelu', [op.MatMul(z, op.any(), { as: 'fc' })], { domain: 'com.microsoft', allowOtherInputs: true, as: 'act', ...ext }),
      op.call('BiasGelu', [op.MatMul(z, op.any(), { as: 'fc' }), op.var('b1', { constant: true })], { domain: 'com.microsoft', as: 'act', ...ext }),
      op.Mul(op.Mul(h, op.Add(op.Erf(op.Div(h, op.var('sqrt2', { constant: true })), { as: 'act' }), 1)), 0.5, ext),
      // GPT-2's gelu_new: 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))
      op.Mul(op.Mul(0.5, h), op.Add(1, op.Tanh(op.Mul(op.var('c1', { constant: true }), op.Add(h, op.Mul(op.var('c2', { constant: true }), op.Pow(h, 3)))), { as: 'act' })), ext),
    );
    return op.oneOf(
      op.Add(op.MatMul(act, op.any(), { as: 'proj' }), op.var('b2', { constant: true })),
      op.MatMul(act, op.any(), { as: 'proj' }),
      op.Add(nbits(act, 'proj'), op.var('b2', { constant: true })),
      op.Gemm(act, op.any(), op.var('b2', { constant: true }), { as: 'proj' }),
      op.Reshape(op.Gemm(op.Reshape(act, op.any(), { allowOtherInputs: true }), op.any(), op.var('b2', { constant: true }), { as: 'proj' }), op.any(), { allowOtherInputs: true }),
    );
  },
});

export function describeMlp(m: Match, ctx: SpellingContext): FfnFound | string {
  const b = m.bindings;
  const fc = producerIn(m, b.fc);
  const proj = producerIn(m, b.proj);
  const up = ctx.weight(fc);
  const down = ctx.weight(proj);
  if (!up || !down) return 'a projection weight is not a constant initializer';
  const act = b.act?.producer;
  const op = act?.opType === 'Tanh' ? 'gelu-tanh' : (act?.opType ?? 'Gelu');
  const kind = op === 'Relu' ? 'relu-mlp' : op === 'FastGelu' ? 'fastgelu-mlp' : 'gelu-mlp';
  const fastGeluBias = act && act.opType === 'FastGelu' && act.inputs[1] ? constantSource(act.inputs[1]) : undefined;
  const upBias = b.b1 ? constantSource(b.b1) : fastGeluBias;
  const downBias = b.b2 && constantSource(b.b2);
  if ((b.b1 && !upBias) || (b.b2 && !downBias)) return 'a projection bias is not a constant';
  return { input: b.z!, output: m.outputs[0]!, kind, gate: undefined, up, down, upBias, downBias, activation: op === 'Erf' ? 'gelu-erf' : op.toLowerCase(), nodes: [...m.nodes] };
}

/**
 * HF Conv1D as torch.onnx exports it (GPT-2's c_fc/c_proj): `Reshape(Gemm(Reshape(x, [-1, d_in]),
 * W, b), [..., d_out])`, the reshape targets computed from x's Shape. A MatMul broadcasts over the
 * leading dims, so `Add(MatMul(x, W), b)` is the same linear map, and it is what ffn-fuse can widen
 * (the Conv1D targets carry the old width as a constant).
 */
export const conv1dLinear = defineRule({
  name: 'conv1d-linear',
  description: 'Reshape(Gemm(Reshape(x), W, b)) → Add(MatMul(x, W), b)',
  vars: ['x', 'w', 'b'],
  pattern: (op, x, w, b) => op.Reshape(op.Gemm(op.Reshape(x, op.any(), { allowOtherInputs: true }), w, b, { as: 'gemmOut' }), op.any(), { allowOtherInputs: true }),
  check: (ctx, { w, b, gemmOut }) => {
    const gemm = gemmOut!.producer!;
    if (gemm.attrInt('transA', 0) !== 0 || gemm.attrFloat('alpha', 1) !== 1 || gemm.attrFloat('beta', 1) !== 1) return fail('the Gemm scales or transposes its input', gemmOut!);
    const dims = ctx.constant(w!)?.dims;
    if (!dims || dims.length !== 2) return fail('the Conv1D weight is not a 2-D constant', w!);
    const bias = ctx.constant(b!)?.dims;
    const out = gemm.attrInt('transB', 0) === 1 ? dims[0] : dims[1];
    return bias && bias.length === 1 && bias[0] === out ? ok() : fail('the Conv1D bias is not a vector of the output width', b!);
  },
  rewrite: (op, { x, w, b, gemmOut }) => {
    const weight = gemmOut!.producer!.attrInt('transB', 0) === 1 ? op.Transpose(w!, { attrs: { perm: [1, 0] } }) : w!;
    return op.Add(op.MatMul(x!, weight), b!);
  },
});

/** `com.microsoft::MatMulNBits(x, packed, scales, zero_points?)`: int4/int8 block-quantized weights (genai builder). */
export function matmulNBitsWeight(node: Node): WeightRef | undefined {
  if (node.opType !== 'MatMulNBits' || node.domain !== 'com.microsoft') return undefined;
  const [, weight, scales, zp] = node.inputs;
  if (!weight?.constant || !scales?.constant) return undefined;
  return {
    kind: 'matmulnbits',
    node,
    weight,
    scales,
    zeroPoints: zp?.constant ? zp : undefined,
    bits: node.attrInt('bits', 4)!,
    blockSize: node.attrInt('block_size', 32)!,
    k: node.attrInt('K')!,
    n: node.attrInt('N')!,
  };
}

function isSkipNorm(n: Node): boolean {
  return (n.opType === 'SkipSimplifiedLayerNormalization' || n.opType === 'SkipLayerNormalization') && n.domain === 'com.microsoft';
}

/**
 * A Skip norm as a residual join: `Skip*Norm(a, b, γ, [β], [bias])` adds a + b (+ bias, which ORT
 * folds in from the projection before it), output 3 is the sum and output 0 its norm. Without one
 * operand it is the plain norm of the other, with the same weights and epsilon.
 */
export const skipNormJoin: JoinRecognizer = {
  name: 'skip-norm',
  describe: (n): SumNode | undefined => {
    if (!isSkipNorm(n)) return undefined;
    const layer = n.opType === 'SkipLayerNormalization';
    const attributes = [Attribute.int('axis', -1), Attribute.float('epsilon', n.attrFloat('epsilon', 1e-5)!)];
    return {
      node: n,
      sum: n.outputs[3],
      biasInput: layer ? 4 : 3,
      fusedNorm: {
        sumOutput: 3,
        unfused: { opType: layer ? 'LayerNormalization' : 'SimplifiedLayerNormalization', domain: '', params: layer ? [n.inputs[2], n.inputs[3]] : [n.inputs[2]], attributes },
      },
    };
  },
};

/** ORT's GroupQueryAttention and MultiHeadAttention: Q, K, V as inputs 0-2, head counts as attributes. */
const ortAttention = (op: string): AttentionOp => ({
  op: `com.microsoft::${op}`,
  describe: (n) => {
    const heads = n.attrInt('num_heads');
    return { heads, kvHeads: n.attrInt('kv_num_heads') ?? heads };
  },
});

/** ORT's `com.microsoft::Attention(x, W_qkv, b_qkv, …)`: one packed QKV projection, its weight input 1. */
const packedQkvAttention: AttentionOp = {
  op: 'com.microsoft::Attention',
  describe: (n) => {
    const heads = n.attrInt('num_heads');
    const w = n.inputs[1];
    return { heads, kvHeads: n.attrInt('kv_num_heads') ?? heads, ...(w?.constant ? { qkv: { kind: 'matmul', node: n, weight: w, transposed: undefined } } : {}) };
  },
};

const attentionOps = [ortAttention('GroupQueryAttention'), ortAttention('MultiHeadAttention'), packedQkvAttention, onnxAttention];
const joins = [addJoin, skipNormJoin];

/** onnxruntime-genai builder: Simplified/SkipSimplified norms, GQA or MHA, SwiGLU (or GELU MLP). */
export const genai: Spelling = {
  name: 'genai',
  description: 'onnxruntime-genai builder (SkipSimplifiedLayerNormalization, GroupQueryAttention, MatMulNBits)',
  norms: [
    { rule: simplifiedLayerNorm, describe: describeFusedNorm },
    { rule: skipSimplifiedLayerNorm, describe: describeFusedNorm },
  ],
  ffns: [
    { rule: swigluRule, describe: describeSwiglu },
    { rule: gegluRule, describe: describeGeglu },
    { rule: mlpRule, describe: describeMlp },
  ],
  attentionOps,
  joins,
  weights: [matmulNBitsWeight],
};

/** LayerNorm models: ORT-optimized GPT-2 (SkipLayerNormalization, Attention, FastGelu) and plain GPT-2/Phi. */
export const layerNormModels: Spelling = {
  name: 'layernorm',
  description: 'GPT-2/Phi style: LayerNormalization or SkipLayerNormalization, GELU MLP with biases',
  norms: [
    { rule: layerNorm, describe: describeFusedNorm },
    { rule: skipLayerNorm, describe: describeFusedNorm },
    { rule: embedLayerNorm, describe: describeEmbedLayerNorm },
  ],
  ffns: [{ rule: mlpRule, describe: describeMlp }],
  attentionOps,
  joins,
  canonicalize: [conv1dLinear],
};
