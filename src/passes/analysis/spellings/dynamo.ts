import { defineRule, fail, ok } from '../../pattern/index.js';
import type { Spelling } from '../spelling.js';
import { addJoin, describePackedSwiglu, describeSwiglu, packedSplitSwigluRule, swigluRule } from './common.js';
import { describeRms, rmsCheck, scalarReader } from './torchscript.js';

/**
 * torch.onnx dynamo exporter: the same math, with rsqrt as `Reciprocal(Sqrt(·))`, ReduceMean's
 * axes as an input (opset 18), and linear weights stored [out, in] behind `Transpose(W, [1, 0])`
 * (handled by `matmulWeight`). KV names `past_key_values_{i}_0/_1`.
 */
const inverseRms = (op: Parameters<Parameters<typeof defineRule>[0]['pattern']>[0], xc: never) =>
  op.Reciprocal(op.Sqrt(op.Add(op.ReduceMean(op.Pow(xc, 2), op.var('axes', { constant: true }), { attrs: { keepdims: 1 } }), op.var('eps', { constant: true }))));

export const rmsNormDynamo = defineRule({
  name: 'rmsnorm-dynamo',
  description: 'Pow(x,2) → ReduceMean(axes input) → Add(eps) → Sqrt → Reciprocal → Mul(x,·) → Mul(w,·), optional Casts',
  vars: ['x', 'w'],
  pattern: (op, x, w) => {
    const xc = op.optional(op.Cast(x, { as: 'xCast' }));
    const normed = op.Mul(xc, inverseRms(op, xc as never), { as: 'unscaled' });
    return op.Mul(w, op.optional(op.Cast(normed, { as: 'unscaledCast' })));
  },
  check: (ctx, { w, eps, axes }) => {
    const a = ctx.numbers(axes);
    if (!a || a.length !== 1 || a[0] !== -1) return fail('the mean is not over the last axis', axes);
    return rmsCheck(ctx, w, eps);
  },
});

export const rmsNormUnscaledDynamo = defineRule({
  name: 'rmsnorm-unscaled-dynamo',
  description: 'the dynamo RMSNorm chain without the weight (what a fused FFN group reads)',
  vars: ['x'],
  pattern: (op, x) => {
    const xc = op.optional(op.Cast(x, { as: 'xCast' }));
    const normed = op.Mul(xc, inverseRms(op, xc as never), { as: 'unscaled' });
    return op.oneOf(op.Cast(normed, { as: 'unscaledCast' }), normed);
  },
  check: (ctx, { eps }) => (ctx.scalar(eps) === undefined ? fail('epsilon must be a scalar constant', eps) : ok()),
});

/** ReduceMean reads its axes from input 1 here; describeRms checks the attribute or that input. */
export const dynamo: Spelling = {
  name: 'dynamo',
  description: 'torch.onnx dynamo export (Reciprocal(Sqrt), ReduceMean axes input, Transpose(W) → MatMul)',
  norms: [
    { rule: rmsNormDynamo, describe: (m) => describeRms(m, scalarReader) },
    { rule: rmsNormUnscaledDynamo, describe: (m) => describeRms(m, scalarReader) },
  ],
  ffns: [
    { rule: swigluRule, describe: describeSwiglu },
    { rule: packedSplitSwigluRule, describe: describePackedSwiglu },
  ],
  attentionOps: [],
  joins: [addJoin],
};
