import { create } from '@bufbuild/protobuf';
import { TensorProtoSchema, type TensorProto } from 'onnx-buf';
import { OnnxOptError } from '../errors.js';
import { DataType } from './dtype.js';
import { Tensor } from './tensor.js';

/** The strings of a STRING tensor (UTF-8 decoded). */
export function stringsOf(t: Tensor): string[] {
  if (t.dtype !== DataType.STRING) throw new OnnxOptError('UNSUPPORTED', `tensor ${t.name}: not a string tensor`);
  const proto = t.storage.kind === 'fields' ? t.storage.proto : t.sourceProto;
  if (!proto) throw new OnnxOptError('UNSUPPORTED', `tensor ${t.name}: string data is not available`);
  const dec = new TextDecoder();
  return proto.stringData.map((b) => dec.decode(b));
}

/** A STRING tensor. Its TensorProto is its source, so the writer can emit it while the name stays. */
export function stringTensor(name: string, dims: readonly number[], values: readonly string[]): Tensor {
  const enc = new TextEncoder();
  const proto: TensorProto = create(TensorProtoSchema, {
    name,
    dataType: DataType.STRING,
    dims: dims.map((d) => BigInt(d)),
    stringData: values.map((s) => enc.encode(s)),
  });
  return new Tensor({ name, dtype: DataType.STRING, dims, storage: { kind: 'fields', proto }, sourceProto: proto });
}
