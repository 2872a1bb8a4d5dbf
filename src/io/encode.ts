import { create, type DescMessage, type MessageShape } from '@bufbuild/protobuf';
import {
  AttributeProtoSchema,
  GraphProtoSchema,
  ModelProtoSchema,
  NodeProtoSchema,
  OperatorSetIdProtoSchema,
  StringStringEntryProtoSchema,
  TensorProtoSchema,
  TensorShapeProto_DimensionSchema,
  TensorShapeProtoSchema,
  TypeProto_TensorSchema,
  TypeProtoSchema,
  ValueInfoProtoSchema,
  type AttributeProto,
  type GraphProto,
  type ModelProto,
  type NodeProto,
  type StringStringEntryProto,
  type TensorProto,
  type TypeProto,
  type ValueInfoProto,
} from 'onnx-buf';
import { Attribute, AttributeType } from '../ir/attribute.js';
import type { Graph } from '../ir/graph.js';
import type { Model } from '../ir/model.js';
import type { Node } from '../ir/node.js';
import type { Tensor } from '../ir/tensor.js';
import { typesEqual, type ValueType } from '../ir/types.js';
import type { Value } from '../ir/value.js';
import type { Declaration, ValueDeclarations } from './decode.js';

/** Decides how each initializer is stored: the writer passes this in to place tensors inline or in data files. */
export type TensorEmitter = (tensor: Tensor) => TensorProto;

/**
 * IR → ModelProto. Everything read from a file is re-emitted from its source message, with only
 * the fields the IR owns overwritten when they changed, so an unchanged model encodes to the
 * same bytes it was read from (proto2 presence included).
 */
export function encodeModel(model: Model, emitTensor: TensorEmitter = inlineTensorProto): ModelProto {
  const out = fromSource(ModelProtoSchema, model.extras.sourceProto);
  setIfChanged(out, 'irVersion', BigInt(model.irVersion));
  const src = model.extras.sourceProto as ModelProto | undefined;
  const sameOpsets =
    src &&
    src.opsetImport.length === model.opsetImports.length &&
    src.opsetImport.every((o, i) => o.domain === model.opsetImports[i]!.domain && Number(o.version) === model.opsetImports[i]!.version);
  if (!sameOpsets) {
    out.opsetImport = model.opsetImports.map((o) => create(OperatorSetIdProtoSchema, { domain: o.domain, version: BigInt(o.version) }));
  }
  setIfChanged(out, 'producerName', model.producerName);
  setIfChanged(out, 'producerVersion', model.producerVersion);
  setIfChanged(out, 'domain', model.domain);
  setIfChanged(out, 'modelVersion', BigInt(model.modelVersion));
  setIfChanged(out, 'docString', model.docString);
  out.metadataProps = encodeProps(model.metadataProps, src?.metadataProps);
  out.graph = encodeGraph(model.graph, emitTensor);
  return out;
}

export function encodeGraph(g: Graph, emitTensor: TensorEmitter): GraphProto {
  const src = g.extras.sourceProto as GraphProto | undefined;
  const out = fromSource(GraphProtoSchema, src);
  setIfChanged(out, 'name', g.name);
  setIfChanged(out, 'docString', g.docString);
  out.metadataProps = encodeProps(g.metadataProps, src?.metadataProps);
  out.input = g.inputs.map((v) => encodeValueInfo(v, 'input'));
  out.output = g.outputs.map((v) => encodeValueInfo(v, 'output'));
  out.initializer = [...g.initializers.values()].map((v) => emitTensor(v.initializer!));
  out.node = g.nodes.map((n) => encodeNode(n, emitTensor));
  const infos = g.valueInfos.filter((v) => isAlive(v, g)).map((v) => encodeValueInfo(v, 'valueInfo'));
  // Orphan entries were in the file and name nothing in this graph: carried as they were.
  out.valueInfo = [...infos, ...((g.extras.orphanValueInfos as ValueInfoProto[] | undefined) ?? [])];
  return out;
}

/** A value still defined in the graph (passes may have removed its producer). */
function isAlive(v: Value, g: Graph): boolean {
  if (v.producer) return v.producer.graph === g;
  return g.inputs.includes(v) || g.initializers.get(v.name) === v;
}

function encodeNode(n: Node, emitTensor: TensorEmitter): NodeProto {
  const src = n.extras.sourceProto as NodeProto | undefined;
  const out = fromSource(NodeProtoSchema, src);
  const inputs = n.inputs.map((v) => v?.name ?? '');
  while (inputs.length && inputs[inputs.length - 1] === '' && src && inputs.length > src.input.length) inputs.pop();
  out.input = inputs;
  out.output = n.outputs.map((v) => v?.name ?? '');
  setIfChanged(out, 'name', n.name);
  setIfChanged(out, 'opType', n.opType);
  setIfChanged(out, 'domain', n.domain);
  setIfChanged(out, 'overload', n.overload);
  setIfChanged(out, 'docString', n.docString);
  out.attribute = n.attributes.map((a) => encodeAttribute(a, emitTensor));
  out.metadataProps = encodeProps(n.metadataProps, src?.metadataProps);
  return out;
}

function encodeAttribute(a: Attribute, emitTensor: TensorEmitter): AttributeProto {
  const src = a.sourceProto;
  if (src && a.type !== AttributeType.GRAPH && a.type !== AttributeType.GRAPHS) return src;
  const out = fromSource(AttributeProtoSchema, src);
  setIfChanged(out, 'name', a.name);
  setIfChanged(out, 'type', a.type as number as AttributeProto['type']);
  if (a.refAttrName) setIfChanged(out, 'refAttrName', a.refAttrName);
  if (a.docString) setIfChanged(out, 'docString', a.docString);
  const v = a.value;
  switch (a.type) {
    case AttributeType.FLOAT:
      out.f = v as number;
      break;
    case AttributeType.INT:
      out.i = BigInt(v as number);
      break;
    case AttributeType.STRING:
      out.s = new TextEncoder().encode(v as string);
      break;
    case AttributeType.FLOATS:
      out.floats = [...(v as number[])];
      break;
    case AttributeType.INTS:
      out.ints = (v as number[]).map((x) => BigInt(x));
      break;
    case AttributeType.STRINGS:
      out.strings = (v as string[]).map((s) => new TextEncoder().encode(s));
      break;
    case AttributeType.TENSOR:
      out.t = inlineTensorProto(v as Tensor);
      break;
    case AttributeType.TENSORS:
      out.tensors = (v as Tensor[]).map(inlineTensorProto);
      break;
    case AttributeType.GRAPH:
      out.g = encodeGraph(v as Graph, emitTensor);
      break;
    case AttributeType.GRAPHS:
      out.graphs = (v as Graph[]).map((g) => encodeGraph(g, emitTensor));
      break;
  }
  return out;
}

function encodeValueInfo(v: Value, role: keyof ValueDeclarations): ValueInfoProto {
  const decl: Declaration | undefined = (v.info.sourceProto as ValueDeclarations | undefined)?.[role];
  if (decl && decl.proto.name === v.name && typesEqual(decl.type, v.type)) return decl.proto;
  const out = fromSource(ValueInfoProtoSchema, decl?.proto);
  out.name = v.name;
  const t = encodeType(v.type);
  if (t) out.type = t;
  else delete (out as { type?: unknown }).type;
  if (v.info.docString) setIfChanged(out, 'docString', v.info.docString);
  return out;
}

export function encodeType(t: ValueType | undefined): TypeProto | undefined {
  if (!t) return undefined;
  if (t.kind === 'other') return t.proto as TypeProto | undefined;
  const tensor = create(TypeProto_TensorSchema, { elemType: t.dtype });
  if (t.shape) {
    tensor.shape = create(TensorShapeProtoSchema, {
      dim: t.shape.map((d) =>
        create(
          TensorShapeProto_DimensionSchema,
          d === null ? {} : typeof d === 'number' ? { value: { case: 'dimValue', value: BigInt(d) } } : { value: { case: 'dimParam', value: d } },
        ),
      ),
    });
  }
  return create(TypeProtoSchema, { value: { case: 'tensorType', value: tensor } });
}

/** An inline TensorProto: the source message if the tensor is as it was read, else raw_data. */
export function inlineTensorProto(t: Tensor): TensorProto {
  const src = t.sourceProto;
  if (src && src.name === t.name && t.storage.kind !== 'external') return src;
  const out = fromSource(TensorProtoSchema, src?.name === t.name ? src : undefined);
  out.name = t.name;
  out.dataType = t.dtype;
  out.dims = t.dims.map((d) => BigInt(d));
  clearData(out);
  out.rawData = new Uint8Array(t.bytes());
  return out;
}

/** A TensorProto pointing at `location` bytes [offset, offset+length). */
export function externalTensorProto(t: Tensor, location: string, offset: number, length: number): TensorProto {
  const src = t.sourceProto?.name === t.name ? t.sourceProto : undefined;
  const out = fromSource(TensorProtoSchema, src);
  out.name = t.name;
  out.dataType = t.dtype;
  out.dims = t.dims.map((d) => BigInt(d));
  clearData(out);
  const kept = (src?.externalData ?? []).filter((e) => !['location', 'offset', 'length'].includes(e.key));
  out.externalData = [
    create(StringStringEntryProtoSchema, { key: 'location', value: location }),
    create(StringStringEntryProtoSchema, { key: 'offset', value: String(offset) }),
    create(StringStringEntryProtoSchema, { key: 'length', value: String(length) }),
    ...kept,
  ];
  out.dataLocation = 1;
  return out;
}

function clearData(t: TensorProto): void {
  t.floatData = [];
  t.int32Data = [];
  t.int64Data = [];
  t.doubleData = [];
  t.uint64Data = [];
  t.stringData = [];
  t.externalData = [];
  delete (t as { rawData?: unknown }).rawData;
  delete (t as { dataLocation?: unknown }).dataLocation;
}

function encodeProps(props: [string, string][], src: StringStringEntryProto[] | undefined): StringStringEntryProto[] {
  if (src && src.length === props.length && src.every((e, i) => e.key === props[i]![0] && e.value === props[i]![1])) return src;
  return props.map(([key, value]) => create(StringStringEntryProtoSchema, { key, value }));
}

/** A new message sharing the source's fields (sources are never mutated), or an empty one. */
function fromSource<D extends DescMessage>(schema: D, src: unknown): MessageShape<D> {
  const out = create(schema);
  if (src) Object.assign(out, src);
  return out;
}

/** Assigns only on change, so an unset proto2 field stays unset and a set one stays set. */
function setIfChanged<T extends object, K extends keyof T>(msg: T, key: K, value: T[K]): void {
  if (msg[key] !== value) msg[key] = value;
}
