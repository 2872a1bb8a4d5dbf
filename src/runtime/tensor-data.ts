import type * as ort from 'onnxruntime-node';
import { OnnxOptError } from '../errors.js';
import { float16ToNumber } from '../ir/tensor.js';

// Reads the numbers out of tensors ORT hands back. Type-only ORT import: a measuring pass can read
// values without this module loading the native binding.

/** A tensor's elements as float64 (float16 decoded, int64 converted, bool 0/1). */
export function toFloat64(t: ort.Tensor): Float64Array {
  switch (t.type) {
    case 'float16':
      return Float64Array.from(t.data as Uint16Array, float16ToNumber);
    case 'int64':
    case 'uint64':
      return Float64Array.from(t.data as BigInt64Array, (v) => Number(v));
    case 'string':
      throw new OnnxOptError('UNSUPPORTED', 'string tensors have no numeric form');
    default:
      return Float64Array.from(t.data as ArrayLike<number>);
  }
}
