import { create, toBinary, type MessageInitShape } from '@bufbuild/protobuf';
import {
  GraphProtoSchema,
  ModelProtoSchema,
  NodeProtoSchema,
  OperatorSetIdProtoSchema,
  StringStringEntryProtoSchema,
  TensorProtoSchema,
  TypeProto_TensorSchema,
  TypeProtoSchema,
  ValueInfoProtoSchema,
  type TensorProto,
} from 'onnx-buf';

/** Hand-built ModelProtos for malformed-input tests: the IR builder refuses to make these. */
export function valueInfo(name: string, elemType = 1) {
  return create(ValueInfoProtoSchema, {
    name,
    type: create(TypeProtoSchema, { value: { case: 'tensorType', value: create(TypeProto_TensorSchema, { elemType }) } }),
  });
}

export function node(opType: string, input: string[], output: string[], name = '') {
  return create(NodeProtoSchema, { opType, input, output, name });
}

export function modelBytes(graph: MessageInitShape<typeof GraphProtoSchema>): Uint8Array {
  const g = create(GraphProtoSchema, { name: 'g', ...graph });
  return toBinary(
    ModelProtoSchema,
    create(ModelProtoSchema, { irVersion: 8n, opsetImport: [create(OperatorSetIdProtoSchema, { version: 17n })], graph: g }),
  );
}

export function externalTensor(name: string, location: string, offset: number, length: number, dims = [length / 4]): TensorProto {
  return create(TensorProtoSchema, {
    name,
    dataType: 1,
    dims: dims.map(BigInt),
    dataLocation: 1,
    externalData: [
      create(StringStringEntryProtoSchema, { key: 'location', value: location }),
      create(StringStringEntryProtoSchema, { key: 'offset', value: String(offset) }),
      create(StringStringEntryProtoSchema, { key: 'length', value: String(length) }),
    ],
  });
}
