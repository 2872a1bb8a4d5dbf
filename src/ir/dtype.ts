/** ONNX element types. Numeric values are TensorProto.DataType's, so they go to and from protobuf unchanged. */
export enum DataType {
  UNDEFINED = 0,
  FLOAT = 1,
  UINT8 = 2,
  INT8 = 3,
  UINT16 = 4,
  INT16 = 5,
  INT32 = 6,
  INT64 = 7,
  STRING = 8,
  BOOL = 9,
  FLOAT16 = 10,
  DOUBLE = 11,
  UINT32 = 12,
  UINT64 = 13,
  COMPLEX64 = 14,
  COMPLEX128 = 15,
  BFLOAT16 = 16,
  FLOAT8E4M3FN = 17,
  FLOAT8E4M3FNUZ = 18,
  FLOAT8E5M2 = 19,
  FLOAT8E5M2FNUZ = 20,
  UINT4 = 21,
  INT4 = 22,
  FLOAT4E2M1 = 23,
  FLOAT8E8M0 = 24,
  UINT2 = 25,
  INT2 = 26,
}

/** Bits per element; 0 for STRING (variable) and UNDEFINED. */
const BITS: Record<DataType, number> = {
  [DataType.UNDEFINED]: 0,
  [DataType.FLOAT]: 32,
  [DataType.UINT8]: 8,
  [DataType.INT8]: 8,
  [DataType.UINT16]: 16,
  [DataType.INT16]: 16,
  [DataType.INT32]: 32,
  [DataType.INT64]: 64,
  [DataType.STRING]: 0,
  [DataType.BOOL]: 8,
  [DataType.FLOAT16]: 16,
  [DataType.DOUBLE]: 64,
  [DataType.UINT32]: 32,
  [DataType.UINT64]: 64,
  [DataType.COMPLEX64]: 64,
  [DataType.COMPLEX128]: 128,
  [DataType.BFLOAT16]: 16,
  [DataType.FLOAT8E4M3FN]: 8,
  [DataType.FLOAT8E4M3FNUZ]: 8,
  [DataType.FLOAT8E5M2]: 8,
  [DataType.FLOAT8E5M2FNUZ]: 8,
  [DataType.UINT4]: 4,
  [DataType.INT4]: 4,
  [DataType.FLOAT4E2M1]: 4,
  [DataType.FLOAT8E8M0]: 8,
  [DataType.UINT2]: 2,
  [DataType.INT2]: 2,
};

const SHORT_NAMES: Record<DataType, string> = {
  [DataType.UNDEFINED]: 'undef',
  [DataType.FLOAT]: 'f32',
  [DataType.UINT8]: 'u8',
  [DataType.INT8]: 'i8',
  [DataType.UINT16]: 'u16',
  [DataType.INT16]: 'i16',
  [DataType.INT32]: 'i32',
  [DataType.INT64]: 'i64',
  [DataType.STRING]: 'str',
  [DataType.BOOL]: 'bool',
  [DataType.FLOAT16]: 'f16',
  [DataType.DOUBLE]: 'f64',
  [DataType.UINT32]: 'u32',
  [DataType.UINT64]: 'u64',
  [DataType.COMPLEX64]: 'c64',
  [DataType.COMPLEX128]: 'c128',
  [DataType.BFLOAT16]: 'bf16',
  [DataType.FLOAT8E4M3FN]: 'f8e4m3fn',
  [DataType.FLOAT8E4M3FNUZ]: 'f8e4m3fnuz',
  [DataType.FLOAT8E5M2]: 'f8e5m2',
  [DataType.FLOAT8E5M2FNUZ]: 'f8e5m2fnuz',
  [DataType.UINT4]: 'u4',
  [DataType.INT4]: 'i4',
  [DataType.FLOAT4E2M1]: 'f4e2m1',
  [DataType.FLOAT8E8M0]: 'f8e8m0',
  [DataType.UINT2]: 'u2',
  [DataType.INT2]: 'i2',
};

export function isKnownDataType(n: number): n is DataType {
  return Number.isInteger(n) && n >= 0 && n <= DataType.INT2;
}

export function bitsPerElement(dtype: DataType): number {
  return BITS[dtype] ?? 0;
}

export function dtypeShortName(dtype: DataType): string {
  return SHORT_NAMES[dtype] ?? `dtype${dtype as number}`;
}

/** Bytes needed to hold `count` elements packed densely, as raw_data stores them (sub-byte types round up). */
export function byteSizeOf(dtype: DataType, count: number): number {
  return Math.ceil((count * bitsPerElement(dtype)) / 8);
}

export function isFloatType(dtype: DataType): boolean {
  return (
    dtype === DataType.FLOAT ||
    dtype === DataType.FLOAT16 ||
    dtype === DataType.BFLOAT16 ||
    dtype === DataType.DOUBLE
  );
}

/** The typed array that onnxruntime-node and our evaluators use for a dtype's elements. */
export type TypedArray =
  | Float32Array
  | Float64Array
  | Int8Array
  | Uint8Array
  | Int16Array
  | Uint16Array
  | Int32Array
  | Uint32Array
  | BigInt64Array
  | BigUint64Array;

/**
 * Typed-array constructor for a dtype whose elements are whole bytes. FLOAT16/BFLOAT16 come back as
 * Uint16Array of raw bits; float8 as Uint8Array of raw bits. Sub-byte types have none.
 */
export function typedArrayConstructor(dtype: DataType):
  | { new (buffer: ArrayBufferLike, byteOffset?: number, length?: number): TypedArray; new (length: number): TypedArray; BYTES_PER_ELEMENT: number }
  | undefined {
  switch (dtype) {
    case DataType.FLOAT:
      return Float32Array;
    case DataType.DOUBLE:
      return Float64Array;
    case DataType.INT8:
      return Int8Array;
    case DataType.UINT8:
    case DataType.BOOL:
    case DataType.FLOAT8E4M3FN:
    case DataType.FLOAT8E4M3FNUZ:
    case DataType.FLOAT8E5M2:
    case DataType.FLOAT8E5M2FNUZ:
    case DataType.FLOAT8E8M0:
      return Uint8Array;
    case DataType.INT16:
      return Int16Array;
    case DataType.UINT16:
    case DataType.FLOAT16:
    case DataType.BFLOAT16:
      return Uint16Array;
    case DataType.INT32:
      return Int32Array;
    case DataType.UINT32:
      return Uint32Array;
    case DataType.INT64:
      return BigInt64Array;
    case DataType.UINT64:
      return BigUint64Array;
    default:
      return undefined;
  }
}
