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

/** Concatenates 2-D tensors of one dtype along `axis` (0: stack rows, 1: stack columns). */
export function concat2d(name: string, parts: readonly Tensor[], axis: 0 | 1): Tensor {
  const dtype = parts[0]!.dtype;
  for (const p of parts) {
    if (p.dtype !== dtype) throw new OnnxOptError('UNSUPPORTED', `cannot concatenate ${dtypeShortName(p.dtype)} with ${dtypeShortName(dtype)} weights`);
    if (p.dims.length !== 2) throw new OnnxOptError('UNSUPPORTED', `weight ${p.name} is not 2-D`);
  }
  const other = 1 - axis;
  const fixed = parts[0]!.dims[other]!;
  for (const p of parts) {
    if (p.dims[other] !== fixed) throw new OnnxOptError('UNSUPPORTED', `weights ${parts[0]!.name} and ${p.name} differ on axis ${other}`);
  }
  const total = parts.reduce((s, p) => s + p.dims[axis]!, 0);
  const dims = axis === 0 ? [total, fixed] : [fixed, total];
  return Tensor.lazy(name, dtype, dims, () => {
    const eb = elementBytes(dtype);
    const out = new Uint8Array(total * fixed * eb);
    if (axis === 0) {
      let at = 0;
      for (const p of parts) {
        const b = p.bytes();
        out.set(b, at);
        at += b.byteLength;
      }
      return out;
    }
    // Stack columns: each output row is the parts' rows side by side.
    const rowBytes = total * eb;
    let col = 0;
    for (const p of parts) {
      const b = p.bytes();
      const w = p.dims[1]! * eb;
      for (let r = 0; r < fixed; r++) out.set(b.subarray(r * w, (r + 1) * w), r * rowBytes + col);
      col += w;
    }
    return out;
  });
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

/** `diag(gamma) · W` for W stored [in, out]: row r is multiplied by gamma[r]. Rounds once, in W's dtype. */
export function scaleRows(name: string, w: Tensor, gamma: Float64Array): Tensor {
  const [rows, cols] = w.dims as [number, number];
  if (gamma.length !== rows) throw new OnnxOptError('UNSUPPORTED', `norm weight has ${gamma.length} elements, ${w.name} has ${rows} input rows`);
  return Tensor.lazy(name, w.dtype, w.dims, () => {
    const src = w.bytes();
    const out = new Uint8Array(src.byteLength);
    const si = new DataView(src.buffer, src.byteOffset, src.byteLength);
    const so = new DataView(out.buffer);
    const c = codec(w.dtype);
    for (let r = 0; r < rows; r++) {
      const g = gamma[r]!;
      for (let j = 0; j < cols; j++) {
        const i = r * cols + j;
        c.set(out, so, i, c.get(src, si, i) * g);
      }
    }
    return out;
  });
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
