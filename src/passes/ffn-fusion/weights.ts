import { OnnxOptError } from '../../errors.js';
import { DataType, bitsPerElement, dtypeShortName } from '../../ir/dtype.js';
import { Tensor, bfloat16ToNumber, float16ToNumber, numberToFloat16 } from '../../ir/tensor.js';

/**
 * Weight arithmetic for FFN fusion, done in each tensor's own dtype: concatenation copies bytes
 * (no round trip through fp32), and scaling rounds once per element. Results are lazy tensors,
 * computed when the writer streams them, so peak memory is one fused tensor.
 */

function elementBytes(dtype: DataType): number {
  const bits = bitsPerElement(dtype);
  if (bits % 8 !== 0 || bits === 0) throw new OnnxOptError('UNSUPPORTED', `cannot slice ${dtypeShortName(dtype)} tensors element-wise`);
  return bits / 8;
}

/** One block of a concatenation, optionally with its rows scaled (a folded norm weight). */
export interface ConcatPart {
  tensor: Tensor;
  /** `diag(rowScale) · tensor`: row r multiplied by rowScale[r], rounded once in the tensor's dtype. */
  rowScale?: Float64Array;
}

/**
 * Concatenates 2-D tensors of one dtype along `axis` (0: stack rows, 1: stack columns), scaling
 * rows on the way when asked. Reads one source at a time, so peak memory is the result plus one
 * source tensor.
 */
export function concat2d(name: string, input: readonly (Tensor | ConcatPart)[], axis: 0 | 1): Tensor {
  const parts: ConcatPart[] = input.map((p) => (p instanceof Tensor ? { tensor: p } : p));
  const dtype = parts[0]!.tensor.dtype;
  for (const { tensor: p, rowScale } of parts) {
    if (p.dtype !== dtype) throw new OnnxOptError('UNSUPPORTED', `cannot concatenate ${dtypeShortName(p.dtype)} with ${dtypeShortName(dtype)} weights`);
    if (p.dims.length !== 2) throw new OnnxOptError('UNSUPPORTED', `weight ${p.name} is not 2-D`);
    if (rowScale && rowScale.length !== p.dims[0]) throw new OnnxOptError('UNSUPPORTED', `norm weight has ${rowScale.length} elements, ${p.name} has ${p.dims[0]} input rows`);
  }
  const other = 1 - axis;
  const fixed = parts[0]!.tensor.dims[other]!;
  for (const { tensor: p } of parts) {
    if (p.dims[other] !== fixed) throw new OnnxOptError('UNSUPPORTED', `weights ${parts[0]!.tensor.name} and ${p.name} differ on axis ${other}`);
  }
  const total = parts.reduce((s, p) => s + p.tensor.dims[axis]!, 0);
  const dims = axis === 0 ? [total, fixed] : [fixed, total];
  const eb = elementBytes(dtype);
  const rowBytes = (axis === 0 ? fixed : total) * eb;
  // Sources with cheap range reads (external, in memory) are read per block; lazy ones (a
  // transposed weight) are computed once per pass over the output.
  let cache = new Map<Tensor, Uint8Array>();
  const read = (p: Tensor, offset: number, length: number): Uint8Array => {
    if (p.storage.kind !== 'lazy') return p.readBytes(offset, length);
    let b = cache.get(p);
    if (!b) cache.set(p, (b = p.bytes()));
    return b.subarray(offset, offset + length);
  };
  /** Output rows [r0, r1), reading each source's matching rows with positioned reads. */
  const block = (r0: number, r1: number): Uint8Array => {
    const out = new Uint8Array((r1 - r0) * rowBytes);
    if (axis === 1) {
      let colAt = 0;
      for (const { tensor: p, rowScale } of parts) {
        const w = p.dims[1]! * eb;
        const src = read(p, r0 * w, (r1 - r0) * w);
        for (let r = r0; r < r1; r++) {
          const dst = (r - r0) * rowBytes + colAt;
          out.set(src.subarray((r - r0) * w, (r - r0 + 1) * w), dst);
          if (rowScale && rowScale[r] !== 1) scaleInPlace(out, dst, p.dims[1]!, dtype, rowScale[r]!);
        }
        colAt += w;
      }
      return out;
    }
    // Stacking rows: output row r lives in the part whose row range holds it.
    let base = 0;
    for (const { tensor: p, rowScale } of parts) {
      const rows = p.dims[0]!;
      const lo = Math.max(r0, base);
      const hi = Math.min(r1, base + rows);
      if (lo < hi) {
        out.set(read(p, (lo - base) * rowBytes, (hi - lo) * rowBytes), (lo - r0) * rowBytes);
        if (rowScale) for (let r = lo; r < hi; r++) if (rowScale[r - base] !== 1) scaleInPlace(out, (r - r0) * rowBytes, fixed, dtype, rowScale[r - base]!);
      }
      base += rows;
    }
    return out;
  };
  const rowsTotal = axis === 0 ? total : fixed;
  return Tensor.lazy(
    name,
    dtype,
    dims,
    () => {
      cache = new Map();
      return block(0, rowsTotal);
    },
    function* (chunkSize) {
      cache = new Map();
      const step = Math.max(1, Math.floor(chunkSize / rowBytes));
      for (let r = 0; r < rowsTotal; r += step) yield block(r, Math.min(rowsTotal, r + step));
      cache = new Map();
    },
  );
}

function scaleInPlace(buf: Uint8Array, byteOffset: number, count: number, dtype: DataType, factor: number): void {
  const dv = new DataView(buf.buffer, buf.byteOffset + byteOffset, count * elementBytes(dtype));
  const c = codec(dtype);
  for (let i = 0; i < count; i++) c.set(buf, dv, i, c.get(buf, dv, i) * factor);
}

type Codec = { get(b: Uint8Array, dv: DataView, i: number): number; set(b: Uint8Array, dv: DataView, i: number, v: number): void };

function codec(dtype: DataType): Codec {
  switch (dtype) {
    case DataType.FLOAT:
      return { get: (_b, dv, i) => dv.getFloat32(i * 4, true), set: (_b, dv, i, v) => dv.setFloat32(i * 4, v, true) };
    case DataType.DOUBLE:
      return { get: (_b, dv, i) => dv.getFloat64(i * 8, true), set: (_b, dv, i, v) => dv.setFloat64(i * 8, v, true) };
    case DataType.FLOAT16:
      return { get: (_b, dv, i) => float16ToNumber(dv.getUint16(i * 2, true)), set: (_b, dv, i, v) => dv.setUint16(i * 2, numberToFloat16(v), true) };
    case DataType.BFLOAT16:
      return {
        get: (_b, dv, i) => bfloat16ToNumber(dv.getUint16(i * 2, true)),
        set: (_b, dv, i, v) => dv.setUint16(i * 2, numberToBfloat16(v), true),
      };
    default:
      throw new OnnxOptError('UNSUPPORTED', `cannot scale ${dtypeShortName(dtype)} weights`);
  }
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);
/** Round-to-nearest-even float → bfloat16 bits. */
export function numberToBfloat16(v: number): number {
  f32[0] = v;
  const x = u32[0]!;
  if ((x & 0x7fffffff) > 0x7f800000) return (x >>> 16) | 0x40;
  return (x + 0x7fff + ((x >>> 16) & 1)) >>> 16;
}

/** Reads a tensor's elements as numbers (any float dtype). */
export function readFloats(t: Tensor): Float64Array {
  const b = t.bytes();
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const c = codec(t.dtype);
  const out = new Float64Array(t.size);
  for (let i = 0; i < out.length; i++) out[i] = c.get(b, dv, i);
  return out;
}

/** Transposes a 2-D tensor (weights stored [out, in] behind a Transpose). Byte copy, any dtype. */
export function transpose2d(name: string, w: Tensor): Tensor {
  const [rows, cols] = w.dims as [number, number];
  return Tensor.lazy(name, w.dtype, [cols, rows], () => {
    const eb = elementBytes(w.dtype);
    const src = w.bytes();
    const out = new Uint8Array(src.byteLength);
    for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out.set(src.subarray((r * cols + c) * eb, (r * cols + c + 1) * eb), (c * rows + r) * eb);
    return out;
  });
}

/** Columns [c0, c1) of a 2-D [in, out] weight (one half of a packed gate_up projection). */
export function columnSlice2d(name: string, w: Tensor, c0: number, c1: number): Tensor {
  const [rows, cols] = w.dims as [number, number];
  return Tensor.lazy(name, w.dtype, [rows, c1 - c0], () => {
    const eb = elementBytes(w.dtype);
    const src = w.bytes();
    const width = (c1 - c0) * eb;
    const out = new Uint8Array(rows * width);
    for (let r = 0; r < rows; r++) out.set(src.subarray((r * cols + c0) * eb, (r * cols + c1) * eb), r * width);
    return out;
  });
}

/** A 1-D tensor from numbers in `dtype`. */
export function vectorTensor(name: string, dtype: DataType, values: ArrayLike<number>): Tensor {
  const n = values.length;
  return Tensor.lazy(name, dtype, [n], () => {
    const out = new Uint8Array((n * bitsPerElement(dtype)) / 8);
    const dv = new DataView(out.buffer);
    const c = codec(dtype);
    for (let i = 0; i < n; i++) c.set(out, dv, i, values[i]!);
    return out;
  });
}

/** `v · W` for a vector v [in] and W [in, out] (folding a LayerNorm β into the next bias). */
export function vecMat(v: Float64Array, w: Tensor): Float64Array {
  const [rows, cols] = w.dims as [number, number];
  const m = readFloats(w);
  const out = new Float64Array(cols);
  for (let r = 0; r < rows; r++) {
    const a = v[r]!;
    if (a === 0) continue;
    for (let c = 0; c < cols; c++) out[c] = out[c]! + a * m[r * cols + c]!;
  }
  return out;
}
