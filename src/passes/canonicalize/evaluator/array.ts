import { DataType, typedArrayConstructor, type TypedArray } from '../../../ir/dtype.js';
import { Tensor } from '../../../ir/tensor.js';

/** A dense tensor for the evaluator: whole-byte element types only (float16/bfloat16 as raw bits). */
export interface Arr {
  dtype: DataType;
  dims: number[];
  data: TypedArray;
}

/** Thrown by an op when the result would pass the size limit; the caller skips the node. */
export class TooLarge extends Error {
  constructor(readonly elements: number) {
    super(`result has ${elements} elements`);
  }
}

/** Thrown when a case is outside what the evaluator reproduces exactly; the caller may ask onnxruntime. */
export class Unsupported extends Error {}

export function unsupported(why: string): never {
  throw new Unsupported(why);
}

export function sizeOf(dims: readonly number[]): number {
  let n = 1;
  for (const d of dims) n *= d;
  return n;
}

export function isBigIntType(dtype: DataType): boolean {
  return dtype === DataType.INT64 || dtype === DataType.UINT64;
}

export function isIntType(dtype: DataType): boolean {
  return [DataType.INT8, DataType.INT16, DataType.INT32, DataType.INT64, DataType.UINT8, DataType.UINT16, DataType.UINT32, DataType.UINT64].includes(dtype);
}

export function isSignedInt(dtype: DataType): boolean {
  return [DataType.INT8, DataType.INT16, DataType.INT32, DataType.INT64].includes(dtype);
}

/** float32 and float64: the float types whose arithmetic JS reproduces bit for bit. */
export function isExactFloat(dtype: DataType): boolean {
  return dtype === DataType.FLOAT || dtype === DataType.DOUBLE;
}

export function alloc(dtype: DataType, n: number, limit: number): TypedArray {
  if (n > limit) throw new TooLarge(n);
  const Ctor = typedArrayConstructor(dtype);
  if (!Ctor || dtype === DataType.STRING) unsupported(`no typed array for type ${dtype}`);
  return new Ctor(n);
}

export function make(dtype: DataType, dims: number[], limit: number): Arr {
  return { dtype, dims, data: alloc(dtype, sizeOf(dims), limit) };
}

export function fromTensor(t: Tensor): Arr {
  if (!typedArrayConstructor(t.dtype) || t.dtype === DataType.STRING) unsupported(`type ${t.dtype}`);
  return { dtype: t.dtype, dims: [...t.dims], data: t.toArray() };
}

export function toTensor(name: string, a: Arr): Tensor {
  return Tensor.fromArray(name, a.dtype, a.dims, a.data);
}

/** Elements of an integer tensor as JS numbers (shape plumbing; int64 beyond 2^53 loses precision, which clamping tolerates). */
export function ints(a: Arr): number[] {
  if (!isIntType(a.dtype)) unsupported('expected an integer tensor');
  return Array.from(a.data as ArrayLike<number | bigint>, (v) => Number(v));
}

export function scalar(a: Arr): number | bigint {
  if (a.data.length !== 1) unsupported('expected one element');
  return (a.data as ArrayLike<number | bigint>)[0]!;
}

export function int64(dims: number[], values: readonly number[], limit = Infinity): Arr {
  if (values.length > limit) throw new TooLarge(values.length);
  return { dtype: DataType.INT64, dims, data: BigInt64Array.from(values, (v) => BigInt(v)) };
}

export function strides(dims: readonly number[]): number[] {
  const s = new Array<number>(dims.length);
  let k = 1;
  for (let i = dims.length - 1; i >= 0; i--) {
    s[i] = k;
    k *= dims[i]!;
  }
  return s;
}

/** Normalizes a possibly negative axis against `rank`. */
export function axis(a: number, rank: number): number {
  const r = a < 0 ? a + rank : a;
  if (r < 0 || r >= rank || !Number.isInteger(r)) unsupported(`axis ${a} out of range for rank ${rank}`);
  return r;
}

/** Numpy multidirectional broadcasting of several shapes. */
export function broadcastShapes(shapes: readonly (readonly number[])[]): number[] {
  const rank = Math.max(0, ...shapes.map((s) => s.length));
  const out: number[] = [];
  for (let i = 0; i < rank; i++) {
    let d = 1;
    for (const s of shapes) {
      const k = s.length - rank + i;
      const e = k < 0 ? 1 : s[k]!;
      if (e === 1) continue;
      if (d !== 1 && d !== e) unsupported(`shapes [${shapes.map((x) => x.join(',')).join('] [')}] do not broadcast`);
      d = e;
    }
    // A zero-sized dim wins over 1.
    if (shapes.some((s) => s[s.length - rank + i] === 0)) d = 0;
    out.push(d);
  }
  return out;
}

/** For each element of `outDims` (row major), the flat index of the element of `inDims` it broadcasts from. */
export function broadcastIndex(inDims: readonly number[], outDims: readonly number[]): Int32Array | Float64Array {
  const n = sizeOf(outDims);
  const idx = n < 2 ** 31 ? new Int32Array(n) : new Float64Array(n);
  const rank = outDims.length;
  const inStr = strides(inDims);
  // Stride of each output axis in the input (0 where the input broadcasts).
  const st = outDims.map((d, i) => {
    const k = i - (rank - inDims.length);
    return k < 0 || inDims[k] === 1 ? 0 : inStr[k]!;
  });
  const counter = new Array<number>(rank).fill(0);
  let at = 0;
  for (let f = 0; f < n; f++) {
    idx[f] = at;
    for (let i = rank - 1; i >= 0; i--) {
      counter[i]!++;
      at += st[i]!;
      if (counter[i]! < outDims[i]!) break;
      at -= st[i]! * counter[i]!;
      counter[i] = 0;
    }
  }
  return idx;
}

/** Copies `src` into a new array of `outDims`, broadcasting. */
export function broadcastTo(src: Arr, outDims: number[], limit: number): Arr {
  const out = make(src.dtype, outDims, limit);
  const idx = broadcastIndex(src.dims, outDims);
  const s = src.data as unknown as { [i: number]: number | bigint };
  const o = out.data as unknown as { [i: number]: number | bigint };
  for (let f = 0; f < idx.length; f++) o[f] = s[idx[f]!]!;
  return out;
}
