import { AttributeType } from '../../../ir/attribute.js';
import { DataType, type TypedArray } from '../../../ir/dtype.js';
import type { Node } from '../../../ir/node.js';
import type { Tensor } from '../../../ir/tensor.js';
import {
  alloc,
  axis,
  broadcastIndex,
  broadcastShapes,
  broadcastTo,
  fromTensor,
  int64,
  ints,
  isBigIntType,
  isExactFloat,
  isIntType,
  isSignedInt,
  make,
  scalar,
  sizeOf,
  strides,
  unsupported,
  type Arr,
} from './array.js';

export interface EvalContext {
  node: Node;
  /** Default-domain opset of the model. */
  opset: number;
  /** Largest result, in elements. */
  limit: number;
}

/** An op: inputs (undefined where absent) → outputs. Throws Unsupported or TooLarge. */
export type OpImpl = (inputs: (Arr | undefined)[], ctx: EvalContext) => Arr[];

type Elems = { [i: number]: number | bigint; length: number };
const el = (a: Arr) => a.data as unknown as Elems;

function need(a: Arr | undefined, what: string): Arr {
  if (!a) unsupported(`missing ${what}`);
  return a;
}

// ---------------------------------------------------------------- elementwise

type NumFn = (a: number, b: number) => number;
type BigFn = (a: bigint, b: bigint) => bigint;

/** Arithmetic exact for the element type: float32 rounds once on store, integers wrap like C++. */
function arith(dtype: DataType, op: 'Add' | 'Sub' | 'Mul' | 'Div'): { num?: NumFn; big?: BigFn } {
  if (isBigIntType(dtype)) {
    const big: Record<typeof op, BigFn> = {
      Add: (a, b) => a + b,
      Sub: (a, b) => a - b,
      Mul: (a, b) => a * b,
      Div: (a, b) => {
        if (b === 0n) unsupported('integer division by zero');
        if (dtype === DataType.INT64 && b === -1n && a === -(2n ** 63n)) unsupported('int64 overflow');
        return a / b;
      },
    };
    return { big: big[op] };
  }
  if (isExactFloat(dtype)) {
    const f: Record<typeof op, NumFn> = { Add: (a, b) => a + b, Sub: (a, b) => a - b, Mul: (a, b) => a * b, Div: (a, b) => a / b };
    return { num: f[op] };
  }
  if (isIntType(dtype)) {
    const wide = dtype === DataType.INT32 || dtype === DataType.UINT32;
    const f: Record<typeof op, NumFn> = {
      Add: (a, b) => a + b,
      Sub: (a, b) => a - b,
      Mul: wide ? (a, b) => Math.imul(a, b) : (a, b) => a * b,
      Div: (a, b) => {
        if (b === 0) unsupported('integer division by zero');
        if (dtype === DataType.INT32 && b === -1 && a === -(2 ** 31)) unsupported('int32 overflow');
        return Math.trunc(a / b);
      },
    };
    return { num: f[op] };
  }
  return unsupported(`${op} on type ${dtype}`);
}

function binary(a: Arr, b: Arr, outType: DataType, ctx: EvalContext, num?: NumFn, big?: BigFn, cmp?: (x: number | bigint, y: number | bigint) => boolean): Arr {
  if (a.dtype !== b.dtype) unsupported('mixed input types');
  const dims = broadcastShapes([a.dims, b.dims]);
  const out = make(outType, dims, ctx.limit);
  const ia = broadcastIndex(a.dims, dims);
  const ib = broadcastIndex(b.dims, dims);
  const x = el(a);
  const y = el(b);
  const o = el(out);
  if (cmp) for (let i = 0; i < ia.length; i++) o[i] = cmp(x[ia[i]!]!, y[ib[i]!]!) ? 1 : 0;
  else if (big) for (let i = 0; i < ia.length; i++) o[i] = big(x[ia[i]!] as bigint, y[ib[i]!] as bigint);
  else if (num) for (let i = 0; i < ia.length; i++) o[i] = num(x[ia[i]!] as number, y[ib[i]!] as number);
  return out;
}

const arithOp =
  (op: 'Add' | 'Sub' | 'Mul' | 'Div'): OpImpl =>
  ([a, b], ctx) => {
    const x = need(a, 'A');
    const f = arith(x.dtype, op);
    return [binary(x, need(b, 'B'), x.dtype, ctx, f.num, f.big)];
  };

const compareOp =
  (f: (x: number | bigint, y: number | bigint) => boolean, allowBool: boolean): OpImpl =>
  ([a, b], ctx) => {
    const x = need(a, 'A');
    if (!(isIntType(x.dtype) || isExactFloat(x.dtype) || (allowBool && x.dtype === DataType.BOOL))) unsupported('comparison type');
    return [binary(x, need(b, 'B'), DataType.BOOL, ctx, undefined, undefined, f)];
  };

const logicOp =
  (f: (x: boolean, y: boolean) => boolean): OpImpl =>
  ([a, b], ctx) => {
    const x = need(a, 'A');
    if (x.dtype !== DataType.BOOL) unsupported('logical op on non-bool');
    return [binary(x, need(b, 'B'), DataType.BOOL, ctx, undefined, undefined, (p, q) => f(p !== 0, q !== 0))];
  };

function unary(a: Arr, ctx: EvalContext, num?: (x: number) => number, big?: (x: bigint) => bigint): Arr {
  const out = make(a.dtype, [...a.dims], ctx.limit);
  const x = el(a);
  const o = el(out);
  if (isBigIntType(a.dtype)) {
    if (!big) unsupported('unary op on int64');
    for (let i = 0; i < x.length; i++) o[i] = big(x[i] as bigint);
  } else {
    if (!num) unsupported('unary op');
    for (let i = 0; i < x.length; i++) o[i] = num(x[i] as number);
  }
  return out;
}

/** Variadic integer Max/Min (float NaN handling differs between runtimes, so floats go to onnxruntime). */
const minMax =
  (pick: (x: number | bigint, y: number | bigint) => boolean): OpImpl =>
  (inputs, ctx) => {
    const xs = inputs.map((a, i) => need(a, `input ${i}`));
    if (!xs.length || !isIntType(xs[0]!.dtype) || xs.some((x) => x.dtype !== xs[0]!.dtype)) unsupported('Max/Min on these types');
    const dims = broadcastShapes(xs.map((x) => x.dims));
    const out = broadcastTo(xs[0]!, dims, ctx.limit);
    const o = el(out);
    for (const x of xs.slice(1)) {
      const idx = broadcastIndex(x.dims, dims);
      const v = el(x);
      for (let i = 0; i < idx.length; i++) if (pick(v[idx[i]!]!, o[i]!)) o[i] = v[idx[i]!]!;
    }
    return [out];
  };

// ---------------------------------------------------------------- casts

const INT_RANGE: Partial<Record<DataType, [number, number]>> = {
  [DataType.INT8]: [-128, 127],
  [DataType.UINT8]: [0, 255],
  [DataType.INT16]: [-32768, 32767],
  [DataType.UINT16]: [0, 65535],
  [DataType.INT32]: [-(2 ** 31), 2 ** 31 - 1],
  [DataType.UINT32]: [0, 2 ** 32 - 1],
  [DataType.INT64]: [-(2 ** 63), 2 ** 63],
  [DataType.UINT64]: [0, 2 ** 64],
};

function castable(t: DataType): boolean {
  return isIntType(t) || isExactFloat(t) || t === DataType.BOOL;
}

export function castArr(a: Arr, to: DataType, ctx: EvalContext): Arr {
  if (!castable(a.dtype) || !castable(to)) unsupported(`Cast ${a.dtype}→${to}`);
  const out = make(to, [...a.dims], ctx.limit);
  const x = el(a);
  const o = el(out);
  const n = x.length;
  if (to === DataType.BOOL) {
    for (let i = 0; i < n; i++) o[i] = x[i] !== 0 && x[i] !== 0n ? 1 : 0;
    return out;
  }
  if (isBigIntType(a.dtype)) {
    for (let i = 0; i < n; i++) {
      const v = x[i] as bigint;
      if (isBigIntType(to)) o[i] = v;
      else if (isIntType(to)) {
        const bits = INT_BITS[to]!;
        o[i] = Number(isSignedInt(to) ? BigInt.asIntN(bits, v) : BigInt.asUintN(bits, v));
      } else {
        // Number(v) rounds once; float32 would round twice beyond 2^53.
        if (to === DataType.FLOAT && (v > 2n ** 53n || v < -(2n ** 53n))) unsupported('int64 → float32 beyond 2^53');
        o[i] = Number(v);
      }
    }
    return out;
  }
  if (isExactFloat(a.dtype) && isIntType(to)) {
    // C++ truncates; out-of-range and NaN are undefined behaviour there, so they are not folded.
    const [lo, hi] = INT_RANGE[to]!;
    for (let i = 0; i < n; i++) {
      const v = Math.trunc(x[i] as number);
      if (!Number.isFinite(v) || v < lo || v > hi || (isBigIntType(to) && v === hi)) unsupported('float → int out of range');
      o[i] = isBigIntType(to) ? BigInt(v) : v;
    }
    return out;
  }
  // number → number: typed-array stores wrap integers modulo 2^n and round to float32 once.
  for (let i = 0; i < n; i++) o[i] = isBigIntType(to) ? BigInt(x[i] as number) : (x[i] as number);
  return out;
}

const INT_BITS: Partial<Record<DataType, number>> = {
  [DataType.INT8]: 8,
  [DataType.UINT8]: 8,
  [DataType.INT16]: 16,
  [DataType.UINT16]: 16,
  [DataType.INT32]: 32,
  [DataType.UINT32]: 32,
};

// ---------------------------------------------------------------- shape ops

function attrOrInput(ctx: EvalContext, attr: string, input: Arr | undefined): number[] | undefined {
  const a = ctx.node.attrInts(attr);
  if (a) return a;
  return input ? ints(input) : undefined;
}

function reshaped(a: Arr, dims: number[]): Arr {
  if (sizeOf(dims) !== a.data.length) unsupported('reshape size mismatch');
  return { dtype: a.dtype, dims, data: a.data.slice() as TypedArray };
}

function shapeSlice(dims: readonly number[], ctx: EvalContext): number[] {
  const r = dims.length;
  const clamp = (v: number) => Math.min(Math.max(v < 0 ? v + r : v, 0), r);
  const start = clamp(ctx.node.attrInt('start', 0)!);
  const end = clamp(ctx.node.attrInt('end', r)!);
  return dims.slice(start, Math.max(start, end));
}

const Shape: OpImpl = ([a], ctx) => {
  const d = shapeSlice(need(a, 'data').dims, ctx);
  return [int64([d.length], d)];
};

const Size: OpImpl = ([a]) => [int64([], [sizeOf(need(a, 'data').dims)])];

const Identity: OpImpl = ([a]) => {
  const x = need(a, 'input');
  return [{ dtype: x.dtype, dims: [...x.dims], data: x.data.slice() as TypedArray }];
};

const Reshape: OpImpl = ([a, s], ctx) => {
  const x = need(a, 'data');
  const shape = attrOrInput(ctx, 'shape', s);
  if (!shape) unsupported('Reshape without shape');
  const allowzero = ctx.node.attrInt('allowzero', 0) === 1;
  const dims = shape.map((d, i) => (d === 0 && !allowzero ? (i < x.dims.length ? x.dims[i]! : unsupported('0 beyond rank')) : d));
  const minus = dims.filter((d) => d === -1).length;
  if (minus > 1 || dims.some((d) => d < -1)) unsupported('bad Reshape shape');
  if (minus === 1) {
    const known = sizeOf(dims.filter((d) => d !== -1));
    if (known === 0 || x.data.length % known !== 0) unsupported('Reshape cannot infer -1');
    dims[dims.indexOf(-1)] = x.data.length / known;
  }
  return [reshaped(x, dims)];
};

const Flatten: OpImpl = ([a], ctx) => {
  const x = need(a, 'input');
  const r = x.dims.length;
  let k = ctx.node.attrInt('axis', 1)!;
  if (k < 0) k += r;
  if (k < 0 || k > r) unsupported('Flatten axis');
  return [reshaped(x, [sizeOf(x.dims.slice(0, k)), sizeOf(x.dims.slice(k))])];
};

const Unsqueeze: OpImpl = ([a, ax], ctx) => {
  const x = need(a, 'data');
  const axes = attrOrInput(ctx, 'axes', ax);
  if (!axes) unsupported('Unsqueeze without axes');
  const r = x.dims.length + axes.length;
  const norm = axes.map((v) => axis(v, r));
  if (new Set(norm).size !== norm.length) unsupported('duplicate axes');
  const dims: number[] = [];
  let k = 0;
  for (let i = 0; i < r; i++) dims.push(norm.includes(i) ? 1 : x.dims[k++]!);
  return [reshaped(x, dims)];
};

const Squeeze: OpImpl = ([a, ax], ctx) => {
  const x = need(a, 'data');
  const axes = attrOrInput(ctx, 'axes', ax);
  const r = x.dims.length;
  const norm = axes ? axes.map((v) => axis(v, r)) : x.dims.flatMap((d, i) => (d === 1 ? [i] : []));
  if (norm.some((i) => x.dims[i] !== 1)) unsupported('Squeeze of a dim that is not 1');
  return [reshaped(x, x.dims.filter((_, i) => !norm.includes(i)))];
};

const Transpose: OpImpl = ([a], ctx) => {
  const x = need(a, 'data');
  const r = x.dims.length;
  const perm = ctx.node.attrInts('perm') ?? x.dims.map((_, i) => r - 1 - i);
  if (perm.length !== r || new Set(perm).size !== r || perm.some((p) => p < 0 || p >= r)) unsupported('bad perm');
  const dims = perm.map((p) => x.dims[p]!);
  const out = make(x.dtype, dims, ctx.limit);
  const inStr = strides(x.dims);
  const st = perm.map((p) => inStr[p]!);
  const xs = el(x);
  const o = el(out);
  const n = o.length;
  const counter = new Array<number>(r).fill(0);
  let at = 0;
  for (let f = 0; f < n; f++) {
    o[f] = xs[at]!;
    for (let i = r - 1; i >= 0; i--) {
      counter[i]!++;
      at += st[i]!;
      if (counter[i]! < dims[i]!) break;
      at -= st[i]! * counter[i]!;
      counter[i] = 0;
    }
  }
  return [out];
};

const Concat: OpImpl = (inputs, ctx) => {
  const xs = inputs.filter((x): x is Arr => x !== undefined);
  if (!xs.length) unsupported('Concat of nothing');
  const r = xs[0]!.dims.length;
  const ax = axis(ctx.node.attrInt('axis', 0)!, r);
  const dtype = xs[0]!.dtype;
  for (const x of xs) {
    if (x.dtype !== dtype || x.dims.length !== r || x.dims.some((d, i) => i !== ax && d !== xs[0]!.dims[i])) unsupported('Concat shapes');
  }
  const dims = [...xs[0]!.dims];
  dims[ax] = xs.reduce((s, x) => s + x.dims[ax]!, 0);
  const out = make(dtype, dims, ctx.limit);
  const outer = sizeOf(dims.slice(0, ax));
  const inner = sizeOf(dims.slice(ax + 1));
  const o = el(out);
  let at = 0;
  for (let i = 0; i < outer; i++) {
    for (const x of xs) {
      const block = x.dims[ax]! * inner;
      const v = el(x);
      for (let k = 0; k < block; k++) o[at++] = v[i * block + k]!;
    }
  }
  return [out];
};

const Gather: OpImpl = ([a, b], ctx) => {
  const x = need(a, 'data');
  const idx = need(b, 'indices');
  const r = x.dims.length;
  const ax = axis(ctx.node.attrInt('axis', 0)!, r);
  const dim = x.dims[ax]!;
  const index = ints(idx).map((i) => {
    const j = i < 0 ? i + dim : i;
    if (j < 0 || j >= dim) unsupported('Gather index out of range');
    return j;
  });
  const dims = [...x.dims.slice(0, ax), ...idx.dims, ...x.dims.slice(ax + 1)];
  const out = make(x.dtype, dims, ctx.limit);
  const outer = sizeOf(x.dims.slice(0, ax));
  const inner = sizeOf(x.dims.slice(ax + 1));
  const v = el(x);
  const o = el(out);
  let at = 0;
  for (let i = 0; i < outer; i++) for (const j of index) for (let k = 0; k < inner; k++) o[at++] = v[(i * dim + j) * inner + k]!;
  return [out];
};

const Slice: OpImpl = (inputs, ctx) => {
  const x = need(inputs[0], 'data');
  const r = x.dims.length;
  const fromAttrs = ctx.node.attrInts('starts') !== undefined;
  const starts = fromAttrs ? ctx.node.attrInts('starts')! : ints(need(inputs[1], 'starts'));
  const ends = fromAttrs ? (ctx.node.attrInts('ends') ?? unsupported('Slice ends')) : ints(need(inputs[2], 'ends'));
  const axesIn = fromAttrs ? ctx.node.attrInts('axes') : inputs[3] ? ints(inputs[3]) : undefined;
  const stepsIn = fromAttrs ? undefined : inputs[4] ? ints(inputs[4]) : undefined;
  const axes = (axesIn ?? starts.map((_, i) => i)).map((v) => axis(v, r));
  if (starts.length !== ends.length || axes.length !== starts.length || (stepsIn && stepsIn.length !== starts.length)) unsupported('Slice lengths');
  if (new Set(axes).size !== axes.length) unsupported('Slice repeats an axis');
  const start = x.dims.map(() => 0);
  const step = x.dims.map(() => 1);
  const dims = [...x.dims];
  axes.forEach((ax, i) => {
    const d = x.dims[ax]!;
    const s = stepsIn ? stepsIn[i]! : 1;
    if (s === 0) unsupported('Slice step 0');
    let b = starts[i]!;
    let e = ends[i]!;
    if (b < 0) b += d;
    if (e < 0) e += d;
    if (s > 0) {
      b = Math.min(Math.max(b, 0), d);
      e = Math.min(Math.max(e, 0), d);
      dims[ax] = Math.max(0, Math.ceil((e - b) / s));
    } else {
      b = Math.min(Math.max(b, 0), d - 1);
      e = Math.min(Math.max(e, -1), d - 1);
      dims[ax] = Math.max(0, Math.ceil((e - b) / s));
    }
    start[ax] = b;
    step[ax] = s;
  });
  const out = make(x.dtype, dims, ctx.limit);
  const inStr = strides(x.dims);
  const v = el(x);
  const o = el(out);
  const counter = dims.map(() => 0);
  const base = start.reduce((s, b, i) => s + b * inStr[i]!, 0);
  const st = step.map((s, i) => s * inStr[i]!);
  let at = base;
  for (let f = 0; f < o.length; f++) {
    o[f] = v[at]!;
    for (let i = r - 1; i >= 0; i--) {
      counter[i]!++;
      at += st[i]!;
      if (counter[i]! < dims[i]!) break;
      at -= st[i]! * counter[i]!;
      counter[i] = 0;
    }
  }
  return [out];
};

const Expand: OpImpl = ([a, s], ctx) => {
  const x = need(a, 'input');
  const dims = broadcastShapes([x.dims, ints(need(s, 'shape'))]);
  return [broadcastTo(x, dims, ctx.limit)];
};

const Tile: OpImpl = ([a, rep], ctx) => {
  const x = need(a, 'input');
  const reps = ints(need(rep, 'repeats'));
  if (reps.length !== x.dims.length || reps.some((v) => v < 0)) unsupported('Tile repeats');
  const dims = x.dims.map((d, i) => d * reps[i]!);
  const out = make(x.dtype, dims, ctx.limit);
  const inStr = strides(x.dims);
  const outStr = strides(dims);
  const v = el(x);
  const o = el(out);
  for (let f = 0; f < o.length; f++) {
    let src = 0;
    let rest = f;
    for (let i = 0; i < dims.length; i++) {
      const c = Math.floor(rest / outStr[i]!);
      rest -= c * outStr[i]!;
      src += (c % x.dims[i]!) * inStr[i]!;
    }
    o[f] = v[src]!;
  }
  return [out];
};

const Where: OpImpl = ([c, a, b], ctx) => {
  const cond = need(c, 'condition');
  const x = need(a, 'X');
  const y = need(b, 'Y');
  if (cond.dtype !== DataType.BOOL || x.dtype !== y.dtype) unsupported('Where types');
  const dims = broadcastShapes([cond.dims, x.dims, y.dims]);
  const out = make(x.dtype, dims, ctx.limit);
  const ic = broadcastIndex(cond.dims, dims);
  const ix = broadcastIndex(x.dims, dims);
  const iy = broadcastIndex(y.dims, dims);
  const cv = el(cond);
  const xv = el(x);
  const yv = el(y);
  const o = el(out);
  for (let i = 0; i < ic.length; i++) o[i] = cv[ic[i]!] ? xv[ix[i]!]! : yv[iy[i]!]!;
  return [out];
};

const ConstantOfShape: OpImpl = ([s], ctx) => {
  const dims = ints(need(s, 'input'));
  if (dims.some((d) => d < 0)) unsupported('negative dim');
  const attr = ctx.node.attr('value');
  let value: Arr;
  if (attr && attr.type === AttributeType.TENSOR && attr.value) value = fromTensor(attr.value as Tensor);
  else if (!attr) value = { dtype: DataType.FLOAT, dims: [1], data: new Float32Array(1) };
  else return unsupported('ConstantOfShape value');
  if (value.data.length !== 1) unsupported('ConstantOfShape value must have one element');
  const out = make(value.dtype, dims, ctx.limit);
  (out.data as unknown as { fill(v: number | bigint): void }).fill(scalar(value));
  return [out];
};

const Range: OpImpl = ([s, l, d], ctx) => {
  const start = need(s, 'start');
  const dtype = start.dtype;
  if (!isIntType(dtype) && !isExactFloat(dtype)) unsupported('Range type');
  const a = scalar(start);
  const lim = scalar(need(l, 'limit'));
  const delta = scalar(need(d, 'delta'));
  if (Number(delta) === 0) unsupported('Range delta 0');
  // As onnxruntime computes it: (limit - start) in the element type, then a double division.
  let diff: number;
  if (typeof a === 'bigint') diff = Number(BigInt.asIntN(64, (lim as bigint) - a));
  else {
    const buf = alloc(dtype, 1, 1) as unknown as Elems;
    buf[0] = (lim as number) - a;
    diff = buf[0] as number;
  }
  const n = Math.max(0, Math.ceil(diff / Number(delta)));
  const out = make(dtype, [n], ctx.limit);
  const o = el(out);
  if (typeof a === 'bigint') for (let i = 0; i < n; i++) o[i] = a + BigInt(i) * (delta as bigint);
  else {
    // Accumulated in the element type, as onnxruntime does.
    let v = a;
    for (let i = 0; i < n; i++) {
      o[i] = v;
      v = (o[i] as number) + (delta as number);
    }
  }
  return [out];
};

const Cast: OpImpl = ([a], ctx) => {
  const to = ctx.node.attrInt('to');
  if (to === undefined) unsupported('Cast without to');
  return [castArr(need(a, 'input'), to as DataType, ctx)];
};

const CastLike: OpImpl = ([a, b], ctx) => [castArr(need(a, 'input'), need(b, 'target_type').dtype, ctx)];

const numeric = (a: Arr) => {
  if (!isIntType(a.dtype) && !isExactFloat(a.dtype)) unsupported('numeric op on this type');
  return a;
};

export const OPS: Record<string, OpImpl> = {
  Identity,
  Shape,
  Size,
  Reshape,
  Flatten,
  Unsqueeze,
  Squeeze,
  Transpose,
  Concat,
  Gather,
  Slice,
  Expand,
  Tile,
  Where,
  ConstantOfShape,
  Range,
  Cast,
  CastLike,
  Add: arithOp('Add'),
  Sub: arithOp('Sub'),
  Mul: arithOp('Mul'),
  Div: arithOp('Div'),
  Equal: compareOp((x, y) => x === y, true),
  Less: compareOp((x, y) => x < y, false),
  LessOrEqual: compareOp((x, y) => x <= y, false),
  Greater: compareOp((x, y) => x > y, false),
  GreaterOrEqual: compareOp((x, y) => x >= y, false),
  And: logicOp((x, y) => x && y),
  Or: logicOp((x, y) => x || y),
  Xor: logicOp((x, y) => x !== y),
  Not: ([a], ctx) => {
    const x = need(a, 'X');
    if (x.dtype !== DataType.BOOL) unsupported('Not on non-bool');
    return [unary(x, ctx, (v) => (v ? 0 : 1))];
  },
  Neg: ([a], ctx) => {
    const x = numeric(need(a, 'X'));
    if (isIntType(x.dtype) && !isSignedInt(x.dtype)) unsupported('Neg on unsigned');
    return [unary(x, ctx, (v) => -v, (v) => -v)];
  },
  Abs: ([a], ctx) => [unary(numeric(need(a, 'X')), ctx, Math.abs, (v) => (v < 0n ? -v : v))],
  Sqrt: ([a], ctx) => {
    const x = need(a, 'X');
    if (!isExactFloat(x.dtype)) unsupported('Sqrt on non-float');
    return [unary(x, ctx, Math.sqrt)];
  },
  Floor: ([a], ctx) => {
    const x = need(a, 'X');
    if (!isExactFloat(x.dtype)) unsupported('Floor on non-float');
    return [unary(x, ctx, Math.floor)];
  },
  Ceil: ([a], ctx) => {
    const x = need(a, 'X');
    if (!isExactFloat(x.dtype)) unsupported('Ceil on non-float');
    return [unary(x, ctx, Math.ceil)];
  },
  Max: minMax((x, y) => x > y),
  Min: minMax((x, y) => x < y),
};
