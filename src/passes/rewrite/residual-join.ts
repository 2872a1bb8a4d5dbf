import type { Model } from '../../ir/model.js';
import type { Node } from '../../ir/node.js';
import type { Value } from '../../ir/value.js';
import type { ResidualJoin, SumNode } from '../analysis/layer-map.js';

/**
 * Editing where a sublayer joins the residual stream, whatever the exporter's spelling of the join.
 *
 * The LayerMap gives every attention and FFN sublayer a `join: ResidualJoin` (see layer-map.ts),
 * produced by the spellings' join rules: the node that adds the sublayer's `contribution`
 * (`join.at`: a plain ONNX `Add`, or ORT's fused `Skip(Simplified)LayerNormalization`, whose output 3
 * is the sum and output 0 the next sublayer's norm of it), the input `slot` the contribution enters,
 * the `stream` it is added to and the stream `out` after it. Parallel blocks (`x + (a + f)`,
 * `(x + a) + f`, the genai builder's `Skip(x, a + f)`) have `parallel` set and `at` is the local add
 * of the contribution. Granite's residual multiplier is `join.scale` (the contribution is the product).
 *
 * - `bypassSublayer(model, join)`: the sublayer's contribution is no longer added, so the stream
 *   passes through (attn-prune; the dependency matrix's "FFN i removed" with `keepJoin`). The
 *   sublayer's nodes become dead: sweep them afterwards.
 * - `rejoin(model, join, { contribution, stream?, bias? })`: the join adds another value instead,
 *   optionally to another stream (ffn-fuse adds the fused FFN's output to the group's input there).
 *   The old contribution's nodes become dead.
 * - `joinBias(join)`: the constant a fused join adds with the contribution (ORT folds the
 *   projection's bias into the Skip norm); it belongs to the contribution, so bypass drops it and
 *   rejoin replaces it.
 * - `joinIn(copy, original, join)`: the same join in a clone of the model (cloneModel keeps node
 *   order and value names), for trials that edit a copy.
 *
 * All edits are exact: nothing is approximated here. A join describes the graph it was analyzed
 * on; after an edit, analyze again before using other joins that touch the same nodes (bypassing
 * layer i's attention can change layer i−1's FFN join when both meet in one fused norm).
 */

/** Metadata key for the pass that created a node (the same key the pattern rewriter uses). */
const PROVENANCE = 'onnx-opt.rule';

export interface BypassOptions {
  /**
   * Keep the join node and every value name: the join adds zeros (`x − x`, exact) instead of the
   * contribution. For trial copies whose values are probed or cut by name.
   */
  keepJoin?: boolean;
  /** Prefix for the names of nodes this adds, and their provenance. */
  name?: string;
  rule?: string;
}

/** Removes the sublayer's contribution from the residual stream: `out` becomes `stream`. */
export function bypassSublayer(model: Model, join: ResidualJoin, options: BypassOptions = {}): void {
  const g = model.graph;
  const n = checked(join);
  const other = n.inputs[1 - join.slot]!;
  if (options.keepJoin) {
    const zero = g.addNode({ opType: 'Sub', inputs: [other, other], outputs: [`${options.name ?? 'sublayer_removed'}_zero`], before: n });
    if (options.rule) zero.setMetadata(PROVENANCE, options.rule);
    n.setInput(join.slot, zero.output(0));
    setBias(n, join.at, undefined);
    return;
  }
  if (!join.at.fusedNorm) {
    g.replaceAllUsesWith(join.at.sum ?? n.output(0), other);
    return;
  }
  bypassFusedNorm(model, join, other, options.rule);
}

/**
 * A fused norm `Norm(a + x_in)` without `a`. When x_in is itself the sum of a fused norm of the same
 * op (`x_in = m + x_prev`), this one now sums `(m, x_prev)` itself (taking that norm's bias);
 * otherwise it becomes the plain norm of x_in, and its sum output is x_in.
 */
function bypassFusedNorm(model: Model, join: ResidualJoin, xIn: Value, rule: string | undefined): void {
  const g = model.graph;
  const n = join.at.node;
  const fused = join.at.fusedNorm!;
  const prev = xIn.producer;
  if (prev && prev.opType === n.opType && prev.domain === n.domain && prev.outputs[fused.sumOutput] === xIn) {
    n.setInput(0, prev.inputs[0]);
    n.setInput(1, prev.inputs[1]);
    // The join's own bias belonged to the contribution; the sum now takes the previous norm's.
    const bias = join.at.biasInput;
    if (bias !== undefined) setBias(n, join.at, prev.inputs[bias]);
    return;
  }
  const { opType, domain, params, attributes } = fused.unfused;
  const norm = g.addNode({ opType, domain, inputs: [xIn, ...params], outputs: [`${n.output(0).name}_plain`], attributes: [...attributes], before: n });
  if (rule) norm.setMetadata(PROVENANCE, rule);
  norm.output(0).type = n.output(0).type;
  g.replaceAllUsesWith(n.output(0), norm.output(0));
  if (join.at.sum) g.replaceAllUsesWith(join.at.sum, xIn);
  g.removeNode(n, { force: true });
}

export interface NewContribution {
  /** The value the join adds instead of the sublayer's. */
  contribution: Value;
  /** The stream to add it to (default: the join's). Only joins that add to the stream directly. */
  stream?: Value;
  /**
   * A constant added along with the contribution. A fused join takes it as its bias input, in
   * place of its own (which belonged to the old contribution); a plain Add join adds it first.
   */
  bias?: Value;
  /** Prefix for the names of nodes this adds, and their provenance. */
  name?: string;
  rule?: string;
}

export interface Rejoined {
  /** The residual stream after the join, now (a new value for plain Add joins). */
  out: Value | undefined;
  /** Nodes added. */
  added: Node[];
}

/** Makes the join add `c.contribution` (to `c.stream`) instead of the sublayer's contribution. */
export function rejoin(model: Model, join: ResidualJoin, c: NewContribution): Rejoined {
  const g = model.graph;
  const n = checked(join);
  const other = n.inputs[1 - join.slot]!;
  const stream = c.stream ?? other;
  if (stream !== other && other !== join.stream) throw new Error(`rejoin: ${n.label} adds ${join.contribution.name} to ${other.name}, not to the stream ${join.stream.name}; it cannot move to another stream`);
  const added: Node[] = [];
  const add = (inputs: Value[], like: Value) => {
    const node = g.addNode({ opType: 'Add', inputs, outputs: [`${c.name ?? 'rejoin'}/Add`], before: n });
    if (c.rule) node.setMetadata(PROVENANCE, c.rule);
    node.output(0).type = like.type;
    added.push(node);
    return node.output(0);
  };
  if (join.at.fusedNorm) {
    n.setInput(join.slot, c.contribution);
    n.setInput(1 - join.slot, stream);
    setBias(n, join.at, c.bias);
    return { out: join.at.sum, added };
  }
  const contribution = c.bias ? add([c.contribution, c.bias], c.contribution) : c.contribution;
  const before = join.at.sum ?? n.output(0);
  const out = add([stream, contribution], before);
  g.replaceAllUsesWith(before, out);
  return { out, added };
}

/** The constant the join adds along with the contribution (a fused norm's bias input), if any. */
export function joinBias(join: ResidualJoin): Value | undefined {
  const at = join.at.biasInput;
  return at === undefined ? undefined : join.at.node.inputs[at];
}

/** `join` as it is in `copy`, a clone of `original` (same node order and value names). */
export function joinIn(copy: Model, original: Model, join: ResidualJoin): ResidualJoin {
  const index = new Map(original.graph.nodes.map((n, i) => [n, i]));
  const byName = new Map<string, Value>();
  for (const v of copy.graph.values()) byName.set(v.name, v);
  const node = (n: Node): Node => {
    const c = copy.graph.nodes[index.get(n) ?? -1];
    if (!c || c.opType !== n.opType || c.domain !== n.domain) throw new Error(`joinIn: ${n.label} has no counterpart in the copy`);
    return c;
  };
  const value = (v: Value): Value => {
    const c = byName.get(v.name);
    if (!c) throw new Error(`joinIn: value ${v.name} has no counterpart in the copy`);
    return c;
  };
  const opt = (v: Value | undefined) => (v ? value(v) : undefined);
  const { at } = join;
  const sum: SumNode = {
    node: node(at.node),
    sum: opt(at.sum),
    ...(at.biasInput !== undefined ? { biasInput: at.biasInput } : {}),
    ...(at.fusedNorm ? { fusedNorm: { sumOutput: at.fusedNorm.sumOutput, unfused: { ...at.fusedNorm.unfused, params: at.fusedNorm.unfused.params.map(opt) } } } : {}),
  };
  return {
    at: sum,
    slot: join.slot,
    contribution: value(join.contribution),
    stream: value(join.stream),
    out: opt(join.out),
    parallel: join.parallel,
    ...(join.scale ? { scale: { factor: join.scale.factor, node: node(join.scale.node), unscaled: value(join.scale.unscaled) } } : {}),
  };
}

/** The join's node, after checking it still adds the contribution (a LayerMap of another graph would not). */
function checked(join: ResidualJoin): Node {
  const n = join.at.node;
  if (n.inputs[join.slot] !== join.contribution) throw new Error(`residual join: ${n.label} does not add ${join.contribution.name} (the LayerMap is stale)`);
  return n;
}

/** Sets (or with undefined, drops) a join's bias input; trailing absent inputs are trimmed. */
function setBias(n: Node, at: SumNode, bias: Value | undefined): void {
  const i = at.biasInput;
  if (i === undefined) {
    if (bias) throw new Error(`residual join: ${n.label} has no bias input`);
    return;
  }
  if (bias || n.inputs.length > i) n.setInput(i, bias);
  while (n.inputs.length && n.inputs[n.inputs.length - 1] === undefined) n.inputs.pop();
}
