import { describe, expect, it } from 'vitest';
import { GraphBuilder, type AttrInput } from '../../../src/ir/builder.js';
import { DataType, type TypedArray } from '../../../src/ir/dtype.js';
import { numberToFloat16, Tensor } from '../../../src/ir/tensor.js';
import { evaluateNode } from '../../../src/passes/canonicalize/evaluator/index.js';
import { evaluateWithOrt } from '../../../src/passes/canonicalize/fold-constants.js';

/**
 * The TypeScript evaluator must agree with onnxruntime bit for bit: every case runs through both.
 */

const T = (dtype: DataType, dims: number[], data: TypedArray) => Tensor.fromArray('t', dtype, dims, data);
const f32 = (dims: number[], v: number[]) => T(DataType.FLOAT, dims, Float32Array.from(v));
const f64 = (dims: number[], v: number[]) => T(DataType.DOUBLE, dims, Float64Array.from(v));
const i64 = (dims: number[], v: (number | bigint)[]) => T(DataType.INT64, dims, BigInt64Array.from(v, (x) => BigInt(x)));
const i32 = (dims: number[], v: number[]) => T(DataType.INT32, dims, Int32Array.from(v));
const i8 = (dims: number[], v: number[]) => T(DataType.INT8, dims, Int8Array.from(v));
const u8 = (dims: number[], v: number[]) => T(DataType.UINT8, dims, Uint8Array.from(v));
const bool = (dims: number[], v: number[]) => T(DataType.BOOL, dims, Uint8Array.from(v));
const f16 = (dims: number[], v: number[]) => T(DataType.FLOAT16, dims, Uint16Array.from(v, numberToFloat16));

interface Case {
  op: string;
  inputs: (Tensor | undefined)[];
  attrs?: Record<string, AttrInput>;
  opset?: number;
  outputs?: number;
  floatAttrs?: string[];
}

const seq = (n: number, f: (i: number) => number) => Array.from({ length: n }, (_, i) => f(i));
const INT64_MAX = 2n ** 63n - 1n;

const CASES: Record<string, Case> = {
  'Add f32 broadcast': { op: 'Add', inputs: [f32([2, 3], seq(6, (i) => i * 0.1)), f32([3], [0.3, 1e-8, -7.7])] },
  'Sub f64': { op: 'Sub', inputs: [f64([3], [0.1, 0.2, 1e300]), f64([1], [0.3])] },
  'Mul f32 inexact': { op: 'Mul', inputs: [f32([4], [0.1, 3.3, 1e20, -0]), f32([4], [0.7, 1 / 3, 1e20, 5])] },
  'Div f32 by zero': { op: 'Div', inputs: [f32([4], [1, -1, 0, 2.5]), f32([4], [0, 0, 0, 0.3])] },
  'Add i32 wraps': { op: 'Add', inputs: [i32([2], [2 ** 31 - 1, -(2 ** 31)]), i32([2], [1, -1])] },
  'Mul i32 wraps': { op: 'Mul', inputs: [i32([2], [123456789, -98765]), i32([2], [987654321, 43210])] },
  'Div i32 truncates': { op: 'Div', inputs: [i32([4], [-7, 7, -7, 1]), i32([4], [2, -2, -2, 3])] },
  'Mul i64 big': { op: 'Mul', inputs: [i64([2], [2n ** 40n + 3n, -(2n ** 33n)]), i64([2], [2n ** 30n, 2n ** 31n + 1n])] },
  'Div i64 truncates': { op: 'Div', inputs: [i64([3], [-7, INT64_MAX, 9]), i64([1], [2])] },
  'Add i8 wraps': { op: 'Add', inputs: [i8([2], [127, -128]), i8([2], [1, -1])] },
  'Sub u8 wraps': { op: 'Sub', inputs: [u8([2], [0, 200]), u8([2], [1, 100])] },
  'Equal f32 NaN': { op: 'Equal', inputs: [f32([3], [NaN, 0, 1]), f32([3], [NaN, -0, 2])] },
  'Equal i64': { op: 'Equal', inputs: [i64([2, 2], [1, 2, 3, 4]), i64([2], [1, 4])] },
  'Less f32': { op: 'Less', inputs: [f32([3], [NaN, -1, 2]), f32([1], [0])] },
  'Greater i32': { op: 'Greater', inputs: [i32([3], [-1, 0, 5]), i32([], [0])] },
  'Where broadcast': { op: 'Where', inputs: [bool([2, 1], [1, 0]), i64([3], [1, 2, 3]), i64([2, 3], [7, 8, 9, 10, 11, 12])] },
  'Where f16': { op: 'Where', inputs: [bool([2], [1, 0]), f16([2], [1.5, 2]), f16([2], [-3, 0.1])] },
  And: { op: 'And', inputs: [bool([4], [0, 0, 1, 1]), bool([4], [0, 1, 0, 1])] },
  Or: { op: 'Or', inputs: [bool([4], [0, 0, 1, 1]), bool([4], [0, 1, 0, 1])] },
  Xor: { op: 'Xor', inputs: [bool([4], [0, 0, 1, 1]), bool([4], [0, 1, 0, 1])] },
  Not: { op: 'Not', inputs: [bool([2], [0, 1])] },
  'Neg i32': { op: 'Neg', inputs: [i32([3], [5, -(2 ** 31), 0])] },
  'Neg f32': { op: 'Neg', inputs: [f32([3], [5, 0, NaN])] },
  'Abs i64': { op: 'Abs', inputs: [i64([2], [-5, 7])] },
  'Sqrt f32': { op: 'Sqrt', inputs: [f32([4], [2, 0.1, 1e10, 3])] },
  'Floor f32': { op: 'Floor', inputs: [f32([3], [-1.5, 2.7, -0.2])] },
  'Ceil f64': { op: 'Ceil', inputs: [f64([3], [-1.5, 2.7, -0.2])] },
  'Max i64 variadic': { op: 'Max', inputs: [i64([2], [1, 9]), i64([], [5]), i64([2, 1], [0, 10])] },
  'Min i32': { op: 'Min', inputs: [i32([3], [1, -9, 4]), i32([3], [2, -10, 4])] },
  'Cast f32→i32 truncates': { op: 'Cast', inputs: [f32([4], [-1.7, 2.9, 1e9, -0.5])], attrs: { to: DataType.INT32 } },
  'Cast f64→f32 rounds': { op: 'Cast', inputs: [f64([3], [0.1, 1 / 3, 1e-40])], attrs: { to: DataType.FLOAT } },
  'Cast i64→f32': { op: 'Cast', inputs: [i64([3], [16777217, -3, 2 ** 40 + 1])], attrs: { to: DataType.FLOAT } },
  'Cast i32→i8 wraps': { op: 'Cast', inputs: [i32([3], [300, -129, 5])], attrs: { to: DataType.INT8 } },
  'Cast i64→i32 wraps': { op: 'Cast', inputs: [i64([2], [2n ** 33n + 5n, -(2n ** 35n) - 1n])], attrs: { to: DataType.INT32 } },
  'Cast f32→bool': { op: 'Cast', inputs: [f32([4], [0, -0, 0.1, NaN])], attrs: { to: DataType.BOOL } },
  'Cast bool→f32': { op: 'Cast', inputs: [bool([2], [0, 1])], attrs: { to: DataType.FLOAT } },
  'Cast u8→i64': { op: 'Cast', inputs: [u8([2], [255, 3])], attrs: { to: DataType.INT64 } },
  'Cast i32→f64': { op: 'Cast', inputs: [i32([2], [-(2 ** 31), 7])], attrs: { to: DataType.DOUBLE } },
  CastLike: { op: 'CastLike', inputs: [i64([2], [3, -4]), f32([], [0])], opset: 15 },
  Shape: { op: 'Shape', inputs: [f32([2, 3, 0], [])] },
  'Shape start/end': { op: 'Shape', inputs: [f32([2, 3, 4, 5], seq(120, (i) => i))], attrs: { start: 1, end: -1 }, opset: 15 },
  Size: { op: 'Size', inputs: [f32([2, 3], seq(6, (i) => i))] },
  Identity: { op: 'Identity', inputs: [i64([2], [1, 2])] },
  'Reshape 0 and -1': { op: 'Reshape', inputs: [f32([2, 3, 4], seq(24, (i) => i)), i64([3], [0, -1, 2])] },
  Flatten: { op: 'Flatten', inputs: [f32([2, 3, 4], seq(24, (i) => i))], attrs: { axis: 2 } },
  'Unsqueeze opset 13': { op: 'Unsqueeze', inputs: [f32([3], [1, 2, 3]), i64([2], [0, -1])], opset: 13 },
  'Unsqueeze opset 11': { op: 'Unsqueeze', inputs: [i64([], [4])], attrs: { axes: [0] }, opset: 11 },
  'Squeeze axes': { op: 'Squeeze', inputs: [f32([1, 3, 1], [1, 2, 3]), i64([1], [-1])], opset: 13 },
  'Squeeze all': { op: 'Squeeze', inputs: [f32([1, 3, 1], [1, 2, 3])], opset: 13 },
  'Transpose 3d': { op: 'Transpose', inputs: [f32([2, 3, 4], seq(24, (i) => i))], attrs: { perm: [2, 0, 1] } },
  'Transpose default f16': { op: 'Transpose', inputs: [f16([2, 3], [1, 2, 3, 4, 5, 6])] },
  Concat: { op: 'Concat', inputs: [i64([2, 1], [1, 2]), i64([2, 0], []), i64([2, 2], [3, 4, 5, 6])], attrs: { axis: -1 } },
  'Gather axis 1': { op: 'Gather', inputs: [f32([2, 3], seq(6, (i) => i)), i64([2, 2], [0, -1, 2, 1])], attrs: { axis: 1 } },
  'Gather scalar': { op: 'Gather', inputs: [i64([4], [10, 20, 30, 40]), i32([], [-2])] },
  'Slice clamps': { op: 'Slice', inputs: [f32([3, 4], seq(12, (i) => i)), i64([2], [1, -100]), i64([2], [INT64_MAX, 3])] },
  'Slice negative step': { op: 'Slice', inputs: [f32([3, 4], seq(12, (i) => i)), i64([2], [-1, 10]), i64([2], [-INT64_MAX, -10]), i64([2], [0, 1]), i64([2], [-2, -1])] },
  'Slice opset 9 attrs': { op: 'Slice', inputs: [f32([3, 4], seq(12, (i) => i))], attrs: { starts: [1], ends: [3], axes: [1] }, opset: 9 },
  Expand: { op: 'Expand', inputs: [f32([3, 1], [1, 2, 3]), i64([3], [2, 1, 4])] },
  Tile: { op: 'Tile', inputs: [i32([2, 2], [1, 2, 3, 4]), i64([2], [2, 3])] },
  'ConstantOfShape int64': { op: 'ConstantOfShape', inputs: [i64([2], [2, 3])], attrs: { value: i64([1], [7]) } },
  'ConstantOfShape default': { op: 'ConstantOfShape', inputs: [i64([1], [4])] },
  'Range i64': { op: 'Range', inputs: [i64([], [10]), i64([], [-3]), i64([], [-4])] },
  'Range f32': { op: 'Range', inputs: [f32([], [0.1]), f32([], [2.35]), f32([], [0.3])] },
  'Range i32 empty': { op: 'Range', inputs: [i32([], [5]), i32([], [1]), i32([], [1])] },
};

describe('the TypeScript evaluator agrees with onnxruntime', () => {
  for (const [label, c] of Object.entries(CASES)) {
    it(label, async () => {
      const opset = c.opset ?? 17;
      const b = new GraphBuilder(undefined, [{ domain: '', version: opset }]);
      const node = b.node(c.op, [], c.attrs ?? {}, { outputs: ['out'], floatAttrs: c.floatAttrs });
      const model = b.build();
      const mine = evaluateNode(node, c.inputs, { opset, maxElements: 1 << 20 });
      expect(mine.kind, mine.kind === 'unsupported' ? mine.reason : '').toBe('ok');
      const ort = await evaluateWithOrt(model, node, c.inputs);
      expect(ort).toBeDefined();
      const a = (mine as { outputs: Tensor[] }).outputs[0]!;
      const o = ort![0]!;
      expect(a.dtype).toBe(o.dtype);
      expect([...a.dims]).toEqual([...o.dims]);
      expect(Buffer.from(a.bytes()).toString('hex')).toBe(Buffer.from(o.bytes()).toString('hex'));
    });
  }

  it('declines what it cannot reproduce exactly, so onnxruntime gets it', () => {
    const b = new GraphBuilder();
    const cases: [string, (Tensor | undefined)[], Record<string, AttrInput>][] = [
      ['Exp', [f32([1], [1])], {}],
      ['Add', [f16([1], [1]), f16([1], [2])], {}],
      ['Div', [i32([1], [1]), i32([1], [0])], {}],
      ['Cast', [f32([1], [1e10])], { to: DataType.INT32 }],
      ['Cast', [f32([1], [NaN])], { to: DataType.INT64 }],
      ['Max', [f32([1], [NaN]), f32([1], [1])], {}],
      ['Gather', [f32([2], [1, 2]), i64([1], [2])], {}],
    ];
    for (const [op, inputs, attrs] of cases) {
      const n = b.node(op, [], attrs);
      expect(evaluateNode(n, inputs, { opset: 17, maxElements: 100 }).kind, op).toBe('unsupported');
    }
    const big = b.node('ConstantOfShape', []);
    expect(evaluateNode(big, [i64([2], [100, 100])], { opset: 17, maxElements: 100 })).toEqual({ kind: 'too-large', elements: 10000 });
  });
});
