import { DataType } from '../../ir/dtype.js';
import type { Dim } from '../../ir/types.js';
import { ONNX, axesOf, normAxis, sameAs, type InferContext, type OutputInfo, type RuleEntry, type ShapeRule } from './context.js';
import { broadcastShapes, dimAdd, dimMul } from './dims.js';
import type { Node } from '../../ir/node.js';

/** numpy.matmul shape rule (1-D operands promoted and their dim dropped again). */
export function matmulShape(a: readonly Dim[] | undefined, b: readonly Dim[] | undefined): Dim[] | undefined {
  if (!a || !b || a.length === 0 || b.length === 0) return undefined;
  const a2 = a.length === 1 ? [1, a[0]!] : a;
  const b2 = b.length === 1 ? [b[0]!, 1] : b;
  const batch = broadcastShapes([a2.slice(0, -2), b2.slice(0, -2)]);
  if (!batch) return undefined;
  const out: Dim[] = [...batch];
  if (a.length > 1) out.push(a2[a2.length - 2]!);
  if (b.length > 1) out.push(b2[b2.length - 1]!);
  return out;
}

/** Swaps the last two dims (FusedMatMul/Gemm transposition flags). */
export function transposeLast(s: readonly Dim[] | undefined, flag: boolean): readonly Dim[] | undefined {
  if (!s || !flag || s.length < 2) return s;
  return [...s.slice(0, -2), s[s.length - 1]!, s[s.length - 2]!];
}

const matmul: ShapeRule = (node, ctx) => [{ dtype: ctx.dtype(node.input(0)), shape: matmulShape(ctx.shape(node.input(0)), ctx.shape(node.input(1))) }];

const matmulInteger: ShapeRule = (node, ctx) => [{ dtype: DataType.INT32, shape: matmulShape(ctx.shape(node.input(0)), ctx.shape(node.input(1))) }];

const gemm: ShapeRule = (node, ctx) => {
  const a = transposeLast(ctx.shape(node.input(0)), node.attrInt('transA', 0) === 1);
  const b = transposeLast(ctx.shape(node.input(1)), node.attrInt('transB', 0) === 1);
  const dtype = ctx.dtype(node.input(0));
  if (!a || !b || a.length !== 2 || b.length !== 2) return [{ dtype }];
  return [{ dtype, shape: [a[0]!, b[1]!] }];
};

/** Reduced shape; axes from the attribute or (newer opsets) the second input. */
function reduceShape(node: Node, ctx: InferContext, s: readonly Dim[] | undefined): readonly Dim[] | undefined {
  if (!s) return undefined;
  const keep = node.attrInt('keepdims', 1) === 1;
  const axes = axesOf(node, ctx, 1);
  if (axes === null) return keep ? s.map(() => null) : undefined;
  if (!axes || axes.length === 0) {
    if (node.attrInt('noop_with_empty_axes', 0) === 1) return s;
    return keep ? s.map(() => 1) : [];
  }
  const norm = axes.map((a) => normAxis(a, s.length));
  if (norm.some((a) => a === undefined)) return undefined;
  return keep ? s.map((d, i) => (norm.includes(i) ? 1 : d)) : s.filter((_, i) => !norm.includes(i));
}

const reduce: ShapeRule = (node, ctx) => {
  const x = node.input(0);
  const s = ctx.shape(x);
  const out = reduceShape(node, ctx, s);
  // Sum/product of a tracked 1-D vector (element counts in shape arithmetic).
  const v = ctx.value(x);
  if (v && v.shape.length === 1 && out && out.length <= 1 && (node.opType === 'ReduceSum' || node.opType === 'ReduceProd')) {
    const f = node.opType === 'ReduceSum' ? dimAdd : dimMul;
    const r = v.data.reduce<Dim>((acc, d) => f(acc, d), node.opType === 'ReduceSum' ? 0 : 1);
    ctx.setValue(node.outputs[0], out.length === 0 ? { shape: [], data: [r] } : { shape: [1], data: [r] });
  }
  return [{ dtype: ctx.dtype(x), shape: out }];
};

const argReduce: ShapeRule = (node, ctx) => {
  const s = ctx.shape(node.input(0));
  if (!s) return [{ dtype: DataType.INT64 }];
  const axis = normAxis(node.attrInt('axis', 0)!, s.length);
  if (axis === undefined) return [{ dtype: DataType.INT64 }];
  const keep = node.attrInt('keepdims', 1) === 1;
  return [{ dtype: DataType.INT64, shape: keep ? s.map((d, i) => (i === axis ? 1 : d)) : s.filter((_, i) => i !== axis) }];
};

/** X's shape with every dim from `axis` on set to 1 (saved mean / inverse std outputs of norms). */
export function statsShape(s: readonly Dim[] | undefined, axis: number): Dim[] | undefined {
  if (!s) return undefined;
  const a = normAxis(axis, s.length);
  if (a === undefined) return undefined;
  return s.map((d, i) => (i >= a ? 1 : d));
}

const layerNorm: ShapeRule = (node, ctx) => {
  const x = sameAs(ctx, node.input(0));
  const stash = (node.attrInt('stash_type', 1) as DataType) ?? DataType.FLOAT;
  const stats: OutputInfo = { dtype: stash, shape: statsShape(x?.shape, node.attrInt('axis', -1)!) };
  return [x, stats, stats];
};

const passThrough: ShapeRule = (node, ctx) => [sameAs(ctx, node.input(0))];

export const NN_RULES: RuleEntry[] = [
  [ONNX, ['MatMul'], matmul],
  [ONNX, ['MatMulInteger'], matmulInteger],
  [ONNX, ['Gemm'], gemm],
  [
    ONNX,
    ['ReduceMean', 'ReduceSum', 'ReduceMax', 'ReduceMin', 'ReduceProd', 'ReduceL1', 'ReduceL2', 'ReduceLogSum', 'ReduceLogSumExp', 'ReduceSumSquare'],
    reduce,
  ],
  [ONNX, ['ArgMax', 'ArgMin'], argReduce],
  [ONNX, ['Softmax', 'LogSoftmax', 'Hardmax'], passThrough],
  [ONNX, ['LayerNormalization'], layerNorm],
  [ONNX, ['RMSNormalization', 'GroupNormalization', 'BatchNormalization', 'InstanceNormalization', 'LpNormalization', 'MeanVarianceNormalization'], passThrough],
];
