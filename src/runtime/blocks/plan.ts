import { Graph, nodeDependencies } from '../../ir/graph.js';
import { cloneAttribute } from '../../ir/clone.js';
import { Model } from '../../ir/model.js';
import { NameAuthority } from '../../ir/name-authority.js';
import { Node } from '../../ir/node.js';
import { tensorType } from '../../ir/types.js';
import { Value } from '../../ir/value.js';
import { DataType } from '../../ir/dtype.js';
import { OnnxOptError } from '../../errors.js';
import { guessElemType } from '../probes.js';

/**
 * Cutting a model into slices at residual-stream values ("boundaries"), so that calibration can
 * run one slice at a time: slice 0 computes the first boundary from the graph inputs (embedding),
 * slice k computes boundary k from boundary k−1, the last slice computes the outputs (head).
 *
 * A slice is the backward closure of its outputs, stopping at boundaries and graph inputs. What a
 * layer reads from outside (rotary tables, masks, positions) is recomputed in its slice from the
 * graph inputs, so nothing but boundary values crosses slices. That makes every slice correct by
 * construction, whatever the exporter; only its cost depends on where the cuts are.
 */
export interface Slice {
  /** Position in the plan (0 = before the first boundary). */
  readonly index: number;
  /** The boundary this slice starts from (undefined for slice 0) and the one it ends at (undefined for the last). */
  readonly start: string | undefined;
  readonly end: string | undefined;
  /** Nodes of the slice, in graph order. */
  readonly nodes: readonly Node[];
  /** Values the slice reads from outside: graph inputs and boundaries (initializers are its own). */
  readonly inputs: readonly string[];
  /** Values it produces for others: its end boundary, then requested values placed here. */
  readonly outputs: readonly string[];
  /** Bytes of the weights its matrix products read: the compute cost of one run of it. */
  readonly cost: number;
  /** Bytes of all initializers it holds (what a session on it keeps in memory). */
  readonly weightBytes: number;
  /** Identifies the computation: equal for two slices (of two models) that compute the same thing. */
  readonly fingerprint: string;
}

export interface SlicePlan {
  readonly model: Model;
  /** The boundaries kept (a boundary whose cut would duplicate layer work is dropped). */
  readonly boundaries: readonly string[];
  readonly slices: readonly Slice[];
  /** Sum of the slices' costs: one block-wise pass over the model. */
  readonly cost: number;
  /** For every value a slice reads from outside: the last slice that reads it (for freeing). */
  readonly lastUse: ReadonlyMap<string, number>;
}

/** Ops whose output depends only on the shape of their input. */
const SHAPE_ONLY = new Set(['Shape', 'Size']);

/**
 * Plans slices of `model` at `boundaries` (value names in stream order; names the model lacks are
 * skipped). `wanted` are the values to produce besides the boundaries: graph outputs, probes;
 * each is computed by the earliest slice that can (the one after the latest boundary it depends on).
 */
export function planSlices(model: Model, boundaries: readonly string[], wanted: readonly string[]): SlicePlan {
  const g = model.graph;
  const byName = new Map<string, Value>();
  for (const v of g.values()) byName.set(v.name, v);
  for (const w of wanted) if (!byName.has(w)) throw new OnnxOptError('USAGE', `cannot compute '${w}': no value of that name in the main graph`);
  let cuts = boundaries.filter((b, i) => byName.has(b) && byName.get(b)!.producer && boundaries.indexOf(b) === i).map((b) => byName.get(b)!);
  cuts = inStreamOrder(g, cuts);
  for (;;) {
    const slices = buildSlices(model, cuts, wanted.map((w) => byName.get(w)!));
    const clash = duplicatedWork(slices, cuts);
    if (!clash) return finish(model, cuts, slices);
    // A node that computes on the stream sits in slices j < k: the cuts between them are not
    // clean (e.g. a fused Skip norm whose outputs straddle the cut); merge those slices.
    cuts = cuts.filter((_, i) => i < clash[0] || i >= clash[1]);
  }
}

/** Keeps boundaries in topological order (each must depend on the previous one). */
function inStreamOrder(g: Graph, cuts: Value[]): Value[] {
  const pos = new Map(g.nodes.map((n, i) => [n, i]));
  return [...cuts].sort((a, b) => pos.get(a.producer!)! - pos.get(b.producer!)!);
}

interface RawSlice {
  nodes: Set<Node>;
  outputs: Value[];
  start: Value | undefined;
  end: Value | undefined;
}

function buildSlices(model: Model, cuts: Value[], wanted: Value[]): RawSlice[] {
  const g = model.graph;
  const cutIndex = new Map(cuts.map((v, i) => [v, i]));
  // sliceOf(v): the slice that computes v; avail(v): the earliest slice that can read it.
  const sliceOf = new Map<Value, number>();
  const avail = (v: Value): number => {
    const k = cutIndex.get(v);
    if (k !== undefined) return k + 1;
    return sliceOf.get(v) ?? 0;
  };
  for (const n of g.nodes) {
    let s = 0;
    for (const d of nodeDependencies(n)) if (d.graph === g) s = Math.max(s, avail(d));
    for (const o of n.outputs) if (o) sliceOf.set(o, s);
  }
  const raw: RawSlice[] = Array.from({ length: cuts.length + 1 }, (_, k) => ({
    nodes: new Set<Node>(),
    outputs: k < cuts.length ? [cuts[k]!] : [],
    start: k > 0 ? cuts[k - 1] : undefined,
    end: cuts[k],
  }));
  for (const w of wanted) {
    if (cutIndex.has(w)) continue;
    // Graph inputs and initializers need no slice; they are read where needed.
    if (!w.producer) continue;
    const s = sliceOf.get(w)!;
    if (!raw[s]!.outputs.includes(w)) raw[s]!.outputs.push(w);
  }
  const stop = new Set(cuts);
  for (const r of raw) {
    const stack = [...r.outputs];
    while (stack.length) {
      const v = stack.pop()!;
      const p = v.producer;
      if (!p || p.graph !== g || r.nodes.has(p)) continue;
      r.nodes.add(p);
      for (const d of nodeDependencies(p)) if (d.graph === g && !stop.has(d)) stack.push(d);
    }
  }
  return raw;
}

/** [i, k): the cut indices to drop when stream work is duplicated between slices, or undefined. */
function duplicatedWork(slices: RawSlice[], cuts: Value[]): [number, number] | undefined {
  // Nodes that compute on stream data (downstream of a boundary, not just through its shape).
  const onStream = new Set<Node>();
  const stack: Value[] = [...cuts];
  while (stack.length) {
    const v = stack.pop()!;
    for (const u of v.uses) {
      if (onStream.has(u.node) || (SHAPE_ONLY.has(u.node.opType) && u.node.domain === '')) continue;
      onStream.add(u.node);
      for (const o of u.node.outputs) if (o) stack.push(o);
    }
  }
  const owner = new Map<Node, number>();
  for (let k = 0; k < slices.length; k++) {
    for (const n of slices[k]!.nodes) {
      if (!onStream.has(n)) continue;
      const j = owner.get(n);
      if (j !== undefined && j !== k) return [Math.max(0, j), Math.min(k, cuts.length)];
      owner.set(n, k);
    }
  }
  return undefined;
}

function finish(model: Model, cuts: Value[], raw: RawSlice[]): SlicePlan {
  const g = model.graph;
  const order = new Map(g.nodes.map((n, i) => [n, i]));
  const lastUse = new Map<string, number>();
  const slices: Slice[] = raw.map((r, index) => {
    const nodes = [...r.nodes].sort((a, b) => order.get(a)! - order.get(b)!);
    const produced = new Set<Value>();
    for (const n of nodes) for (const o of n.outputs) if (o) produced.add(o);
    const inputs: string[] = [];
    const inits = new Set<Value>();
    for (const n of nodes) {
      for (const d of nodeDependencies(n)) {
        if (d.graph !== g || produced.has(d)) continue;
        // An input with an initializer default keeps its default (calibration never feeds one).
        if (d.initializer) inits.add(d);
        else if (!inputs.includes(d.name)) inputs.push(d.name);
      }
    }
    for (const i of inputs) lastUse.set(i, index);
    let cost = 0;
    let weightBytes = 0;
    for (const v of inits) {
      weightBytes += v.initializer!.byteLength;
      // Embedding lookups read a few rows of their table: weights only Gather reads cost nothing.
      if (v.uses.some((u) => r.nodes.has(u.node) && !(u.node.opType === 'Gather' && u.index === 0))) cost += v.initializer!.byteLength;
    }
    return { index, start: r.start?.name, end: r.end?.name, nodes, inputs, outputs: r.outputs.map((v) => v.name), cost, weightBytes, fingerprint: fingerprintOf(nodes) };
  });
  return { model, boundaries: cuts.map((v) => v.name), slices, cost: slices.reduce((s, x) => s + x.cost, 0), lastUse };
}

/**
 * Tensors and attributes are immutable and shared by IR clones, so their identities say whether
 * two slices of a model and of its clone compute the same thing.
 */
const ids = new WeakMap<object, number>();
let nextId = 1;
function idOf(o: object): number {
  let id = ids.get(o);
  if (id === undefined) ids.set(o, (id = nextId++));
  return id;
}

function fingerprintOf(nodes: readonly Node[]): string {
  const parts: string[] = [];
  for (const n of nodes) {
    const ins = n.inputs.map((v) => (v ? `${v.name}${v.initializer ? `#${idOf(v.initializer)}` : ''}` : '')).join(',');
    const attrs = n.attributes.map((a) => idOf(a)).join(',');
    parts.push(`${n.domain}:${n.opType}(${ins})[${attrs}]->${n.outputs.map((v) => v?.name ?? '').join(',')}`);
  }
  return parts.join(';');
}

/**
 * A standalone model for one slice, with `outputs` as its graph outputs (default: the slice's
 * own). Nodes are copied; tensors are shared, so external weights stay references.
 */
export function sliceModel(plan: SlicePlan, slice: Slice, outputs: readonly string[] = slice.outputs): Model {
  const src = plan.model;
  const g = new Graph(src.graph.name, { names: new NameAuthority() });
  const map = new Map<Value, Value>();
  const srcValues = new Map<string, Value>();
  for (const v of src.graph.values()) srcValues.set(v.name, v);
  const copy = (v: Value): Value => {
    let c = map.get(v);
    if (!c) {
      g.names.reserve(v.name);
      c = new Value(g, v.name, v.type);
      map.set(v, c);
    }
    return c;
  };
  for (const name of slice.inputs) {
    const v = srcValues.get(name)!;
    const c = copy(v);
    if (!c.type || c.type.kind !== 'tensor') c.type = tensorType(guessElemType(v) ?? DataType.FLOAT);
    g.inputs.push(c);
  }
  for (const n of slice.nodes) {
    for (const d of nodeDependencies(n)) {
      if (d.graph === src.graph && d.initializer && !map.has(d)) {
        const c = copy(d);
        c.initializer = d.initializer;
        g.initializers.set(c.name, c);
      }
    }
  }
  for (const n of slice.nodes) for (const o of n.outputs) if (o) copy(o);
  for (const n of slice.nodes) {
    g.names.reserve(n.name);
    const c = new Node({ opType: n.opType, domain: n.domain, name: n.name, attributes: n.attributes.map((a) => cloneAttribute(a, g, g.names, map)) });
    c.overload = n.overload;
    for (const i of n.inputs) c.addInput(i ? map.get(i) : undefined);
    for (const o of n.outputs) g.attachOutput(c, o ? map.get(o) : undefined);
    g.insertNode(c);
  }
  for (const name of outputs) {
    const v = srcValues.get(name);
    const c = v && map.get(v);
    if (!c) throw new OnnxOptError('USAGE', `slice ${slice.index} does not compute '${name}'`);
    g.outputs.push(c);
  }
  const m = new Model(g);
  m.irVersion = src.irVersion;
  m.opsetImports = src.opsetImports.map((o) => ({ ...o }));
  m.sourcePath = src.sourcePath;
  return m;
}
