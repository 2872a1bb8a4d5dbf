import type { Node } from '../../ir/node.js';
import type { Value } from '../../ir/value.js';

/**
 * Dataflow slices over the main graph, for assigning nodes and cache I/O to sublayers. These are
 * generic graph facts (no exporter knowledge): which nodes lie between two values.
 */

/** Ops whose output depends only on their input's shape, not its data. */
const SHAPE_ONLY = new Set(['Shape', 'Size']);

/** Nodes reachable downstream of `roots` (their consumers, transitively). */
export function forwardNodes(roots: Iterable<Value>, stopAt: ReadonlySet<Value> = new Set()): Set<Node> {
  const seen = new Set<Node>();
  const stack: Value[] = [...roots];
  while (stack.length) {
    const v = stack.pop()!;
    for (const u of v.uses) {
      if (seen.has(u.node)) continue;
      seen.add(u.node);
      for (const o of u.node.outputs) if (o && !stopAt.has(o)) stack.push(o);
    }
  }
  return seen;
}

/**
 * Nodes upstream of `roots` (their producers, transitively), stopping at `stopAt` values. With
 * `dataOnly`, inputs read only for their shape (Shape, Size) are not followed.
 */
export function backwardNodes(roots: Iterable<Value>, options: { stopAt?: ReadonlySet<Value>; dataOnly?: boolean } = {}): Set<Node> {
  const seen = new Set<Node>();
  const stack: Value[] = [...roots];
  const stop = options.stopAt ?? new Set<Value>();
  while (stack.length) {
    const v = stack.pop()!;
    if (stop.has(v)) continue;
    const p = v.producer;
    if (!p || seen.has(p)) continue;
    seen.add(p);
    if (options.dataOnly && SHAPE_ONLY.has(p.opType) && p.domain === '') continue;
    for (const i of p.inputs) if (i) stack.push(i);
  }
  return seen;
}

/** Graph inputs (not initializers) that `roots` depend on, optionally through data only. */
export function graphInputsUpstream(roots: Iterable<Value>, options: { dataOnly?: boolean; stopAt?: ReadonlySet<Value> } = {}): Set<Value> {
  const out = new Set<Value>();
  const check = (v: Value | undefined) => {
    if (v && !v.producer && !v.initializer && v.graph.inputs.includes(v)) out.add(v);
  };
  for (const r of roots) check(r);
  for (const n of backwardNodes(roots, options)) {
    if (options.dataOnly && (n.opType === 'Shape' || n.opType === 'Size') && n.domain === '') continue;
    for (const i of n.inputs) check(i);
  }
  return out;
}

/** Whether `target` is upstream of (or is) `from`. */
export function dependsOn(from: Value, target: Value, stopAt: ReadonlySet<Value> = new Set()): boolean {
  if (from === target) return true;
  for (const n of backwardNodes([from], { stopAt })) if (n.inputs.includes(target)) return true;
  return false;
}
