import type { Value } from '../../../ir/value.js';
import { constantSource } from '../../pattern/constants.js';
import { defineRule, fail, ok, type CheckContext, type Match } from '../../pattern/index.js';
import type { NormFound, Spelling } from '../spelling.js';
import { addJoin, describeGeglu, describePackedSwiglu, describeSwiglu, gegluRule, packedSwigluRule, swigluRule } from './common.js';

/**
 * torch.onnx TorchScript export of HF-style Llama (the models in ../shared/models): RMSNorm as
 * `Pow(x, 2) → ReduceMean(axes=[-1]) → Add(eps) → Sqrt → Div(1, ·) → Mul(x, ·) → Mul(weight, ·)`,
 * the weight on either side of the last Mul; fp16 exports wrap the chain in Casts to float32.
 */
export const rmsNormTorchScript = defineRule({
  name: 'rmsnorm-torchscript',
  description: 'Pow(x,2) → ReduceMean (axes attribute or input) → Add(eps) → Sqrt → Div(1,·) → Mul(x,·) → Mul(w,·), optional Casts',
  vars: ['x', 'w'],
  pattern: (op, x, w) => {
    const xc = op.optional(op.Cast(x, { as: 'xCast' }));
    const inv = op.Div(1, op.Sqrt(op.Add(meanSquare(op, xc), op.var('eps', { constant: true }))));
    const normed = op.Mul(xc, inv, { as: 'unscaled' });
    return op.Mul(w, op.optional(op.Cast(normed, { as: 'unscaledCast' })));
  },
  check: (ctx, { w, eps }) => rmsCheck(ctx, w!, eps!),
});

/**
 * The same chain without the weight: what a fused FFN group reads after ffn-fuse folded every
 * layer's scale into its weights (`x / rms(x)`).
 */
export const rmsNormUnscaledTorchScript = defineRule({
  name: 'rmsnorm-unscaled-torchscript',
  description: 'Pow(x,2) → ReduceMean → Add(eps) → Sqrt → Div(1,·) → Mul(x,·) (no weight)',
  vars: ['x'],
  pattern: (op, x) => {
    const xc = op.optional(op.Cast(x, { as: 'xCast' }));
    const inv = op.Div(1, op.Sqrt(op.Add(meanSquare(op, xc), op.var('eps', { constant: true }))));
    const normed = op.Mul(xc, inv, { as: 'unscaled' });
    return op.oneOf(op.Cast(normed, { as: 'unscaledCast' }), normed);
  },
  check: (ctx, { eps }) => (ctx.scalar(eps!) === undefined ? fail('epsilon must be a scalar constant', eps!) : ok()),
});

type Ops = Parameters<Parameters<typeof defineRule>[0]['pattern']>[0];

/**
 * `mean(x², axis=-1)`: ReduceMean with its axes as an attribute (opset ≤ 17) or as an input
 * (opset 18, what optimum's TorchScript exports at opset 18 emit); describeRms checks the axis.
 */
export function meanSquare(op: Ops, x: unknown): ReturnType<Ops['ReduceMean']> {
  const sq = op.Pow(x as never, 2);
  return op.oneOf(op.ReduceMean(sq, { attrs: { keepdims: 1 } }), op.ReduceMean(sq, op.var('axes', { constant: true }), { attrs: { keepdims: 1 } })) as never;
}

export function rmsCheck(ctx: CheckContext, w: Value, eps: Value): ReturnType<CheckContext['ok']> {
  if (ctx.scalar(eps) === undefined) return fail('epsilon must be a scalar constant', eps);
  if (!ctx.constant(w)) return fail('the norm weight must be a constant', w);
  return ok();
}

/** NormFound from an RMSNorm match binding x, w, eps, unscaled (and the optional Casts). */
export function describeRms(m: Match, ctx: { scalar(v: Value): number | undefined }): NormFound | string {
  const b = m.bindings;
  const eps = ctx.scalar(b.eps!);
  if (eps === undefined) return 'epsilon is not a scalar constant';
  const reduce = m.nodes.find((n) => n.opType === 'ReduceMean');
  const axes = reduce?.attrInts('axes') ?? (reduce?.inputs[1] ? ctx.scalar(reduce.inputs[1]) === -1 ? [-1] : undefined : undefined);
  if (!axes || axes.length !== 1 || axes[0] !== -1) return 'the mean is not over the last axis';
  return {
    kind: 'rms',
    input: b.x!,
    output: m.outputs[0]!,
    weight: b.w && (constantSource(b.w) ?? b.w),
    bias: undefined,
    epsilon: eps,
    nodes: [...m.nodes, ...m.constantNodes],
    castToFloat: b.xCast !== undefined,
    unscaled: b.unscaledCast ?? b.unscaled,
  };
}

export const torchscript: Spelling = {
  name: 'torchscript',
  description: 'torch.onnx TorchScript export of HF-style Llama (decomposed RMSNorm, SwiGLU)',
  norms: [
    { rule: rmsNormTorchScript, describe: (m) => describeRms(m, scalarReader) },
    { rule: rmsNormUnscaledTorchScript, describe: (m) => describeRms(m, scalarReader) },
  ],
  ffns: [
    { rule: swigluRule, describe: describeSwiglu },
    { rule: packedSwigluRule, describe: describePackedSwiglu },
    { rule: gegluRule, describe: describeGeglu },
  ],
  attentionOps: [],
  joins: [addJoin],
};

/** Reads a one-element constant (initializer or Constant node output). */
export const scalarReader = {
  scalar(v: Value): number | undefined {
    const t = v.constant ?? constantNodeTensor(v);
    if (!t || t.size !== 1) return undefined;
    return t.toNumbers()[0];
  },
};

function constantNodeTensor(v: Value) {
  const p = v.producer;
  if (p?.opType !== 'Constant' || p.domain !== '') return undefined;
  const a = p.attr('value');
  return a?.value && typeof a.value === 'object' && 'dims' in a.value ? a.value : undefined;
}
