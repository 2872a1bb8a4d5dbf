import { AttributeType } from '../../ir/attribute.js';
import { DataType, isFloatType } from '../../ir/dtype.js';
import type { Node } from '../../ir/node.js';
import type { Tensor } from '../../ir/tensor.js';
import type { Dim } from '../../ir/types.js';
import {
  MAX_TRACKED,
  ONNX,
  INT_TYPES,
  axesOf,
  normAxis,
  sameAs,
  sizeOf,
  symElementwise,
  symFromTensor,
  symInts,
  symScalar,
  symVector,
  type InferContext,
  type RuleEntry,
  type ShapeRule,
  type SymTensor,
} from './context.js';
import { broadcastShapes, dimAdd, dimDivExact, dimMul, dimProduct, dimSub, isHugeIndex, mergeDim, solveReshapeUnknown } from './dims.js';

/** A rank-n tensor with every dim unknown, from a 1-D shape-like input whose length is known. */
function unknownOfLength(ctx: InferContext, node: Node, i: number): Dim[] | undefined {
  const s = ctx.shape(node.input(i));
  const n = s?.length === 1 ? s[0] : undefined;
  return typeof n === 'number' ? new Array<Dim>(n).fill(null) : undefined;
}

/** Tracked contents with a new shape (Reshape/Unsqueeze/Squeeze/Flatten keep the element order). */
function reshaped(ctx: InferContext, node: Node, shape: readonly Dim[] | undefined): void {
  const s = ctx.value(node.input(0));
  if (!s || !shape || !shape.every((d) => typeof d === 'number')) return;
  if (sizeOf(shape as number[]) !== s.data.length) return;
  ctx.setValue(node.outputs[0], { shape: shape as number[], data: s.data });
}

// ---- Constant / Shape / Size / Cast ----------------------------------------------------------

const constant: ShapeRule = (node, ctx) => {
  const attr = node.attributes[0];
  if (!attr) return;
  switch (attr.name) {
    case 'value': {
      if (attr.type !== AttributeType.TENSOR) return;
      const t = attr.value as Tensor;
      ctx.setValue(node.outputs[0], symFromTensor(t));
      return [{ dtype: t.dtype, shape: t.dims }];
    }
    case 'value_int':
      ctx.setValue(node.outputs[0], symScalar(attr.value as number));
      return [{ dtype: DataType.INT64, shape: [] }];
    case 'value_ints': {
      const v = attr.value as number[];
      ctx.setValue(node.outputs[0], symVector(v));
      return [{ dtype: DataType.INT64, shape: [v.length] }];
    }
    case 'value_float':
      ctx.setValue(node.outputs[0], symScalar(attr.value as number));
      return [{ dtype: DataType.FLOAT, shape: [] }];
    case 'value_floats': {
      const v = attr.value as number[];
      ctx.setValue(node.outputs[0], symVector(v));
      return [{ dtype: DataType.FLOAT, shape: [v.length] }];
    }
    case 'value_string':
      return [{ dtype: DataType.STRING, shape: [] }];
    case 'value_strings':
      return [{ dtype: DataType.STRING, shape: [(attr.value as string[]).length] }];
    default:
      return;
  }
};

const shapeOp: ShapeRule = (node, ctx) => {
  const s = ctx.shape(node.input(0));
  if (!s) return [{ dtype: DataType.INT64, shape: [null] }];
  const r = s.length;
  const clamp = (x: number) => Math.min(Math.max(x < 0 ? x + r : x, 0), r);
  const start = clamp(node.attrInt('start', 0)!);
  const end = clamp(node.attrInt('end', r)!);
  const dims = s.slice(start, Math.max(start, end));
  ctx.setValue(node.outputs[0], symVector(dims));
  return [{ dtype: DataType.INT64, shape: [dims.length] }];
};

const size: ShapeRule = (node, ctx) => {
  const s = ctx.shape(node.input(0));
  if (s) ctx.setValue(node.outputs[0], symScalar(dimProduct(s)));
  return [{ dtype: DataType.INT64, shape: [] }];
};

function castElement(to: DataType): (d: Dim) => Dim {
  if (to === DataType.BOOL) return (d) => (typeof d === 'number' ? (d !== 0 ? 1 : 0) : null);
  if (INT_TYPES.has(to)) return (d) => (typeof d === 'number' ? Math.trunc(d) : d);
  if (isFloatType(to)) return (d) => d;
  return () => null;
}

const cast: ShapeRule = (node, ctx) => {
  const to = node.attrInt('to') as DataType | undefined;
  const s = ctx.value(node.input(0));
  if (s && to !== undefined) ctx.setValue(node.outputs[0], symElementwise([s], castElement(to)));
  return [{ dtype: to, shape: ctx.shape(node.input(0)) }];
};

const castLike: ShapeRule = (node, ctx) => {
  const to = ctx.dtype(node.input(1));
  const s = ctx.value(node.input(0));
  if (s && to !== undefined) ctx.setValue(node.outputs[0], symElementwise([s], castElement(to)));
  return [{ dtype: to, shape: ctx.shape(node.input(0)) }];
};

// ---- Reshape family --------------------------------------------------------------------------

const reshape: ShapeRule = (node, ctx) => {
  const x = node.input(0);
  const inShape = ctx.shape(x);
  const dtype = ctx.dtype(x);
  const attrShape = node.attrInts('shape'); // opset < 5
  const target: SymTensor | undefined = attrShape ? symVector(attrShape) : ctx.value(node.input(1));
  if (!target || target.shape.length !== 1) return [{ dtype, shape: unknownOfLength(ctx, node, 1) }];
  const allowzero = node.attrInt('allowzero', 0) === 1;
  let minusOne = -1;
  const out: Dim[] = target.data.map((d, i) => {
    if (d === 0 && !allowzero) return inShape && i < inShape.length ? inShape[i]! : null;
    if (d === -1) {
      minusOne = i;
      return null;
    }
    if (typeof d === 'number' && d < 0) return null;
    return d;
  });
  if (minusOne >= 0 && inShape) out[minusOne] = solveReshapeUnknown(inShape, out.filter((_, i) => i !== minusOne));
  reshaped(ctx, node, out);
  return [{ dtype, shape: out }];
};

const flatten: ShapeRule = (node, ctx) => {
  const s = ctx.shape(node.input(0));
  const dtype = ctx.dtype(node.input(0));
  if (!s) return [{ dtype, shape: [null, null] }];
  const axis = node.attrInt('axis', 1)!;
  const a = axis < 0 ? axis + s.length : axis;
  const out = [dimProduct(s.slice(0, a)), dimProduct(s.slice(a))];
  reshaped(ctx, node, out);
  return [{ dtype, shape: out }];
};

const unsqueeze: ShapeRule = (node, ctx) => {
  const s = ctx.shape(node.input(0));
  const dtype = ctx.dtype(node.input(0));
  const axes = axesOf(node, ctx, 1);
  if (!s || !axes) return [{ dtype }];
  const rank = s.length + axes.length;
  const norm = axes.map((a) => normAxis(a, rank));
  if (norm.some((a) => a === undefined) || new Set(norm).size !== norm.length) return [{ dtype }];
  const out: Dim[] = [];
  let j = 0;
  for (let i = 0; i < rank; i++) out.push(norm.includes(i) ? 1 : s[j++]!);
  reshaped(ctx, node, out);
  return [{ dtype, shape: out }];
};

const squeeze: ShapeRule = (node, ctx) => {
  const s = ctx.shape(node.input(0));
  const dtype = ctx.dtype(node.input(0));
  const axes = axesOf(node, ctx, 1);
  if (!s || axes === null) return [{ dtype }];
  let out: Dim[];
  if (!axes || axes.length === 0) {
    // Drops every dim of size 1; a symbolic dim is taken to be other than 1, an unknown one blocks it.
    if (s.some((d) => d === null)) return [{ dtype }];
    out = s.filter((d) => d !== 1);
  } else {
    const norm = axes.map((a) => normAxis(a, s.length));
    if (norm.some((a) => a === undefined)) return [{ dtype }];
    out = s.filter((_, i) => !norm.includes(i));
  }
  reshaped(ctx, node, out);
  return [{ dtype, shape: out }];
};

const transpose: ShapeRule = (node, ctx) => {
  const s = ctx.shape(node.input(0));
  const dtype = ctx.dtype(node.input(0));
  if (!s) return [{ dtype }];
  const perm = node.attrInts('perm') ?? s.map((_, i) => s.length - 1 - i);
  if (perm.length !== s.length) return [{ dtype }];
  const v = ctx.value(node.input(0));
  if (v && v.shape.length <= 1) ctx.setValue(node.outputs[0], v);
  return [{ dtype, shape: perm.map((p) => s[p] ?? null) }];
};

const expand: ShapeRule = (node, ctx) => {
  const s = ctx.shape(node.input(0));
  const dtype = ctx.dtype(node.input(0));
  const target = ctx.value(node.input(1));
  if (!target || target.shape.length !== 1) {
    const n = unknownOfLength(ctx, node, 1)?.length;
    if (!s || n === undefined) return [{ dtype }];
    // The target is unknown: an input dim other than 1 survives, anything else is unknown.
    const rank = Math.max(n, s.length);
    const out: Dim[] = new Array<Dim>(rank).fill(null);
    s.forEach((d, i) => (out[rank - s.length + i] = typeof d === 'number' && d !== 1 ? d : null));
    return [{ dtype, shape: out }];
  }
  const shape = broadcastShapes([s, target.data]);
  const v = ctx.value(node.input(0));
  if (v && shape && shape.every((d) => typeof d === 'number') && sizeOf(shape as number[]) <= MAX_TRACKED) {
    ctx.setValue(node.outputs[0], symElementwise([v, { shape: shape as number[], data: new Array<Dim>(sizeOf(shape as number[])).fill(0) }], (a) => a));
  }
  return [{ dtype, shape }];
};

// ---- Concat / Split / Slice / Gather ---------------------------------------------------------

const concat: ShapeRule = (node, ctx) => {
  const ins = node.inputs.filter((v) => v);
  const dtype = ins.map((v) => ctx.dtype(v)).find((d) => d !== undefined);
  const shapes = ins.map((v) => ctx.shape(v));
  const known = shapes.filter((s): s is readonly Dim[] => !!s);
  if (known.length === 0) return [{ dtype }];
  const rank = known[0]!.length;
  const axis = normAxis(node.attrInt('axis', 0)!, rank);
  if (axis === undefined || known.some((s) => s.length !== rank)) return [{ dtype }];
  const out: Dim[] = [];
  for (let i = 0; i < rank; i++) {
    if (i === axis) out.push(shapes.every((s) => s) ? known.reduce<Dim>((acc, s) => dimAdd(acc, s[i]!), 0) : null);
    else out.push(known.reduce<Dim>((acc, s) => mergeDim(acc, s[i]!), null));
  }
  if (rank === 1) {
    const vals = ins.map((v) => ctx.value(v));
    if (vals.every((s) => s && s.shape.length === 1)) ctx.setValue(node.outputs[0], symVector(vals.flatMap((s) => s!.data)));
  }
  return [{ dtype, shape: out }];
};

const split: ShapeRule = (node, ctx) => {
  const s = ctx.shape(node.input(0));
  const dtype = ctx.dtype(node.input(0));
  const n = node.outputs.length;
  if (!s) return node.outputs.map(() => ({ dtype }));
  const axis = normAxis(node.attrInt('axis', 0)!, s.length);
  if (axis === undefined) return node.outputs.map(() => ({ dtype }));
  const d = s[axis]!;
  let sizes: Dim[];
  const given = node.attrInts('split') ?? (node.input(1) ? symInts(ctx.value(node.input(1))) : undefined);
  if (given) sizes = given;
  else if (node.input(1)) sizes = new Array<Dim>(n).fill(null);
  else if (typeof d === 'number') {
    const chunk = Math.ceil(d / n);
    sizes = Array.from({ length: n }, (_, i) => Math.max(0, Math.min(chunk, d - chunk * i)));
  } else sizes = new Array<Dim>(n).fill(dimDivExact(d, n));
  return node.outputs.map((_, i) => ({ dtype, shape: s.map((x, j) => (j === axis ? (sizes[i] ?? null) : x)) }));
};

/** Length of x[start:end:step] along a dim (numpy/ONNX clamping). */
function sliceLength(d: Dim, start: Dim, end: Dim, step: number): Dim {
  if (step === 0 || start === null || end === null) return null;
  if (typeof d === 'number' && typeof start === 'number' && typeof end === 'number') {
    let s: number;
    let e: number;
    if (step > 0) {
      s = start < 0 ? Math.max(0, start + d) : Math.min(start, d);
      e = end < 0 ? Math.max(0, end + d) : Math.min(end, d);
      return Math.max(0, Math.ceil((e - s) / step));
    }
    s = start < 0 ? Math.max(-1, start + d) : Math.min(start, d - 1);
    e = end < 0 ? Math.max(-1, end + d) : Math.min(end, d - 1);
    return Math.max(0, Math.ceil((s - e) / -step));
  }
  if (step !== 1) return null;
  const huge = typeof end === 'number' && isHugeIndex(end) && end > 0;
  // x[:], x[k:] (k ≥ 0, taken to be within the dim), x[:e] with a symbolic e (taken to fit).
  if (start === 0 && (huge || end === d)) return d;
  if (typeof start === 'number' && start >= 0 && huge && d !== null) return dimSub(d, start);
  if (typeof start === 'number' && start >= 0 && typeof end === 'string') return dimSub(end, start);
  if (typeof start === 'string' && start === end) return 0;
  return null;
}

/** Normalizes a slice bound for element access on a known 1-D vector. */
function sliceIndices(n: number, start: number, end: number, step: number): number[] {
  const len = sliceLength(n, start, end, step) as number;
  const s = step > 0 ? (start < 0 ? Math.max(0, start + n) : Math.min(start, n)) : start < 0 ? Math.max(-1, start + n) : Math.min(start, n - 1);
  return Array.from({ length: len }, (_, i) => s + i * step);
}

const slice: ShapeRule = (node, ctx) => {
  const x = node.input(0);
  const s = ctx.shape(x);
  const dtype = ctx.dtype(x);
  if (!s) return [{ dtype }];
  const old = node.attrInts('starts') !== undefined; // opset < 10
  const starts: readonly Dim[] | undefined = old ? node.attrInts('starts') : ctx.value(node.input(1))?.data;
  const ends: readonly Dim[] | undefined = old ? node.attrInts('ends') : ctx.value(node.input(2))?.data;
  const axesGiven = old ? node.attrInts('axes') : node.input(3) ? symInts(ctx.value(node.input(3))) : undefined;
  const axesUnknown = !old && node.input(3) !== undefined && axesGiven === undefined;
  const stepsGiven = old ? undefined : node.input(4) ? symInts(ctx.value(node.input(4))) : undefined;
  const stepsUnknown = !old && node.input(4) !== undefined && stepsGiven === undefined;
  const count = starts?.length ?? ends?.length ?? axesGiven?.length;
  if (axesUnknown || count === undefined) return [{ dtype, shape: s.map(() => null) }];
  const axes = axesGiven ?? Array.from({ length: count }, (_, i) => i);
  const out: Dim[] = [...s];
  const sliced: { axis: number; start: Dim; end: Dim; step: number }[] = [];
  for (let i = 0; i < axes.length; i++) {
    const a = normAxis(axes[i]!, s.length);
    if (a === undefined) return [{ dtype, shape: s.map(() => null) }];
    const step = stepsUnknown ? undefined : (stepsGiven?.[i] ?? 1);
    const start = starts?.[i] ?? null;
    const end = ends?.[i] ?? null;
    out[a] = step === undefined ? null : sliceLength(s[a]!, start, end, step);
    if (step !== undefined) sliced.push({ axis: a, start, end, step });
  }
  // Contents of a sliced 1-D vector (shape arithmetic).
  const v = ctx.value(x);
  if (v && v.shape.length === 1 && sliced.length === 1 && sliced[0]!.axis === 0) {
    const { start, end, step } = sliced[0]!;
    if (typeof start === 'number' && typeof end === 'number') {
      ctx.setValue(node.outputs[0], symVector(sliceIndices(v.shape[0]!, start, end, step).map((i) => v.data[i] ?? null)));
    }
  }
  return [{ dtype, shape: out }];
};

const gather: ShapeRule = (node, ctx) => {
  const data = node.input(0);
  const idx = node.input(1);
  const ds = ctx.shape(data);
  const is = ctx.shape(idx);
  const dtype = ctx.dtype(data);
  if (!ds || !is) return [{ dtype }];
  const axis = normAxis(node.attrInt('axis', 0)!, ds.length);
  if (axis === undefined) return [{ dtype }];
  const out = [...ds.slice(0, axis), ...is, ...ds.slice(axis + 1)];
  const dv = ctx.value(data);
  const iv = symInts(ctx.value(idx));
  const ivs = ctx.value(idx);
  if (dv && dv.shape.length === 1 && iv && ivs) {
    const n = dv.shape[0]!;
    const picked = iv.map((i) => dv.data[i < 0 ? i + n : i] ?? null);
    ctx.setValue(node.outputs[0], { shape: [...ivs.shape], data: picked });
  }
  return [{ dtype, shape: out }];
};

const gatherElements: ShapeRule = (node, ctx) => [{ dtype: ctx.dtype(node.input(0)), shape: ctx.shape(node.input(1)) }];

const gatherND: ShapeRule = (node, ctx) => {
  const ds = ctx.shape(node.input(0));
  const is = ctx.shape(node.input(1));
  const dtype = ctx.dtype(node.input(0));
  const b = node.attrInt('batch_dims', 0)!;
  const last = is?.[is.length - 1];
  if (!ds || !is || typeof last !== 'number') return [{ dtype }];
  return [{ dtype, shape: [...is.slice(0, -1), ...ds.slice(b + last)] }];
};

// ---- Generators: Range / ConstantOfShape -----------------------------------------------------

const range: ShapeRule = (node, ctx) => {
  const [start, limit, delta] = [0, 1, 2].map((i): Dim => ctx.value(node.input(i))?.data[0] ?? null) as [Dim, Dim, Dim];
  const dtype = ctx.dtype(node.input(0)) ?? ctx.dtype(node.input(1));
  let n: Dim = null;
  if (typeof start === 'number' && typeof limit === 'number' && typeof delta === 'number' && delta !== 0) {
    n = Math.max(0, Math.ceil((limit - start) / delta));
    if (n <= MAX_TRACKED) ctx.setValue(node.outputs[0], symVector(Array.from({ length: n }, (_, i) => start + i * delta)));
  } else if (delta === 1 && start !== null && limit !== null) n = dimSub(limit, start);
  else if (delta === -1 && start !== null && limit !== null) n = dimSub(start, limit);
  return [{ dtype, shape: [n] }];
};

const constantOfShape: ShapeRule = (node, ctx) => {
  const a = node.attr('value');
  const t = a && a.type === AttributeType.TENSOR ? (a.value as Tensor) : undefined;
  const dtype = t?.dtype ?? DataType.FLOAT;
  const target = ctx.value(node.input(0));
  if (!target || target.shape.length !== 1) return [{ dtype, shape: unknownOfLength(ctx, node, 0) }];
  const shape = target.data;
  if (shape.every((d) => typeof d === 'number')) {
    const n = sizeOf(shape as number[]);
    const fill = t ? symFromTensor(t)?.data[0] : 0;
    if (n <= MAX_TRACKED && fill !== undefined) ctx.setValue(node.outputs[0], { shape: shape as number[], data: new Array<Dim>(n).fill(fill) });
  }
  return [{ dtype, shape }];
};

// ---- Where / Tile / Pad / TopK / OneHot / NonZero ---------------------------------------------

/** Where(cond, x, y): the broadcast of all three; contents tracked for the torch.onnx Expand scaffolding. */
const where: ShapeRule = (node, ctx) => {
  const [c, x, y] = [node.input(0), node.input(1), node.input(2)];
  ctx.setValue(
    node.outputs[0],
    symElementwise([ctx.value(c), ctx.value(x), ctx.value(y)], (cc, xx, yy) => (cc === null ? (xx === yy ? xx! : null) : cc ? xx! : yy!)),
  );
  return [{ dtype: ctx.dtype(x) ?? ctx.dtype(y), shape: broadcastShapes([ctx.shape(c), ctx.shape(x), ctx.shape(y)]) }];
};

const tile: ShapeRule = (node, ctx) => {
  const s = ctx.shape(node.input(0));
  const dtype = ctx.dtype(node.input(0));
  if (!s) return [{ dtype }];
  const reps = ctx.value(node.input(1));
  if (!reps || reps.data.length !== s.length) return [{ dtype, shape: s.map(() => null) }];
  return [{ dtype, shape: s.map((d, i) => dimMul(d, reps.data[i]!)) }];
};

const pad: ShapeRule = (node, ctx) => {
  const s = ctx.shape(node.input(0));
  const dtype = ctx.dtype(node.input(0));
  if (!s) return [{ dtype }];
  const pads = node.attrInts('pads') ?? ctx.value(node.input(1))?.data;
  const axes = node.input(3) ? symInts(ctx.value(node.input(3))) : s.map((_, i) => i);
  if (!pads || !axes || pads.length !== 2 * axes.length) return [{ dtype, shape: s.map(() => null) }];
  const out = [...s];
  axes.forEach((ax, i) => {
    const a = normAxis(ax, s.length);
    if (a !== undefined) out[a] = dimAdd(dimAdd(s[a]!, pads[i]!), pads[i + axes.length]!);
  });
  return [{ dtype, shape: out }];
};

const topK: ShapeRule = (node, ctx) => {
  const s = ctx.shape(node.input(0));
  const dtype = ctx.dtype(node.input(0));
  if (!s) return [{ dtype }, { dtype: DataType.INT64 }];
  const axis = normAxis(node.attrInt('axis', -1)!, s.length);
  const k: Dim = node.attrInt('k') ?? ctx.value(node.input(1))?.data[0] ?? null;
  const out = s.map((d, i) => (i === axis ? k : d));
  return [
    { dtype, shape: out },
    { dtype: DataType.INT64, shape: out },
  ];
};

const oneHot: ShapeRule = (node, ctx) => {
  const s = ctx.shape(node.input(0));
  const dtype = ctx.dtype(node.input(2));
  if (!s) return [{ dtype }];
  const depth = ctx.value(node.input(1))?.data[0] ?? null;
  const rank = s.length + 1;
  const axis = normAxis(node.attrInt('axis', -1)!, rank);
  if (axis === undefined) return [{ dtype }];
  const out = [...s];
  out.splice(axis, 0, typeof depth === 'number' ? Math.trunc(depth) : depth);
  return [{ dtype, shape: out }];
};

const nonZero: ShapeRule = (node, ctx) => {
  const s = ctx.shape(node.input(0));
  return [{ dtype: DataType.INT64, shape: [s ? s.length : null, null] }];
};

const sameAsData: ShapeRule = (node, ctx) => [sameAs(ctx, node.input(0))];

export const TENSOR_RULES: RuleEntry[] = [
  [ONNX, ['Constant'], constant],
  [ONNX, ['Shape'], shapeOp],
  [ONNX, ['Size'], size],
  [ONNX, ['Cast'], cast],
  [ONNX, ['CastLike'], castLike],
  [ONNX, ['Reshape'], reshape],
  [ONNX, ['Flatten'], flatten],
  [ONNX, ['Unsqueeze'], unsqueeze],
  [ONNX, ['Squeeze'], squeeze],
  [ONNX, ['Transpose'], transpose],
  [ONNX, ['Expand'], expand],
  [ONNX, ['Concat'], concat],
  [ONNX, ['Split'], split],
  [ONNX, ['Slice'], slice],
  [ONNX, ['Gather'], gather],
  [ONNX, ['GatherElements'], gatherElements],
  [ONNX, ['GatherND'], gatherND],
  [ONNX, ['Range'], range],
  [ONNX, ['ConstantOfShape'], constantOfShape],
  [ONNX, ['Where'], where],
  [ONNX, ['Tile'], tile],
  [ONNX, ['Pad'], pad],
  [ONNX, ['TopK'], topK],
  [ONNX, ['OneHot'], oneHot],
  [ONNX, ['NonZero'], nonZero],
  [ONNX, ['ScatterND', 'ScatterElements', 'Scatter'], sameAsData],
];
