import type { AttributeProto } from 'onnx-buf';
import type { Graph } from './graph.js';
import type { Tensor } from './tensor.js';

/** AttributeProto.AttributeType values. */
export enum AttributeType {
  UNDEFINED = 0,
  FLOAT = 1,
  INT = 2,
  STRING = 3,
  TENSOR = 4,
  GRAPH = 5,
  SPARSE_TENSOR = 11,
  TYPE_PROTO = 13,
  FLOATS = 6,
  INTS = 7,
  STRINGS = 8,
  TENSORS = 9,
  GRAPHS = 10,
  SPARSE_TENSORS = 12,
  TYPE_PROTOS = 14,
}

export type AttributeValue =
  | { type: AttributeType.FLOAT; value: number }
  | { type: AttributeType.INT; value: number }
  | { type: AttributeType.STRING; value: string }
  | { type: AttributeType.FLOATS; value: number[] }
  | { type: AttributeType.INTS; value: number[] }
  | { type: AttributeType.STRINGS; value: string[] }
  | { type: AttributeType.TENSOR; value: Tensor }
  | { type: AttributeType.TENSORS; value: Tensor[] }
  | { type: AttributeType.GRAPH; value: Graph }
  | { type: AttributeType.GRAPHS; value: Graph[] };

/**
 * A node attribute. Scalars and lists are decoded; graphs are IR subgraphs (so their outer-scope
 * references are real uses). Types the passes never inspect (sparse tensors, type protos) and
 * exotic encodings stay in `sourceProto`, which the writer re-emits while the attribute is unchanged.
 */
export class Attribute {
  readonly name: string;
  readonly type: AttributeType;
  /** undefined for sparse-tensor / type-proto attributes and for ref attributes: see sourceProto. */
  readonly value: AttributeValue['value'] | undefined;
  readonly refAttrName: string;
  readonly docString: string;
  readonly sourceProto: AttributeProto | undefined;

  constructor(init: { name: string; type: AttributeType; value?: AttributeValue['value']; refAttrName?: string; docString?: string; sourceProto?: AttributeProto }) {
    this.name = init.name;
    this.type = init.type;
    this.value = init.value;
    this.refAttrName = init.refAttrName ?? '';
    this.docString = init.docString ?? '';
    this.sourceProto = init.sourceProto;
  }

  static int(name: string, value: number): Attribute {
    return new Attribute({ name, type: AttributeType.INT, value });
  }
  static float(name: string, value: number): Attribute {
    return new Attribute({ name, type: AttributeType.FLOAT, value });
  }
  static string(name: string, value: string): Attribute {
    return new Attribute({ name, type: AttributeType.STRING, value });
  }
  static ints(name: string, value: number[]): Attribute {
    return new Attribute({ name, type: AttributeType.INTS, value });
  }
  static floats(name: string, value: number[]): Attribute {
    return new Attribute({ name, type: AttributeType.FLOATS, value });
  }
  static strings(name: string, value: string[]): Attribute {
    return new Attribute({ name, type: AttributeType.STRINGS, value });
  }
  static tensor(name: string, value: Tensor): Attribute {
    return new Attribute({ name, type: AttributeType.TENSOR, value });
  }
  static graph(name: string, value: Graph): Attribute {
    return new Attribute({ name, type: AttributeType.GRAPH, value });
  }

  /** Builds an attribute from a plain JS value, inferring its type (numbers that are integers become INT). */
  static from(name: string, v: number | string | number[] | string[] | Tensor | Graph, isFloat = false): Attribute {
    if (typeof v === 'number') return Number.isInteger(v) && !isFloat ? Attribute.int(name, v) : Attribute.float(name, v);
    if (typeof v === 'string') return Attribute.string(name, v);
    if (Array.isArray(v)) {
      if (v.length > 0 && typeof v[0] === 'string') return Attribute.strings(name, v as string[]);
      const nums = v as number[];
      return !isFloat && nums.every((x) => Number.isInteger(x)) ? Attribute.ints(name, nums) : Attribute.floats(name, nums);
    }
    if ('nodes' in v) return Attribute.graph(name, v);
    return Attribute.tensor(name, v);
  }

  /** Subgraphs held by this attribute (GRAPH or GRAPHS). */
  get subgraphs(): Graph[] {
    if (this.type === AttributeType.GRAPH) return [this.value as Graph];
    if (this.type === AttributeType.GRAPHS) return this.value as Graph[];
    return [];
  }
}
