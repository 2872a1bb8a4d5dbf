import { defineRule, fail, ok, type CheckContext, type PatternOps, type VarPattern } from '../../../src/passes/pattern/index.js';
import type { Value } from '../../../src/ir/value.js';

/**
 * RMSNorm as torch.onnx (TorchScript) spells it:
 * `Pow(x, 2) → ReduceMean(axes=[-1], keepdims=1) → Add(eps) → Sqrt → Div(1, ·) → Mul(x, ·) → Mul(weight, ·)`.
 * Mul and Add are commutative in patterns, so the weight may be either input of the last Mul.
 */
const rmsNormPattern = (op: PatternOps, x: VarPattern<'x'>, w: VarPattern<'w'>) =>
  op.Mul(w, op.Mul(x, op.Div(1, op.Sqrt(op.Add(op.ReduceMean(op.Pow(x, 2), { attrs: { keepdims: 1, axes: [-1] } }), op.var('eps', { constant: true }))))));

const rmsNormCheck = (ctx: CheckContext, { w, eps }: { w: Value; eps: Value }) => {
  if (ctx.scalar(eps) === undefined) return fail('epsilon must be a scalar constant', eps);
  if (!ctx.constant(w)) return fail('the weight must be an initializer', w);
  return ok();
};

export const rmsNormTorchScript = defineRule({
  name: 'rmsnorm-torchscript',
  vars: ['x', 'w'],
  pattern: rmsNormPattern,
  check: rmsNormCheck,
});

/** The same match, rewritten to an equivalent opset-17 spelling: `(x · Reciprocal(Sqrt(ReduceMean(x·x) + eps))) · w`. */
export const rmsNormToReciprocal = defineRule({
  name: 'rmsnorm-to-reciprocal',
  vars: ['x', 'w'],
  pattern: rmsNormPattern,
  check: rmsNormCheck,
  rewrite: (op, { x, w, eps }) => {
    const meanSquare = op.ReduceMean(op.Mul(x, x), { attrs: { axes: [-1], keepdims: 1 } });
    const inv = op.Reciprocal(op.Sqrt(op.Add(meanSquare, eps)));
    return op.Mul(op.Mul(x, inv), w);
  },
});
