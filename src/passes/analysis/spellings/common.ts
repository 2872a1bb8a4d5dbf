import type { Node } from '../../../ir/node.js';
import type { Value } from '../../../ir/value.js';
import { constantScalar, constantSource } from '../../pattern/constants.js';
import { defineRule, fail, ok, type Match } from '../../pattern/index.js';
import { backwardNodes } from '../slices.js';
import type { SumNode } from '../layer-map.js';
import type { AttentionOp, FfnFound, JoinRecognizer, SpellingContext } from '../spelling.js';
import { producerIn } from '../spelling.js';

/**
 * SwiGLU as torch.onnx (both exporters) and the genai builder spell it:
 * `down(silu(gate(z)) * up(z))` with silu = `x * Sigmoid(x)`. Weights may be initializers,
 * behind a Transpose, or MatMulNBits packs; the rule leaves that to the spellings' weight readers.
 */
export const swigluRule = defineRule({
  name: 'swiglu',
  description: 'down(silu(gate(z)) * up(z)), silu(x) = x * Sigmoid(x)',
  vars: ['z'],
  pattern: (op, z) => {
    const proj = (as: string) =>
      op.oneOf(
        op.MatMul(z, op.any(), { as: `${as}` }),
        // Biased projections (mlp_bias, or a LayerNorm shift folded in by an earlier ffn-fuse).
        op.Add(op.MatMul(z, op.any(), { as: `${as}` }), op.var(`${as}Bias`, { constant: true })),
        op.call('MatMulNBits', [z, op.any(), op.any()], { domain: 'com.microsoft', allowOtherInputs: true, as: `${as}Q` }),
      );
    const g = proj('gateOut');
    const silu = op.Mul(g, op.Sigmoid(g));
    const up = proj('upOut');
    return op.oneOf(
      op.MatMul(op.Mul(silu, up), op.any(), { as: 'downOut' }),
      op.Add(op.MatMul(op.Mul(silu, up), op.any(), { as: 'downOut' }), op.var('downOutBias', { constant: true })),
      op.call('MatMulNBits', [op.Mul(silu, up), op.any(), op.any()], { domain: 'com.microsoft', allowOtherInputs: true, as: 'downOutQ' }),
    );
  },
});

export function describeSwiglu(m: Match, ctx: SpellingContext): FfnFound | string {
  return describeGated(m, ctx, 'swiglu', 'silu');
}

/** A gated FFN from a match binding gateOut/upOut/downOut (…Q for MatMulNBits) and optional …Bias. */
function describeGated(m: Match, ctx: SpellingContext, kind: 'swiglu' | 'geglu', activation: string): FfnFound | string {
  const b = m.bindings;
  const node = (k: string) => producerIn(m, b[k] ?? b[`${k}Q`]);
  const gate = ctx.weight(node('gateOut'));
  const up = ctx.weight(node('upOut'));
  const down = ctx.weight(node('downOut'));
  if (!gate || !up || !down) return 'the gate, up or down projection weight is not a constant initializer';
  const bias = (k: string) => (b[k] ? constantSource(b[k]!) : undefined);
  return {
    input: b.z!,
    output: m.outputs[0]!,
    kind,
    gate,
    up,
    down,
    upBias: bias('upOutBias'),
    downBias: bias('downOutBias'),
    ...(bias('gateOutBias') ? { gateBias: bias('gateOutBias')! } : {}),
    activation,
    nodes: [...m.nodes, ...m.constantNodes],
  };
}

/**
 * SwiGLU with one packed gate_up projection, as phi3 writes it: `gate, up = gate_up(z).chunk(2)`,
 * which torch.onnx spells as two `Slice`s of one MatMul (bounds computed from its Shape), then
 * `down(up * silu(gate))`.
 */
export const packedSwigluRule = defineRule({
  name: 'swiglu-packed',
  description: 'gate, up = Slice halves of MatMul(z, W_gate_up); down(silu(gate) * up)',
  vars: ['z'],
  pattern: (op, z) => {
    const packed = op.MatMul(z, op.any(), { as: 'gateUpOut', allowExternalUses: true });
    const g = op.Slice(packed, op.var('gateStart'), op.var('gateEnd'), op.any(), { as: 'gateOut', allowOtherInputs: true });
    const u = op.Slice(packed, op.var('upStart'), op.var('upEnd'), op.any(), { as: 'upOut', allowOtherInputs: true });
    return op.MatMul(op.Mul(u, op.Mul(g, op.Sigmoid(g))), op.any(), { as: 'downOut' });
  },
  // chunk(2): the gate is the first half, the up projection starts where the gate ends.
  check: (ctx, { gateStart, gateEnd, upStart }) => (ctx.scalar(gateStart!) === 0 && gateEnd === upStart ? ok() : fail('the slices are not the two halves of one projection', gateStart!)),
});

/** The same with `Split(num_outputs=2)` (the dynamo exporter's spelling of chunk(2)). */
export const packedSplitSwigluRule = defineRule({
  name: 'swiglu-packed-split',
  description: 'gate, up = Split(MatMul(z, W_gate_up), num_outputs=2); down(silu(gate) * up)',
  vars: ['z'],
  pattern: (op, z) => {
    const packed = op.MatMul(z, op.any(), { as: 'gateUpOut' });
    const halves = op.Split(packed, { as: 'split' });
    const g = halves.output(0, 'gateOut');
    const u = halves.output(1, 'upOut');
    return op.MatMul(op.Mul(u, op.Mul(g, op.Sigmoid(g))), op.any(), { as: 'downOut' });
  },
  // Equal halves of the last axis: a wider packed weight still splits into all gates, then all ups.
  check: (_ctx, { gateOut }) => {
    const split = gateOut!.producer!;
    const axis = split.attrInt('axis', 0)!;
    const rank = gateOut!.type?.kind === 'tensor' ? gateOut!.type.shape?.length : undefined;
    const last = axis === -1 || (rank !== undefined && axis === rank - 1) || axis === 2;
    return split.attrInt('num_outputs') === 2 && split.outputs.length === 2 && last ? ok() : fail('the Split is not two equal halves of the last axis', gateOut!);
  },
});

export function describePackedSwiglu(m: Match, ctx: SpellingContext): FfnFound | string {
  const b = m.bindings;
  const packed = ctx.weight(producerIn(m, b.gateUpOut));
  const down = ctx.weight(producerIn(m, b.downOut));
  if (!packed || packed.kind !== 'matmul' || !down) return 'the gate_up or down projection weight is not a constant initializer';
  const d = packed.weight.constant!.dims;
  const width = packed.transposed ? d[0]! : d[1]!;
  if (d.length !== 2 || width % 2 !== 0) return 'the packed gate_up weight cannot be split in halves';
  const half = width / 2;
  // Slice bounds are computed from the packed output's Shape: they belong to this FFN too.
  const bounds = b.gateStart ? backwardNodes([b.gateStart, b.gateEnd!, b.upStart!, b.upEnd!], { stopAt: new Set([b.gateUpOut!]) }) : [];
  return {
    input: b.z!,
    output: m.outputs[0]!,
    kind: 'swiglu',
    gate: { ...packed, columns: [0, half] },
    up: { ...packed, columns: [half, width] },
    down,
    upBias: undefined,
    downBias: undefined,
    activation: 'silu',
    nodes: [...new Set([...m.nodes, ...bounds])],
  };
}

type Ops = Parameters<Parameters<typeof defineRule>[0]['pattern']>[0];
// Pattern helpers shared by several rules: binding names are checked by the rules that use them.
type Expr = never;

/**
 * GELU as exporters spell it: ONNX `Gelu`, the erf form `x·(1 + erf(x/√2))·0.5`, or the tanh
 * approximation `0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))` with x³ as `Pow(x, 3)` (gelu_new) or
 * `x·(x·x)` (torch's gelu(approximate="tanh"), Gemma's gelu_pytorch_tanh). The node that decides
 * the form is bound as `act`.
 */
export function geluOf(op: Ops, h: Expr): Expr {
  const inner = (cube: Expr) => op.Tanh(op.Mul(op.var('c1', { constant: true }), op.Add(h, op.Mul(op.var('c2', { constant: true }), cube))), { as: 'act' });
  return op.oneOf(
    op.Gelu(h, { as: 'act' }),
    op.Mul(op.Mul(h, op.Add(op.Erf(op.Div(h, op.var('sqrt2', { constant: true })), { as: 'act' }), 1)), 0.5),
    op.Mul(op.Mul(0.5, h), op.Add(1, inner(op.Pow(h, 3) as never))),
    op.Mul(0.5, op.Mul(h, op.Add(1, inner(op.Mul(h, op.Mul(h, h)) as never)))),
  ) as never;
}

/** GeGLU (Gemma): `down(gelu(gate(z)) * up(z))`. */
export const gegluRule = defineRule({
  name: 'geglu',
  description: 'down(gelu(gate(z)) * up(z)), GELU in any exporter spelling',
  vars: ['z'],
  pattern: (op, z) => {
    const proj = (x: unknown, as: string) =>
      op.oneOf(
        op.MatMul(x as never, op.any(), { as }),
        op.call('MatMulNBits', [x as never, op.any(), op.any()], { domain: 'com.microsoft', allowOtherInputs: true, as: `${as}Q` }),
      );
    const g = proj(z, 'gateOut');
    const up = proj(z, 'upOut');
    return proj(op.Mul(geluOf(op, g as never), up), 'downOut');
  },
});

export function describeGeglu(m: Match, ctx: SpellingContext): FfnFound | string {
  const act = m.bindings.act?.producer?.opType;
  return describeGated(m, ctx, 'geglu', act === 'Tanh' ? 'gelu-tanh' : act === 'Erf' ? 'gelu-erf' : 'gelu');
}

/**
 * A sublayer output scaled by a constant before the residual add: Granite's residual_multiplier
 * (`x + m · FFN(N(x))`, and the same after attention). Returns the Mul and its factor when `v`'s
 * only reader is such a scaling.
 */
export function scaledSublayerOutput(v: Value): { node: Node; output: Value; factor: number } | undefined {
  if (v.uses.length !== 1) return undefined;
  const n = v.uses[0]!.node;
  if (n.opType !== 'Mul' || n.domain !== '' || n.inputs.length !== 2) return undefined;
  const other = n.inputs[1 - v.uses[0]!.index];
  const factor = other ? constantScalar(other) : undefined;
  return factor === undefined ? undefined : { node: n, output: n.output(0), factor };
}

/**
 * `contribution`'s scaling by a constant, when it is one (Granite's residual multiplier): the Mul
 * producing it from a value that only it reads.
 */
export function scaledContribution(contribution: Value): { node: Node; factor: number; unscaled: Value } | undefined {
  const p = contribution.producer;
  if (p?.opType !== 'Mul' || p.domain !== '') return undefined;
  for (const i of p.inputs) {
    const s = i && scaledSublayerOutput(i);
    if (s && s.output === contribution) return { node: s.node, factor: s.factor, unscaled: i! };
  }
  return undefined;
}

/** The plain residual join every exporter writes: ONNX `Add(x, s)`. */
export const addJoin: JoinRecognizer = {
  name: 'add',
  describe: (n): SumNode | undefined => (n.opType === 'Add' && n.domain === '' && n.inputs.length === 2 ? { node: n, sum: n.output(0) } : undefined),
};

/** ONNX `Attention` (opset 23): Q, K and V come in as inputs 0, 1 and 2. */
export const onnxAttention: AttentionOp = {
  op: '::Attention',
  describe: (n) => {
    const heads = n.attrInt('q_num_heads') ?? n.attrInt('num_heads');
    return { heads, kvHeads: n.attrInt('kv_num_heads') ?? heads };
  },
};
