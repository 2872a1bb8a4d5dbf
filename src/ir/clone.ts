import { Attribute, AttributeType } from './attribute.js';
import { Graph } from './graph.js';
import { Model } from './model.js';
import { NameAuthority } from './name-authority.js';
import { Node } from './node.js';
import { Value } from './value.js';

/**
 * An independent copy of a model: its own Graphs, Nodes and Values, with the same names, types,
 * annotations and source messages. Tensors and non-graph attributes are immutable, so they are
 * shared, never re-encoded: an external weight stays the same (path, offset, length) reference and
 * a lazy one stays lazy. A trial (remove a layer, add probes) edits the copy; only the tensors it
 * creates are new. Cost: proportional to the node count, independent of the weights' size.
 */
export function cloneModel(model: Model): Model {
  const names = cloneNames(model.graph.names);
  const copy = new Model(cloneGraph(model.graph, undefined, names, new Map()));
  copy.irVersion = model.irVersion;
  copy.opsetImports = model.opsetImports.map((o) => ({ ...o }));
  copy.producerName = model.producerName;
  copy.producerVersion = model.producerVersion;
  copy.domain = model.domain;
  copy.modelVersion = model.modelVersion;
  copy.docString = model.docString;
  copy.metadataProps = model.metadataProps.map(([k, v]) => [k, v]);
  copy.sourcePath = model.sourcePath;
  copy.extras = { ...model.extras };
  return copy;
}

/** NameAuthority keeps its sets private; a copy reserves every name the original holds. */
function cloneNames(src: NameAuthority): NameAuthority {
  const out = new NameAuthority();
  const used = (src as unknown as { used: Set<string> }).used;
  const counters = (src as unknown as { counters: Map<string, number> }).counters;
  for (const n of used) out.reserve(n);
  const outCounters = (out as unknown as { counters: Map<string, number> }).counters;
  for (const [k, v] of counters) outCounters.set(k, v);
  return out;
}

/**
 * Copies `g` into a new graph. `outer` maps values of enclosing graphs (already copied) to their
 * copies, so that a subgraph's outer-scope reads become uses of the copied outer values.
 */
function cloneGraph(g: Graph, parent: Graph | undefined, names: NameAuthority, outer: ReadonlyMap<Value, Value>): Graph {
  const out = new Graph(g.name, { parent, names });
  out.docString = g.docString;
  out.metadataProps = g.metadataProps.map(([k, v]) => [k, v]);
  out.extras = { ...g.extras };
  const map = new Map<Value, Value>(outer);
  const copyValue = (v: Value): Value => {
    let c = map.get(v);
    if (c) return c;
    // Constructed directly: the name is already reserved in the copied authority.
    c = new Value(out, v.name, v.type);
    c.initializer = v.initializer;
    c.info = { ...v.info, metadataProps: v.info.metadataProps.map(([k, x]) => [k, x]) };
    map.set(v, c);
    return c;
  };
  for (const v of g.inputs) out.inputs.push(copyValue(v));
  for (const [k, v] of g.initializers) out.initializers.set(k, copyValue(v));
  for (const n of g.nodes) for (const o of n.outputs) if (o) copyValue(o);
  for (const n of g.nodes) {
    const c = new Node({ opType: n.opType, domain: n.domain, name: n.name, attributes: n.attributes.map((a) => cloneAttribute(a, out, names, map)) });
    c.overload = n.overload;
    c.docString = n.docString;
    c.metadataProps = n.metadataProps.map(([k, v]) => [k, v]);
    c.extras = { ...n.extras };
    // Inputs not defined in this graph or an enclosing one (a malformed model) are copied as
    // free values, so the copy is exactly as broken as the original and the verifier says so.
    for (const i of n.inputs) c.addInput(i ? (map.get(i) ?? copyValue(i)) : undefined);
    for (const o of n.outputs) out.attachOutput(c, o ? map.get(o)! : undefined);
    out.insertNode(c);
  }
  for (const v of g.outputs) out.outputs.push(map.get(v) ?? copyValue(v));
  for (const v of g.valueInfos) out.valueInfos.push(map.get(v) ?? copyValue(v));
  return out;
}

/**
 * An attribute for a copy of a node in `owner`: shared as it is (immutable) unless it holds
 * subgraphs, which are copied with their outer-scope reads mapped through `map`.
 */
export function cloneAttribute(a: Attribute, owner: Graph, names: NameAuthority, map: ReadonlyMap<Value, Value>): Attribute {
  if (a.type !== AttributeType.GRAPH && a.type !== AttributeType.GRAPHS) return a;
  const value = a.type === AttributeType.GRAPH ? cloneGraph(a.value as Graph, owner, names, map) : (a.value as Graph[]).map((s) => cloneGraph(s, owner, names, map));
  return new Attribute({ name: a.name, type: a.type, value, refAttrName: a.refAttrName, docString: a.docString, sourceProto: a.sourceProto });
}
