import * as ort from 'onnxruntime-node';
import { OnnxOptError } from '../errors.js';
import { DataType, dtypeShortName, type TypedArray } from '../ir/dtype.js';
import { stringsOf, stringTensor } from '../ir/string-tensors.js';
import { numberToFloat16, Tensor } from '../ir/tensor.js';

// String tensors are an IR matter (graph passes build them); re-exported for the runtime's users.
export { stringsOf, stringTensor } from '../ir/string-tensors.js';
export { toFloat64 } from './tensor-data.js';

/** ONNX element type → onnxruntime-node tensor type, for the types ORT's JS binding can carry. */
const TO_ORT: Partial<Record<DataType, ort.Tensor.Type>> = {
  [DataType.FLOAT]: 'float32',
  [DataType.FLOAT16]: 'float16',
  [DataType.DOUBLE]: 'float64',
  [DataType.INT8]: 'int8',
  [DataType.INT16]: 'int16',
  [DataType.INT32]: 'int32',
  [DataType.INT64]: 'int64',
  [DataType.UINT8]: 'uint8',
  [DataType.UINT16]: 'uint16',
  [DataType.UINT32]: 'uint32',
  [DataType.UINT64]: 'uint64',
  [DataType.BOOL]: 'bool',
  [DataType.STRING]: 'string',
  // int4/uint4 are left out on purpose: onnxruntime-node 1.30 runs out of memory handing them back.
};

const FROM_ORT: Record<string, DataType> = Object.fromEntries(Object.entries(TO_ORT).map(([k, v]) => [v, Number(k) as DataType]));

/** The ORT tensor type for an ONNX element type, or undefined when ORT's JS binding has none. */
export function ortTypeOf(dtype: DataType): ort.Tensor.Type | undefined {
  return TO_ORT[dtype];
}

/** The ONNX element type for an ORT tensor type, or undefined (bfloat16, 4-bit types, ...). */
export function dataTypeOfOrt(type: string): DataType | undefined {
  return FROM_ORT[type];
}

/** IR tensor → ORT tensor (a copy of the data). Throws UNSUPPORTED for types ORT's JS binding lacks. */
export function toOrtTensor(t: Tensor): ort.Tensor {
  const type = ortTypeOf(t.dtype);
  if (!type) throw new OnnxOptError('UNSUPPORTED', `tensor ${t.name}: onnxruntime-node has no ${dtypeShortName(t.dtype)} tensors`);
  const dims = [...t.dims];
  if (type === 'string') return new ort.Tensor('string', stringsOf(t), dims);
  // toArray gives Uint16 bits for float16 and Uint8 for bool, which is what ORT takes.
  return new ort.Tensor(type, t.toArray() as ort.Tensor.DataTypeMap[typeof type], dims);
}

/** ORT tensor → IR tensor named `name` (data copied). Throws UNSUPPORTED for types with no ONNX mapping here. */
export function fromOrtTensor(name: string, t: ort.Tensor): Tensor {
  const dtype = dataTypeOfOrt(t.type);
  if (dtype === undefined) throw new OnnxOptError('UNSUPPORTED', `tensor ${name}: onnxruntime type '${t.type}' is not supported`);
  const dims = t.dims.map((d) => Number(d));
  if (dtype === DataType.STRING) return stringTensor(name, dims, t.data as string[]);
  let data = t.data as unknown as TypedArray | ArrayLike<number>;
  if (dtype === DataType.FLOAT16 && !(data instanceof Uint16Array)) {
    // Runtimes with Float16Array hand float16 back as numbers; store the raw bits.
    data = Uint16Array.from(Array.from(data as ArrayLike<number>, (v) => numberToFloat16(v)));
  }
  if (dtype === DataType.BOOL && !(data instanceof Uint8Array)) data = Uint8Array.from(Array.from(data as ArrayLike<number>, (v) => (v ? 1 : 0)));
  return Tensor.fromArray(name, dtype, dims, data as TypedArray);
}
