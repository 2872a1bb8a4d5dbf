import type { AttributeProto, GraphProto, ModelProto, NodeProto, TensorProto, TypeProto, ValueInfoProto } from 'onnx-buf';
import { OnnxOptError } from '../errors.js';
import { Attribute, AttributeType } from '../ir/attribute.js';
import { DataType, byteSizeOf, isKnownDataType } from '../ir/dtype.js';
import { Graph } from '../ir/graph.js';
import { Model } from '../ir/model.js';
import { NameAuthority } from '../ir/name-authority.js';
import { Node } from '../ir/node.js';
import { Tensor, fieldCount, fieldsNeeded, type TensorStorage } from '../ir/tensor.js';
import type { Dim, ValueType } from '../ir/types.js';
import { Value } from '../ir/value.js';
import type { ExternalDataResolver } from './external-data.js';

/** Largest element count we accept from a declared shape: beyond this a file is lying about its size. */
const MAX_ELEMENTS = 2 ** 50;

interface DecodeContext {
  file: string;
  external: ExternalDataResolver | undefined;
  names: NameAuthority;
}

/** Declarations a value was read with, so the writer can re-emit them byte for byte. */
export interface Declaration {
  proto: ValueInfoProto;
  type: ValueType | undefined;
}

export interface ValueDeclarations {
  input?: Declaration;
  output?: Declaration;
  valueInfo?: Declaration;
}

/** ModelProto → IR. Validates structure as it goes: every problem is an OnnxOptError naming the file. */
export function decodeModel(proto: ModelProto, ctx: { file: string; external?: ExternalDataResolver }): Model {
  const c: DecodeContext = { file: ctx.file, external: ctx.external, names: new NameAuthority() };
  if (!proto.graph) throw new OnnxOptError('INVALID_MODEL', 'the model has no graph', { file: ctx.file });
  const graph = decodeGraph(proto.graph, c, undefined);
  const model = new Model(graph);
  model.irVersion = safeInt(proto.irVersion, 'ir_version', c);
  model.opsetImports = proto.opsetImport.map((o) => ({ domain: o.domain, version: safeInt(o.version, 'opset version', c) }));
  model.producerName = proto.producerName;
  model.producerVersion = proto.producerVersion;
  model.domain = proto.domain;
  model.modelVersion = safeInt(proto.modelVersion, 'model_version', c);
  model.docString = proto.docString;
  model.metadataProps = proto.metadataProps.map((e) => [e.key, e.value]);
  model.sourcePath = ctx.file;
  model.extras.sourceProto = proto;
  return model;
}

function safeInt(v: bigint, what: string, c: DecodeContext): number {
  const n = Number(v);
  if (!Number.isSafeInteger(n)) throw new OnnxOptError('INVALID_MODEL', `${what} ${v} is out of range`, { file: c.file });
  return n;
}

const scopes = new WeakMap<Graph, Map<string, Value>>();

function lookup(graph: Graph, name: string): Value | undefined {
  for (let g: Graph | undefined = graph; g; g = g.parent) {
    const v = scopes.get(g)?.get(name);
    if (v) return v;
  }
  return undefined;
}

export function decodeGraph(gp: GraphProto, c: DecodeContext, parent: Graph | undefined): Graph {
  const g = new Graph(gp.name, { parent, names: c.names });
  g.docString = gp.docString;
  g.metadataProps = gp.metadataProps.map((e) => [e.key, e.value]);
  g.extras.sourceProto = gp;
  const scope = new Map<string, Value>();
  scopes.set(g, scope);
  const where = parent ? ` in subgraph '${gp.name}'` : '';
  const bad = (msg: string) => new OnnxOptError('INVALID_MODEL', msg + where, { file: c.file });

  const define = (name: string, type?: ValueType): Value => {
    if (scope.has(name)) throw bad(`value '${name}' is defined more than once`);
    if (parent && lookup(parent, name)) throw bad(`value '${name}' shadows a value of an enclosing graph`);
    const v = new Value(g, name, type);
    c.names.reserve(name);
    scope.set(name, v);
    return v;
  };

  const inputs = new Set<Value>(); // g.inputs.includes per initializer would be quadratic (IR v3 lists every initializer as an input)
  for (const vi of gp.input) {
    const type = decodeType(vi.type, c);
    const v = define(vi.name, type);
    declarations(v).input = { proto: vi, type };
    g.inputs.push(v);
    inputs.add(v);
  }
  for (const tp of gp.initializer) {
    const tensor = decodeTensor(tp, c);
    let v = scope.get(tp.name);
    if (v && !inputs.has(v)) throw bad(`initializer '${tp.name}' is defined more than once`);
    if (v?.initializer) throw bad(`initializer '${tp.name}' is defined more than once`);
    if (!v) v = define(tp.name, { kind: 'tensor', dtype: tensor.dtype, shape: tensor.dims });
    v.initializer = tensor;
    g.initializers.set(tp.name, v);
  }

  // Outputs first, so a node may name a value defined by a later node; the verifier reports the
  // order problem (or cycle) with node names instead of a confusing "undefined" here.
  const nodes: Node[] = [];
  for (const np of gp.node) {
    const node = new Node({ opType: np.opType, domain: np.domain, name: np.name });
    node.overload = np.overload;
    node.docString = np.docString;
    node.metadataProps = np.metadataProps.map((e) => [e.key, e.value]);
    node.extras.sourceProto = np;
    c.names.reserve(np.name);
    for (const o of np.output) g.attachOutput(node, o === '' ? undefined : define(o));
    node.graph = g;
    g.nodes.push(node);
    nodes.push(node);
  }
  gp.node.forEach((np, k) => {
    const node = nodes[k]!;
    node.attributes = np.attribute.map((a) => decodeAttribute(a, c, g));
    np.input.forEach((name) => {
      if (name === '') return node.addInput(undefined);
      const v = lookup(g, name);
      if (!v) throw bad(`node '${node.label}' (${np.opType}) reads '${name}', which nothing defines`);
      node.addInput(v);
    });
  });

  for (const vi of gp.valueInfo) {
    const v = scope.get(vi.name);
    const type = decodeType(vi.type, c);
    if (!v || declarations(v).valueInfo) {
      (g.extras.orphanValueInfos ??= []).push(vi);
      continue;
    }
    declarations(v).valueInfo = { proto: vi, type };
    if (type && !v.type) v.type = type;
    g.valueInfos.push(v);
  }
  for (const vi of gp.output) {
    const v = lookup(g, vi.name);
    if (!v) throw bad(`graph output '${vi.name}' is not defined`);
    const type = decodeType(vi.type, c);
    // A value listed twice as an output keeps its first declaration.
    if (!declarations(v).output) declarations(v).output = { proto: vi, type };
    if (type && !v.type) v.type = type;
    g.outputs.push(v);
  }
  for (const v of g.values()) {
    const d = declarations(v);
    const src = d.input ?? d.valueInfo ?? d.output;
    if (src) {
      v.info.docString = src.proto.docString;
      v.info.metadataProps = src.proto.metadataProps.map((e) => [e.key, e.value]);
    }
  }
  return g;
}

/** Declarations recorded on a value at load time (kept on `info.sourceProto`). */
export function declarations(v: Value): ValueDeclarations {
  if (!v.info.sourceProto) v.info.sourceProto = {} as ValueDeclarations;
  return v.info.sourceProto as ValueDeclarations;
}

export function decodeType(t: TypeProto | undefined, c: { file: string }): ValueType | undefined {
  if (!t || t.value.case === undefined) return undefined;
  if (t.value.case === 'tensorType') {
    const tt = t.value.value;
    const dtype = tt.elemType;
    if (!isKnownDataType(dtype)) throw new OnnxOptError('INVALID_MODEL', `unknown element type ${dtype}`, { file: c.file });
    const shape: Dim[] | undefined = tt.shape
      ? tt.shape.dim.map((d) => {
          if (d.value.case === 'dimValue') {
            const n = Number(d.value.value);
            return Number.isSafeInteger(n) ? n : null;
          }
          if (d.value.case === 'dimParam') return d.value.value;
          return null;
        })
      : undefined;
    return { kind: 'tensor', dtype, shape };
  }
  return { kind: 'other', description: t.value.case.replace('Type', ''), proto: t } as ValueType;
}

export function decodeTensor(tp: TensorProto, c: { file: string; external?: ExternalDataResolver }): Tensor {
  const bad = (msg: string) => new OnnxOptError('INVALID_MODEL', `tensor '${tp.name}': ${msg}`, { file: c.file });
  if (!isKnownDataType(tp.dataType)) throw bad(`unknown data type ${tp.dataType}`);
  const dtype = tp.dataType as DataType;
  let count = 1;
  const dims = tp.dims.map((d) => {
    if (d < 0n) throw bad(`negative dimension ${d}`);
    const n = Number(d);
    count *= n;
    if (!Number.isSafeInteger(n) || count > MAX_ELEMENTS) throw bad(`declared shape [${tp.dims.join(',')}] is too large`);
    return n;
  });
  const expected = dtype === DataType.STRING ? undefined : byteSizeOf(dtype, count);
  let storage: TensorStorage;
  if (tp.dataLocation === 1) {
    if (!c.external) throw bad('external data is not allowed here');
    const ref = c.external.resolve(tp, expected);
    storage = { kind: 'external', path: ref.path, location: ref.location, offset: ref.offset, length: ref.length ?? 0 };
  } else if (tp.rawData.byteLength > 0 || Object.prototype.hasOwnProperty.call(tp, 'rawData')) {
    if (expected !== undefined && tp.rawData.byteLength !== expected) {
      throw bad(`raw_data has ${tp.rawData.byteLength} bytes, but its shape and type need ${expected}`);
    }
    storage = { kind: 'raw', bytes: tp.rawData };
  } else {
    storage = { kind: 'fields', proto: tp };
    // Exactly what the shape needs (as ORT requires): a tensor with no data and a huge declared
    // shape must not be taken at its word, since reading it would allocate the declared size.
    const have = fieldCount(tp, dtype);
    const needed = fieldsNeeded(dtype, count);
    if (dtype !== DataType.STRING && tp.segment === undefined && have !== needed) {
      throw bad(`holds ${have} values, but its shape needs ${needed}`);
    }
  }
  return new Tensor({ name: tp.name, dtype, dims, storage, sourceProto: tp });
}

function decodeAttribute(a: AttributeProto, c: DecodeContext, g: Graph): Attribute {
  const base = { name: a.name, type: a.type as number as AttributeType, refAttrName: a.refAttrName, docString: a.docString, sourceProto: a };
  if (a.refAttrName) return new Attribute(base);
  const num = (v: bigint) => {
    const n = Number(v);
    return n;
  };
  switch (a.type as number as AttributeType) {
    case AttributeType.FLOAT:
      return new Attribute({ ...base, value: a.f });
    case AttributeType.INT:
      return new Attribute({ ...base, value: num(a.i) });
    case AttributeType.STRING:
      return new Attribute({ ...base, value: new TextDecoder().decode(a.s) });
    case AttributeType.FLOATS:
      return new Attribute({ ...base, value: [...a.floats] });
    case AttributeType.INTS:
      return new Attribute({ ...base, value: a.ints.map(num) });
    case AttributeType.STRINGS:
      return new Attribute({ ...base, value: a.strings.map((s) => new TextDecoder().decode(s)) });
    case AttributeType.TENSOR:
      return new Attribute({ ...base, value: a.t ? decodeTensor(a.t, { file: c.file }) : undefined });
    case AttributeType.TENSORS:
      return new Attribute({ ...base, value: a.tensors.map((t) => decodeTensor(t, { file: c.file })) });
    case AttributeType.GRAPH:
      if (!a.g) throw new OnnxOptError('INVALID_MODEL', `attribute '${a.name}' is a graph attribute without a graph`, { file: c.file });
      return new Attribute({ ...base, value: decodeGraph(a.g, c, g) });
    case AttributeType.GRAPHS:
      return new Attribute({ ...base, value: a.graphs.map((sg) => decodeGraph(sg, c, g)) });
    default:
      return new Attribute(base);
  }
}

export type { NodeProto };
