import { Attribute } from './attribute.js';
import { DataType, type TypedArray } from './dtype.js';
import { Graph } from './graph.js';
import { Model, type OpsetImport } from './model.js';
import type { Node } from './node.js';
import { Tensor } from './tensor.js';
import { tensorType, type Dim } from './types.js';
import type { Value } from './value.js';

export type AttrInput = number | string | number[] | string[] | Tensor | Graph | Attribute;

export interface OpOptions {
  domain?: string;
  name?: string;
  /** Output names; defaults to one output named after the node or op. */
  outputs?: string[];
  /** Attributes whose numeric values must be FLOAT even when integral (e.g. epsilon=1). */
  floatAttrs?: string[];
}

/**
 * Builds graphs in code: `const y = b.op('MatMul', [x, w])`. Tests and fixture generators use it;
 * every node it makes goes through Graph.addNode, so use lists are right from the start.
 */
export class GraphBuilder {
  readonly graph: Graph;
  private readonly opsets = new Map<string, number>();

  constructor(graph: Graph = new Graph('main_graph'), opsets: OpsetImport[] = [{ domain: '', version: 17 }]) {
    this.graph = graph;
    for (const o of opsets) this.opsets.set(o.domain, o.version);
  }

  input(name: string, dtype: DataType, shape: Dim[]): Value {
    return this.graph.addInput(name, tensorType(dtype, shape));
  }

  /** An initializer from a typed array (copied). */
  init(name: string, dtype: DataType, dims: number[], data: TypedArray | Uint8Array): Value {
    return this.graph.addInitializer(Tensor.fromArray(name, dtype, dims, data));
  }

  initTensor(tensor: Tensor): Value {
    return this.graph.addInitializer(tensor);
  }

  /** Scalar or 1-D int64 constant as an initializer (shape plumbing). */
  ints(name: string, values: number[], scalar = false): Value {
    return this.init(name, DataType.INT64, scalar ? [] : [values.length], BigInt64Array.from(values.map(BigInt)));
  }

  floats(name: string, values: number[], dims: number[] = [values.length]): Value {
    return this.init(name, DataType.FLOAT, dims, Float32Array.from(values));
  }

  /** Adds a node and returns its first output. */
  op(opType: string, inputs: (Value | undefined)[], attrs: Record<string, AttrInput> = {}, options: OpOptions = {}): Value {
    return this.node(opType, inputs, attrs, options).output(0);
  }

  /** Adds a node with several outputs and returns them all. */
  opMulti(opType: string, inputs: (Value | undefined)[], outputs: string[], attrs: Record<string, AttrInput> = {}, options: OpOptions = {}): Value[] {
    const n = this.node(opType, inputs, attrs, { ...options, outputs });
    return n.outputs.map((o) => o!);
  }

  node(opType: string, inputs: (Value | undefined)[], attrs: Record<string, AttrInput> = {}, options: OpOptions = {}): Node {
    const attributes = Object.entries(attrs).map(([k, v]) =>
      v instanceof Attribute ? v : Attribute.from(k, v, options.floatAttrs?.includes(k) ?? false),
    );
    if (options.domain && !this.opsets.has(options.domain)) this.opsets.set(options.domain, 1);
    return this.graph.addNode({
      opType,
      domain: options.domain,
      name: options.name,
      inputs,
      outputs: options.outputs ?? [options.name ? `${options.name}_output_0` : `${opType.toLowerCase()}_out`],
      attributes,
    });
  }

  output(value: Value, name?: string, shape?: Dim[]): Value {
    if (name && value.name !== name) this.graph.renameValue(value, name);
    if (shape && value.type?.kind === 'tensor') value.type = tensorType(value.type.dtype, shape);
    this.graph.addOutput(value);
    return value;
  }

  /** Declares a value's type (the builder does not infer types; ORT does not need them for intermediates). */
  setType(value: Value, dtype: DataType, shape?: Dim[]): Value {
    value.type = tensorType(dtype, shape);
    return value;
  }

  build(options: { irVersion?: number; producerName?: string } = {}): Model {
    const m = new Model(this.graph);
    m.irVersion = options.irVersion ?? 8;
    m.producerName = options.producerName ?? 'onnx-opt';
    m.opsetImports = [...this.opsets].map(([domain, version]) => ({ domain, version }));
    return m;
  }
}
