import { defineRule, type Match } from '../../pattern/index.js';
import type { FfnFound } from '../spelling.js';
import { matmulWeight, producerIn } from '../spelling.js';

/**
 * SwiGLU as torch.onnx (both exporters) and the genai builder spell it:
 * `down(silu(gate(z)) * up(z))` with silu = `x * Sigmoid(x)`. Weights may be initializers,
 * behind a Transpose, or MatMulNBits packs; the rule leaves that to `matmulWeight`.
 */
export const swigluRule = defineRule({
  name: 'swiglu',
  description: 'down(silu(gate(z)) * up(z)), silu(x) = x * Sigmoid(x)',
  vars: ['z'],
  pattern: (op, z) => {
    const proj = (as: string) =>
      op.oneOf(
        op.MatMul(z, op.any(), { as: `${as}` }),
        op.call('MatMulNBits', [z, op.any(), op.any()], { domain: 'com.microsoft', allowOtherInputs: true, as: `${as}Q` }),
      );
    const g = proj('gateOut');
    const silu = op.Mul(g, op.Sigmoid(g));
    const up = proj('upOut');
    return op.oneOf(
      op.MatMul(op.Mul(silu, up), op.any(), { as: 'downOut' }),
      op.call('MatMulNBits', [op.Mul(silu, up), op.any(), op.any()], { domain: 'com.microsoft', allowOtherInputs: true, as: 'downOutQ' }),
    );
  },
});

export function describeSwiglu(m: Match): FfnFound | string {
  const b = m.bindings;
  const node = (k: string) => producerIn(m, b[k] ?? b[`${k}Q`]);
  const gate = matmulWeight(node('gateOut'));
  const up = matmulWeight(node('upOut'));
  const down = matmulWeight(node('downOut'));
  if (!gate || !up || !down) return 'the gate, up or down projection weight is not a constant initializer';
  return {
    input: b.z!,
    output: m.outputs[0]!,
    kind: 'swiglu',
    gate,
    up,
    down,
    upBias: undefined,
    downBias: undefined,
    activation: 'silu',
    nodes: [...m.nodes],
  };
}
