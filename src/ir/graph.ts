import { Attribute } from './attribute.js';
import { NameAuthority } from './name-authority.js';
import { Node } from './node.js';
import type { Tensor } from './tensor.js';
import { tensorType, type ValueType } from './types.js';
import { Value } from './value.js';

/** GraphProto fields the IR does not model; re-emitted unchanged. */
export interface GraphExtras {
  sourceProto?: unknown;
  /** value_info entries naming no value of this graph: kept as they were. */
  orphanValueInfos?: unknown[];
}

export interface NodeSpec {
  opType: string;
  domain?: string;
  name?: string;
  inputs?: readonly (Value | undefined)[];
  /** Output names (made unique), or a count of outputs to create with generated names. */
  outputs?: readonly string[] | number;
  attributes?: Attribute[] | Record<string, number | string | number[] | string[] | Tensor | Graph>;
  /** Where to insert: before this node, after this node, or (default) at the end. */
  before?: Node;
  after?: Node;
}

/**
 * A graph: ordered nodes, graph inputs/outputs, initializers. All edits go through these methods
 * (or Node.setInput), which keep every Value's use list exact, so passes can trust `uses`.
 */
export class Graph {
  name: string;
  docString = '';
  metadataProps: [string, string][] = [];
  readonly inputs: Value[] = [];
  readonly outputs: Value[] = [];
  readonly nodes: Node[] = [];
  /** Initializers in file order. */
  readonly initializers = new Map<string, Value>();
  /** Values that carried a value_info entry, in file order (new typed values are appended). */
  readonly valueInfos: Value[] = [];
  /** The enclosing graph, for If/Loop/Scan bodies. */
  readonly parent: Graph | undefined;
  readonly names: NameAuthority;
  extras: GraphExtras = {};

  constructor(name = 'main_graph', options: { parent?: Graph; names?: NameAuthority } = {}) {
    this.name = name;
    this.parent = options.parent;
    this.names = options.names ?? options.parent?.names ?? new NameAuthority();
  }

  /** A new value defined in this graph, with a unique name based on `base`. */
  createValue(base = 'v', type?: ValueType): Value {
    return new Value(this, this.names.unique(base), type);
  }

  addInput(name: string, type?: ValueType): Value {
    const v = this.createValue(name, type);
    this.inputs.push(v);
    return v;
  }

  addOutput(value: Value): void {
    this.outputs.push(value);
  }

  /** Adds an initializer value holding `tensor`; the tensor is renamed to the value's unique name. */
  addInitializer(tensor: Tensor, base = tensor.name): Value {
    const v = this.createValue(base, tensorType(tensor.dtype, tensor.dims));
    v.initializer = v.name === tensor.name ? tensor : tensor.withName(v.name);
    this.initializers.set(v.name, v);
    return v;
  }

  /** Replaces the data of an initializer value (the value keeps its name and uses). */
  setInitializer(value: Value, tensor: Tensor): void {
    value.initializer = tensor.name === value.name ? tensor : tensor.withName(value.name);
    value.type = tensorType(tensor.dtype, tensor.dims);
    if (!this.initializers.has(value.name)) this.initializers.set(value.name, value);
  }

  removeInitializer(value: Value): void {
    this.initializers.delete(value.name);
    value.initializer = undefined;
  }

  /** Creates a node with new output values and inserts it. */
  addNode(spec: NodeSpec): Node {
    const attributes = Array.isArray(spec.attributes)
      ? spec.attributes
      : Object.entries(spec.attributes ?? {}).map(([k, v]) => Attribute.from(k, v));
    const node = new Node({ opType: spec.opType, domain: spec.domain, name: spec.name ? this.names.unique(spec.name) : '', attributes });
    for (const v of spec.inputs ?? []) node.addInput(v);
    const outs = spec.outputs ?? 1;
    const names = typeof outs === 'number' ? Array.from({ length: outs }, () => `${spec.name || spec.opType.toLowerCase()}_out`) : outs;
    for (const n of names) this.attachOutput(node, n === '' ? undefined : this.createValue(n));
    this.insertNode(node, spec);
    return node;
  }

  /** Inserts an existing, detached node (its outputs must belong to this graph). */
  insertNode(node: Node, where: { before?: Node; after?: Node } = {}): void {
    if (node.graph) throw new Error(`node ${node.label} is already in a graph`);
    node.graph = this;
    if (where.before) this.nodes.splice(this.indexOf(where.before), 0, node);
    else if (where.after) this.nodes.splice(this.indexOf(where.after) + 1, 0, node);
    else this.nodes.push(node);
  }

  attachOutput(node: Node, value: Value | undefined): void {
    if (value) {
      value.producer = node;
      value.outputIndex = node.outputs.length;
    }
    node.outputs.push(value);
  }

  indexOf(node: Node): number {
    const i = this.nodes.indexOf(node);
    if (i < 0) throw new Error(`node ${node.label} is not in graph ${this.name}`);
    return i;
  }

  /** Moves a node to just before `anchor`. */
  moveBefore(node: Node, anchor: Node): void {
    this.nodes.splice(this.indexOf(node), 1);
    this.nodes.splice(this.indexOf(anchor), 0, node);
  }

  /**
   * Removes a node. Its outputs must be unused (pass `force` only when the caller has already
   * rewired or is deleting every user too).
   */
  removeNode(node: Node, options: { force?: boolean } = {}): void {
    if (!options.force) {
      for (const o of node.outputs) {
        if (o && (o.uses.length > 0 || o.isGraphOutput)) {
          throw new Error(`cannot remove ${node.label}: output ${o.name} is still used`);
        }
      }
    }
    this.nodes.splice(this.indexOf(node), 1);
    node.detachInputs();
    for (const sub of node.subgraphs) for (const n of [...sub.allNodes()]) n.detachInputs();
    node.graph = undefined;
  }

  /**
   * Makes every reader of `from` read `to` instead. A graph output keeps its name (the model's
   * signature): the producer's value is renamed, or an Identity is inserted when it cannot be.
   */
  replaceAllUsesWith(from: Value, to: Value): void {
    if (from === to) return;
    for (const u of [...from.uses]) u.node.setInput(u.index, to);
    const outIdx = this.outputs.indexOf(from);
    if (outIdx < 0) return;
    const renamable = to.producer?.graph === this && !to.isGraphOutput && !to.isGraphInput && !to.isInitializer;
    if (renamable) {
      const oldName = from.name;
      this.renameValue(from, this.names.unique(`${oldName}_replaced`), { force: true });
      this.renameValue(to, oldName, { force: true });
      to.type ??= from.type;
      for (let i = 0; i < this.outputs.length; i++) if (this.outputs[i] === from) this.outputs[i] = to;
    } else {
      const oldName = from.name;
      this.renameValue(from, this.names.unique(`${oldName}_replaced`), { force: true });
      const id = this.addNode({ opType: 'Identity', inputs: [to], outputs: [oldName] });
      id.output().type = from.type ?? to.type;
      for (let i = 0; i < this.outputs.length; i++) if (this.outputs[i] === from) this.outputs[i] = id.output();
    }
  }

  /** Renames a value; with `force`, takes a name even if reserved (used to hand a freed name over). */
  renameValue(value: Value, name: string, options: { force?: boolean } = {}): void {
    if (!options.force && this.names.has(name) && name !== value.name) throw new Error(`name ${name} is taken`);
    const wasInit = value.initializer && this.initializers.get(value.name) === value;
    if (wasInit) {
      // Keep the initializer's file position.
      const entries = [...this.initializers.entries()];
      this.initializers.clear();
      for (const [k, v] of entries) this.initializers.set(k === value.name ? name : k, v);
      value.initializer = value.initializer!.withName(name);
    }
    this.names.release(value.name);
    this.names.reserve(name);
    value.name = name;
  }

  /** Every node, subgraph nodes included (depth first, in order). */
  *allNodes(): Generator<Node> {
    for (const n of this.nodes) {
      yield n;
      for (const g of n.subgraphs) yield* g.allNodes();
    }
  }

  /** Every value defined in this graph (not subgraphs): inputs, initializers, node outputs. */
  *values(): Generator<Value> {
    const seen = new Set<Value>();
    for (const v of this.inputs) if (!seen.has(v)) (seen.add(v), yield v);
    for (const v of this.initializers.values()) if (!seen.has(v)) (seen.add(v), yield v);
    for (const n of this.nodes) for (const v of n.outputs) if (v && !seen.has(v)) (seen.add(v), yield v);
  }

  /** Looks a value up by name here, then in enclosing graphs. */
  findValue(name: string): Value | undefined {
    for (const v of this.values()) if (v.name === name) return v;
    return this.parent?.findValue(name);
  }

  findNode(name: string): Node | undefined {
    return this.nodes.find((n) => n.name === name);
  }

  /**
   * Reorders nodes topologically (stable: keeps the current order where dependencies allow).
   * Returns false, leaving the order as it was, if there is a cycle.
   */
  sortTopologically(): boolean {
    const order = topologicalOrder(this);
    if (!order) return false;
    this.nodes.splice(0, this.nodes.length, ...order);
    return true;
  }
}

/** Values read by a node, including outer-scope values its subgraphs read. */
export function nodeDependencies(node: Node): Value[] {
  const deps: Value[] = [];
  for (const v of node.inputs) if (v) deps.push(v);
  for (const g of node.subgraphs) {
    for (const inner of g.allNodes()) for (const v of inner.inputs) if (v) deps.push(v);
    for (const v of g.outputs) deps.push(v);
  }
  return deps;
}

/** Kahn's algorithm, preferring the existing order; undefined if the graph has a cycle. */
export function topologicalOrder(graph: Graph): Node[] | undefined {
  const indeg = new Map<Node, number>();
  const dependents = new Map<Node, Node[]>();
  for (const n of graph.nodes) {
    indeg.set(n, 0);
    dependents.set(n, []);
  }
  for (const n of graph.nodes) {
    const producers = new Set<Node>();
    for (const v of nodeDependencies(n)) {
      // A value from a subgraph-enclosed node belongs to that node's top-level owner here.
      const p = v.producer && v.graph === graph ? v.producer : undefined;
      if (p && p !== n && indeg.has(p)) producers.add(p);
      if (p === n) return undefined;
    }
    for (const p of producers) {
      dependents.get(p)!.push(n);
      indeg.set(n, indeg.get(n)! + 1);
    }
  }
  const position = new Map(graph.nodes.map((n, i) => [n, i]));
  // A min-heap on original position keeps the sort stable.
  const ready: Node[] = graph.nodes.filter((n) => indeg.get(n) === 0);
  const out: Node[] = [];
  const heapPush = (n: Node) => {
    ready.push(n);
    let i = ready.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (position.get(ready[p]!)! <= position.get(ready[i]!)!) break;
      [ready[p], ready[i]] = [ready[i]!, ready[p]!];
      i = p;
    }
  };
  const heapPop = (): Node => {
    const top = ready[0]!;
    const last = ready.pop()!;
    if (ready.length) {
      ready[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < ready.length && position.get(ready[l]!)! < position.get(ready[m]!)!) m = l;
        if (r < ready.length && position.get(ready[r]!)! < position.get(ready[m]!)!) m = r;
        if (m === i) break;
        [ready[m], ready[i]] = [ready[i]!, ready[m]!];
        i = m;
      }
    }
    return top;
  };
  // `ready` starts in position order, which is already a valid heap.
  while (ready.length) {
    const n = heapPop();
    out.push(n);
    for (const d of dependents.get(n)!) {
      const k = indeg.get(d)! - 1;
      indeg.set(d, k);
      if (k === 0) heapPush(d);
    }
  }
  return out.length === graph.nodes.length ? out : undefined;
}
