import { Attribute } from '../../../src/ir/attribute.js';
import { GraphBuilder } from '../../../src/ir/builder.js';
import { DataType } from '../../../src/ir/dtype.js';
import { Tensor } from '../../../src/ir/tensor.js';
import type { Value } from '../../../src/ir/value.js';

/** A float32 Constant node output, the way torch.onnx spells scalars. */
export function constantNode(b: GraphBuilder, name: string, values: number[], dims: number[] = []): Value {
  return b.op('Constant', [], { value: Attribute.tensor('value', Tensor.fromArray(name, DataType.FLOAT, dims, Float32Array.from(values))) }, { name });
}

export interface RmsOptions {
  /** The weight as input 0 of the last Mul (torch.onnx order) or input 1. */
  weightFirst?: boolean;
  /** How eps is spelled: a Constant node (torch.onnx), an initializer, a computed value, or a 2-element constant. */
  eps?: 'constant-node' | 'initializer' | 'computed' | 'two-elements';
  keepdims?: number;
  prefix?: string;
}

/**
 * One torch.onnx-style RMSNorm over graph input `x` (hidden 4), as in layer 0 of the real export:
 * `Pow(x,2) → ReduceMean → Add(eps) → Sqrt → Div(1,·) → Mul(x,·) → Mul(w,·)`, output `y`.
 */
export function rmsNormGraph(options: RmsOptions = {}) {
  const p = options.prefix ?? '/model/layers.0/input_layernorm/';
  const b = new GraphBuilder();
  const x = b.input('x', DataType.FLOAT, [1, 3, 4]);
  const w = b.floats('model.layers.0.input_layernorm.weight', [0.5, 1, 1.5, 2]);
  const two = constantNode(b, `${p}Constant`, [2]);
  const pow = b.op('Pow', [x, two], {}, { name: `${p}Pow` });
  const mean = b.op('ReduceMean', [pow], { axes: [-1], keepdims: options.keepdims ?? 1 }, { name: `${p}ReduceMean` });
  let eps: Value;
  switch (options.eps ?? 'constant-node') {
    case 'constant-node':
      eps = constantNode(b, `${p}Constant_1`, [1e-5]);
      break;
    case 'initializer':
      eps = b.floats('eps', [1e-5], []);
      break;
    case 'computed':
      eps = b.op('Sqrt', [b.input('eps_squared', DataType.FLOAT, [])], {}, { name: `${p}eps_sqrt` });
      break;
    case 'two-elements':
      eps = constantNode(b, `${p}Constant_1`, [1e-5, 1e-5], [2]);
      break;
  }
  const add = b.op('Add', [mean, eps], {}, { name: `${p}Add` });
  const sqrt = b.op('Sqrt', [add], {}, { name: `${p}Sqrt` });
  const one = constantNode(b, `${p}Constant_2`, [1]);
  const div = b.op('Div', [one, sqrt], {}, { name: `${p}Div` });
  const mul = b.op('Mul', [x, div], {}, { name: `${p}Mul` });
  const y = b.op('Mul', options.weightFirst === false ? [mul, w] : [w, mul], {}, { name: `${p}Mul_1` });
  b.setType(y, DataType.FLOAT, [1, 3, 4]);
  b.output(y, 'y');
  return { model: b.build(), x, w, eps, y, b };
}

export function float32Input(name: string, b: GraphBuilder, shape: (number | string)[] = [2, 3]): Value {
  return b.input(name, DataType.FLOAT, shape);
}
