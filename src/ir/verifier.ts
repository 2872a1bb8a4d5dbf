import { DataType } from './dtype.js';
import { topologicalOrder, type Graph } from './graph.js';
import type { Model } from './model.js';
import type { Node } from './node.js';
import { dtypeShortName } from './dtype.js';

export interface Problem {
  message: string;
  node?: Node;
}

/** Ops whose (first two) inputs must share one element type. */
const SAME_TYPE_OPS = new Set(['Add', 'Sub', 'Mul', 'Div', 'MatMul', 'Pow', 'Equal', 'Less', 'Greater', 'Max', 'Min', 'Sum', 'Concat']);

/**
 * Checks the SSA invariants every pass relies on and reports every violation with node names:
 * one definition per name, no dangling uses, use lists that match node inputs, acyclic graphs,
 * and element types that agree where both sides are known.
 */
export function verifyModel(model: Model, options: { structuralOnly?: boolean } = {}): Problem[] {
  const problems: Problem[] = [];
  const defined = new Map<string, string>();
  verifyGraph(model.graph, problems, defined, options.structuralOnly ?? false);
  return problems;
}

function verifyGraph(g: Graph, problems: Problem[], defined: Map<string, string>, structuralOnly: boolean): void {
  const where = g.parent ? ` (subgraph ${g.name})` : '';
  const define = (name: string, what: string, node?: Node) => {
    if (!name) return;
    const prev = defined.get(name);
    if (prev) problems.push({ message: `value '${name}' is defined twice: by ${prev} and by ${what}${where}`, node });
    else defined.set(name, what);
  };
  for (const v of g.inputs) define(v.name, 'a graph input');
  for (const v of g.initializers.values()) if (!g.inputs.includes(v)) define(v.name, 'an initializer');
  for (const n of g.nodes) {
    // ONNX requires op_type; a node without one cannot be run or even written meaningfully.
    if (!n.opType) problems.push({ message: `node ${n.label} has an empty op type${where}`, node: n });
    if (n.graph !== g) problems.push({ message: `node ${n.label} is listed in ${g.name} but belongs elsewhere`, node: n });
    n.outputs.forEach((o, i) => {
      if (!o) return;
      define(o.name, `node ${n.label}`, n);
      if (o.producer !== n || o.outputIndex !== i) problems.push({ message: `output ${o.name} of ${n.label} has a wrong producer link`, node: n });
    });
  }
  const members = new Set(g.nodes);
  const isMember = (n: Node): boolean => (n.graph === g ? members.has(n) : !!n.graph && n.graph.nodes.includes(n));
  for (const n of g.nodes) {
    n.inputs.forEach((v, i) => {
      if (!v) return;
      if (!isVisible(v.graph, g)) problems.push({ message: `node ${n.label} reads '${v.name}', which is not defined in its scope${where}`, node: n });
      else if (v.producer && (v.producer.graph !== v.graph || !isMember(v.producer))) problems.push({ message: `node ${n.label} reads '${v.name}', whose producer was removed${where}`, node: n });
      else if (!v.producer && !v.graph.inputs.includes(v) && v.graph.initializers.get(v.name) !== v)
        problems.push({ message: `node ${n.label} reads '${v.name}', which nothing defines${where}`, node: n });
      if (!v.uses.some((u) => u.node === n && u.index === i)) problems.push({ message: `use list of '${v.name}' misses ${n.label} input ${i}`, node: n });
    });
    for (const sub of n.subgraphs) {
      if (sub.parent !== g) problems.push({ message: `subgraph ${sub.name} of ${n.label} has the wrong parent`, node: n });
      verifyGraph(sub, problems, defined, structuralOnly);
    }
  }
  for (const v of g.values()) {
    for (const u of v.uses) {
      if (u.node.inputs[u.index] !== v) problems.push({ message: `use list of '${v.name}' names ${u.node.label} input ${u.index}, which reads something else`, node: u.node });
      if (!u.node.graph) problems.push({ message: `use list of '${v.name}' names removed node ${u.node.label}`, node: u.node });
    }
  }
  for (const o of g.outputs) {
    const ok = isVisible(o.graph, g) && (o.producer ? o.producer.graph === o.graph : o.graph.inputs.includes(o) || o.graph.initializers.has(o.name));
    if (!ok) problems.push({ message: `graph output '${o.name}' is not defined${where}` });
  }
  const order = topologicalOrder(g);
  if (!order) {
    const cyclic = findCycleNodes(g);
    problems.push({ message: `the graph has a cycle through ${cyclic.slice(0, 5).join(', ')}${where}` });
  }
  if (!structuralOnly) checkTypes(g, problems);
}

function isVisible(owner: Graph, from: Graph): boolean {
  for (let g: Graph | undefined = from; g; g = g.parent) if (g === owner) return true;
  return false;
}

function findCycleNodes(g: Graph): string[] {
  // Nodes left after repeatedly peeling nodes with no pending producers are on (or behind) a cycle.
  const pending = new Set(g.nodes);
  let changed = true;
  while (changed) {
    changed = false;
    for (const n of pending) {
      const blocked = n.inputs.some((v) => v?.producer && pending.has(v.producer));
      if (!blocked) {
        pending.delete(n);
        changed = true;
      }
    }
  }
  return [...pending].map((n) => n.label);
}

function checkTypes(g: Graph, problems: Problem[]): void {
  for (const v of g.initializers.values()) {
    const t = v.type;
    const init = v.initializer!;
    if (t?.kind === 'tensor' && t.dtype !== init.dtype) {
      problems.push({ message: `initializer '${v.name}' holds ${dtypeShortName(init.dtype)} but is declared ${dtypeShortName(t.dtype)}` });
    }
  }
  for (const n of g.nodes) {
    if (n.domain !== '' || !SAME_TYPE_OPS.has(n.opType)) continue;
    const types = n.inputs.map((v) => (v?.type?.kind === 'tensor' ? v.type.dtype : undefined)).filter((d): d is DataType => d !== undefined && d !== DataType.UNDEFINED);
    const limit = n.opType === 'Pow' ? 0 : types.length;
    for (let i = 1; i < limit; i++) {
      if (types[i] !== types[0]) {
        problems.push({ message: `node ${n.label} (${n.opType}) mixes ${dtypeShortName(types[0]!)} and ${dtypeShortName(types[i]!)} inputs`, node: n });
        break;
      }
    }
  }
}
