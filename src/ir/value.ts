import type { Graph } from './graph.js';
import type { Node } from './node.js';
import type { Tensor } from './tensor.js';
import type { ValueType } from './types.js';

/** One use of a value: input slot `index` of `node`. */
export interface Use {
  readonly node: Node;
  readonly index: number;
}

/** Where the annotations on a value (doc string, metadata, unknown ValueInfoProto fields) came from. */
export interface ValueInfoExtras {
  docString: string;
  metadataProps: [string, string][];
  /** The ValueInfoProto as read; re-emitted while the value's type is unchanged. */
  sourceProto?: unknown;
  sourceType?: ValueType;
}

/**
 * An SSA value. It has exactly one definition: a node output (`producer`), a graph input, or an
 * initializer (a graph input may also carry an initializer as its default, as older IRs allow).
 * `uses` lists every node input that reads it; the Graph and Node mutators keep that list right.
 */
export class Value {
  name: string;
  type: ValueType | undefined;
  /** The graph that defines this value. */
  readonly graph: Graph;
  /** Set when a node produces this value. */
  producer: Node | undefined = undefined;
  outputIndex = -1;
  /** Set when this value is an initializer. */
  initializer: Tensor | undefined = undefined;
  readonly uses: Use[] = [];
  info: ValueInfoExtras = { docString: '', metadataProps: [] };

  constructor(graph: Graph, name: string, type?: ValueType) {
    this.graph = graph;
    this.name = name;
    this.type = type;
  }

  get isGraphInput(): boolean {
    return this.graph.inputs.includes(this);
  }

  get isGraphOutput(): boolean {
    return this.graph.outputs.includes(this);
  }

  get isInitializer(): boolean {
    return this.initializer !== undefined;
  }

  /** A constant whose data is known now: an initializer that is not also an overridable graph input. */
  get constant(): Tensor | undefined {
    return this.initializer && !this.isGraphInput ? this.initializer : undefined;
  }

  /** Users of this value, one entry per node (a node reading it twice is listed once). */
  get consumers(): Node[] {
    return [...new Set(this.uses.map((u) => u.node))];
  }

  toString(): string {
    return `%${this.name}`;
  }
}
