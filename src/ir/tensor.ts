import { closeSync, openSync, readSync } from 'node:fs';
import type { TensorProto } from 'onnx-buf';
import { OnnxOptError } from '../errors.js';
import { DataType, byteSizeOf, dtypeShortName, typedArrayConstructor, type TypedArray } from './dtype.js';

/** Where a tensor's bytes live. */
export type TensorStorage =
  /** Little-endian bytes in memory: a view into the model file buffer, or new data. */
  | { readonly kind: 'raw'; readonly bytes: Uint8Array }
  /** Data in TensorProto's typed fields (float_data, int64_data, ...); decoded only when read. */
  | { readonly kind: 'fields'; readonly proto: TensorProto }
  /** A byte range of an external data file, read on demand with positioned reads. */
  | {
      readonly kind: 'external';
      /** Absolute, already validated path of the data file. */
      readonly path: string;
      /** The `location` as written in the model, relative to the model's folder, normalized (no `./`, no `//`). */
      readonly location: string;
      readonly offset: number;
      readonly length: number;
    }
  /**
   * Bytes computed on demand (fused weights): nothing is held until the writer asks, and the
   * result is not cached, so peak memory stays at one tensor however many are pending.
   */
  | {
      readonly kind: 'lazy';
      readonly length: number;
      readonly compute: () => Uint8Array;
      /** Produces the same bytes in pieces of about `chunkSize`, for writers that stream. */
      readonly stream?: (chunkSize: number) => Generator<Uint8Array>;
    };

/**
 * An immutable tensor handle. Weights are never decoded or loaded until a pass asks for them:
 * `bytes()` reads them, `chunks()` streams them. A pass that changes a weight makes a new Tensor.
 */
export class Tensor {
  readonly name: string;
  readonly dtype: DataType;
  readonly dims: readonly number[];
  readonly storage: TensorStorage;
  /**
   * The TensorProto this tensor was read from. The writer re-emits it verbatim (doc strings,
   * metadata, segment, unknown fields) as long as the tensor is written where it was.
   */
  readonly sourceProto: TensorProto | undefined;

  constructor(init: { name: string; dtype: DataType; dims: readonly number[]; storage: TensorStorage; sourceProto?: TensorProto }) {
    this.name = init.name;
    this.dtype = init.dtype;
    this.dims = Object.freeze([...init.dims]);
    this.storage = init.storage;
    this.sourceProto = init.sourceProto;
  }

  /** A tensor holding a copy of `data` (little-endian, as all supported hosts are). */
  static fromArray(name: string, dtype: DataType, dims: readonly number[], data: TypedArray | Uint8Array): Tensor {
    const expected = byteSizeOf(dtype, dims.reduce((a, b) => a * b, 1));
    const bytes = new Uint8Array(data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength));
    if (dtype !== DataType.STRING && bytes.byteLength !== expected) {
      throw new OnnxOptError('INVALID_MODEL', `tensor ${name}: ${bytes.byteLength} bytes given, ${dtypeShortName(dtype)}[${dims.join(',')}] needs ${expected}`);
    }
    return new Tensor({ name, dtype, dims, storage: { kind: 'raw', bytes } });
  }

  /** A tensor whose bytes `compute` produces when read (`length` bytes, checked then). */
  static lazy(name: string, dtype: DataType, dims: readonly number[], compute: () => Uint8Array, stream?: (chunkSize: number) => Generator<Uint8Array>): Tensor {
    const length = byteSizeOf(dtype, dims.reduce((a, b) => a * b, 1));
    return new Tensor({ name, dtype, dims, storage: { kind: 'lazy', length, compute, ...(stream ? { stream } : {}) } });
  }

  /** Bytes [offset, offset + length): a positioned read for external data, a view otherwise. */
  readBytes(offset: number, length: number): Uint8Array {
    const s = this.storage;
    if (offset < 0 || offset + length > this.byteLength) throw new RangeError(`tensor ${this.name}: bytes [${offset}, ${offset + length}) out of range`);
    if (s.kind === 'external') return readRange(s.path, s.offset + offset, length);
    return this.bytes().subarray(offset, offset + length);
  }

  /** The same data under another name (no copy). */
  withName(name: string): Tensor {
    return new Tensor({ name, dtype: this.dtype, dims: this.dims, storage: this.storage });
  }

  get size(): number {
    let n = 1;
    for (const d of this.dims) n *= d;
    return n;
  }

  /** Size of the packed little-endian data, as raw_data or an external file holds it. */
  get byteLength(): number {
    if (this.storage.kind === 'external' || this.storage.kind === 'lazy') return this.storage.length;
    if (this.storage.kind === 'raw') return this.storage.bytes.byteLength;
    return byteSizeOf(this.dtype, this.size);
  }

  get isExternal(): boolean {
    return this.storage.kind === 'external';
  }

  /** All bytes, little-endian. External data is read now, with one positioned read. */
  bytes(): Uint8Array {
    const s = this.storage;
    switch (s.kind) {
      case 'raw':
        return s.bytes;
      case 'fields':
        return fieldsToBytes(s.proto, this.dtype, this.size);
      case 'external':
        return readRange(s.path, s.offset, s.length);
      case 'lazy': {
        const b = s.compute();
        if (b.byteLength !== s.length) throw new Error(`tensor ${this.name}: computed ${b.byteLength} bytes, expected ${s.length}`);
        return b;
      }
    }
  }

  /**
   * Streams the bytes in pieces of at most `chunkSize`, so that huge external tensors never sit
   * in memory whole. With `scratch`, external reads reuse that buffer: each chunk is valid only
   * until the next one is requested.
   */
  *chunks(chunkSize = 16 << 20, scratch?: Uint8Array): Generator<Uint8Array> {
    const s = this.storage;
    if (s.kind === 'lazy' && s.stream) {
      let total = 0;
      for (const c of s.stream(chunkSize)) {
        total += c.byteLength;
        yield c;
      }
      if (total !== s.length) throw new Error(`tensor ${this.name}: streamed ${total} bytes, expected ${s.length}`);
      return;
    }
    if (s.kind !== 'external') {
      yield this.bytes();
      return;
    }
    const fd = openFile(s.path);
    try {
      for (let done = 0; done < s.length; ) {
        const n = Math.min(chunkSize, s.length - done);
        yield readFully(fd, s.path, n, s.offset + done, scratch && scratch.byteLength >= n ? scratch.subarray(0, n) : undefined);
        done += n;
      }
    } finally {
      closeSync(fd);
    }
  }

  /** The elements as a typed array (a copy, aligned). FLOAT16/BFLOAT16 come back as raw Uint16 bits. */
  toArray(): TypedArray {
    const Ctor = typedArrayConstructor(this.dtype);
    if (!Ctor) throw new OnnxOptError('UNSUPPORTED', `tensor ${this.name}: ${dtypeShortName(this.dtype)} has no typed-array form`);
    const b = this.bytes();
    const copy = new Uint8Array(b.byteLength);
    copy.set(b);
    return new Ctor(copy.buffer, 0, b.byteLength / Ctor.BYTES_PER_ELEMENT);
  }

  /** Elements converted to JS numbers (FLOAT16/BFLOAT16 decoded); for shape math and small constants. */
  toNumbers(): number[] {
    const a = this.toArray();
    if (this.dtype === DataType.FLOAT16) return Array.from(a as Uint16Array, float16ToNumber);
    if (this.dtype === DataType.BFLOAT16) return Array.from(a as Uint16Array, bfloat16ToNumber);
    return Array.from(a as ArrayLike<number | bigint>, (v) => Number(v));
  }
}

export function float16ToNumber(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const f = h & 0x3ff;
  if (e === 0) return s * f * 2 ** -24;
  if (e === 31) return f ? NaN : s * Infinity;
  return s * (1 + f / 1024) * 2 ** (e - 15);
}

export function bfloat16ToNumber(b: number): number {
  const buf = new Float32Array(new Uint32Array([b << 16]).buffer);
  return buf[0]!;
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);
/** Round-to-nearest-even float32 → float16 bits. */
export function numberToFloat16(v: number): number {
  f32[0] = v;
  const x = u32[0]!;
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  let e = exp - 127 + 15;
  if (e >= 31) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    let h = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    const half = 1 << (shift - 1);
    if (rem > half || (rem === half && h & 1)) h++;
    return sign | h;
  }
  let h = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && h & 1)) h++;
  return sign | h;
}

/** How many values a TensorProto holds in the typed field its data type uses. */
export function fieldCount(tp: TensorProto, dtype: DataType): number {
  switch (dtype) {
    case DataType.FLOAT:
    case DataType.COMPLEX64:
      return tp.floatData.length;
    case DataType.DOUBLE:
    case DataType.COMPLEX128:
      return tp.doubleData.length;
    case DataType.INT64:
      return tp.int64Data.length;
    case DataType.UINT64:
    case DataType.UINT32:
      return tp.uint64Data.length;
    case DataType.STRING:
      return tp.stringData.length;
    default:
      return tp.int32Data.length;
  }
}

/** How many typed-field values `count` elements of `dtype` take (complex: 2; packed sub-byte types: fewer). */
export function fieldsNeeded(dtype: DataType, count: number): number {
  if (dtype === DataType.COMPLEX64 || dtype === DataType.COMPLEX128) return count * 2;
  if ([DataType.INT4, DataType.UINT4, DataType.FLOAT4E2M1].includes(dtype)) return Math.ceil(count / 2);
  if ([DataType.INT2, DataType.UINT2].includes(dtype)) return Math.ceil(count / 4);
  return count;
}

function fieldsToBytes(p: TensorProto, dtype: DataType, count: number): Uint8Array {
  // Checked before allocating: the size comes from the declared shape, the values from the file.
  if (p.segment) throw new OnnxOptError('UNSUPPORTED', `tensor ${p.name}: segmented tensors (TensorProto.segment) are not supported`);
  if (dtype !== DataType.STRING && fieldCount(p, dtype) !== fieldsNeeded(dtype, count)) {
    throw new OnnxOptError('INVALID_MODEL', `tensor ${p.name}: holds ${fieldCount(p, dtype)} values, but its shape needs ${fieldsNeeded(dtype, count)}`);
  }
  const out = new Uint8Array(byteSizeOf(dtype, count));
  const dv = new DataView(out.buffer);
  switch (dtype) {
    case DataType.FLOAT:
      p.floatData.forEach((v, i) => dv.setFloat32(i * 4, v, true));
      break;
    case DataType.COMPLEX64:
      p.floatData.forEach((v, i) => dv.setFloat32(i * 4, v, true));
      break;
    case DataType.DOUBLE:
    case DataType.COMPLEX128:
      p.doubleData.forEach((v, i) => dv.setFloat64(i * 8, v, true));
      break;
    case DataType.INT64:
      p.int64Data.forEach((v, i) => dv.setBigInt64(i * 8, v, true));
      break;
    case DataType.UINT64:
      p.uint64Data.forEach((v, i) => dv.setBigUint64(i * 8, v, true));
      break;
    case DataType.UINT32:
      p.uint64Data.forEach((v, i) => dv.setUint32(i * 4, Number(v), true));
      break;
    case DataType.INT32:
      p.int32Data.forEach((v, i) => dv.setInt32(i * 4, v, true));
      break;
    case DataType.INT16:
    case DataType.UINT16:
    case DataType.FLOAT16:
    case DataType.BFLOAT16:
      p.int32Data.forEach((v, i) => dv.setUint16(i * 2, v & 0xffff, true));
      break;
    case DataType.STRING:
      throw new OnnxOptError('UNSUPPORTED', `tensor ${p.name}: string tensors have no byte form`);
    default:
      // 8-bit and packed sub-byte types: one byte of (packed) data per int32_data element.
      p.int32Data.forEach((v, i) => {
        if (i < out.length) out[i] = v & 0xff;
      });
  }
  return out;
}

function openFile(path: string): number {
  try {
    return openSync(path, 'r');
  } catch (e) {
    throw new OnnxOptError('EXTERNAL_DATA_MISSING', `cannot open external data: ${(e as Error).message}`, { file: path, cause: e });
  }
}

function readFully(fd: number, path: string, length: number, position: number, into?: Uint8Array): Uint8Array {
  const buf = into ?? new Uint8Array(length);
  let got = 0;
  while (got < length) {
    const n = readSync(fd, buf, got, length - got, position + got);
    if (n === 0) throw new OnnxOptError('EXTERNAL_DATA_RANGE', `external data ends at ${position + got}, expected ${length} bytes from offset ${position}`, { file: path });
    got += n;
  }
  return buf;
}

/** One positioned read of a byte range. */
export function readRange(path: string, offset: number, length: number): Uint8Array {
  const fd = openFile(path);
  try {
    return readFully(fd, path, length, offset);
  } finally {
    closeSync(fd);
  }
}
