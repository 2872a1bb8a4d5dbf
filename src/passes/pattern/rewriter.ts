import { OnnxOptError } from '../../errors.js';
import { Attribute } from '../../ir/attribute.js';
import type { AttrInput } from '../../ir/builder.js';
import { DataType } from '../../ir/dtype.js';
import type { Graph } from '../../ir/graph.js';
import type { Model } from '../../ir/model.js';
import type { Node } from '../../ir/node.js';
import { Tensor } from '../../ir/tensor.js';
import { Value } from '../../ir/value.js';
import { definePass } from '../pass.js';
import { anchorCandidates, Matcher } from './matcher.js';
import type { OpName } from './op-names.js';
import { normalizeDomain } from './pattern.js';
import type { AnyRule, Match } from './rule.js';

/**
 * Applying rules. Every node a rewrite creates records the rule's name in its metadata_props under
 * RULE_METADATA_KEY, so provenance survives into the saved model. Replacement goes through
 * Graph.replaceAllUsesWith (graph outputs keep their names) and matched nodes are removed with the
 * checked Graph.removeNode once nothing reads them; unused initializers are left to `dce`.
 */
export const RULE_METADATA_KEY = 'onnx-opt.rule';

export type RewriteInput = Value | undefined | null;

export interface RewriteNodeOptions {
  /** Operator domain; default '' (ONNX). A new domain gets an opset import (version `opsetVersion`, default 1). */
  domain?: string;
  opsetVersion?: number;
  /** Plain values are typed as GraphBuilder does (integral numbers become INT); pass an Attribute to force a type. */
  attrs?: Record<string, AttrInput>;
  /** Attributes whose numbers must be FLOAT even when integral (e.g. epsilon: 1). */
  floatAttrs?: readonly string[];
  /** Node name stem (prefixed with the anchor's name scope, e.g. `/model/layers.0/attn/`); default the op type. */
  name?: string;
  /** Number of outputs (default 1). */
  outputs?: number;
}

/** `op.Mul(a, b)` in a rewrite: adds the node before the match's root and returns its first output. */
export type RewriteOpFn = (...args: (RewriteInput | RewriteNodeOptions)[]) => Value;

export interface RewriteHelpers {
  readonly graph: Graph;
  readonly model: Model | undefined;
  /** Any operator by name; returns output 0. */
  call(opType: string, inputs: readonly RewriteInput[], options?: RewriteNodeOptions): Value;
  /** Any operator by name; returns the node (for several outputs: `node.output(i)`). */
  node(opType: string, inputs: readonly RewriteInput[], options?: RewriteNodeOptions): Node;
  /** A new initializer holding these numbers (default float32, shape [n], or [] for a single number given as a number). */
  constant(values: number | readonly number[], options?: { dtype?: DataType; dims?: readonly number[]; name?: string }): Value;
  /** A new initializer holding `tensor`. */
  initializer(tensor: Tensor): Value;
}

/** The `op` object of a rule's `rewrite` function. */
export type RewriteOps = RewriteHelpers & { readonly [K in OpName]: RewriteOpFn };

function scopeOf(anchor: Node): string {
  const i = anchor.name.lastIndexOf('/');
  return i >= 0 ? anchor.name.slice(0, i + 1) : '';
}

function isOptions(x: unknown): x is RewriteNodeOptions {
  return typeof x === 'object' && x !== null && !(x instanceof Value) && !Array.isArray(x);
}

/** Builds the rewrite `op` for one match; new nodes go before the anchor and are listed in `created`. */
export function createRewriteOps(match: Match<unknown>, ruleName: string, model: Model | undefined, created: Node[]): RewriteOps {
  const graph = match.graph;
  const anchor = match.root;
  const scope = scopeOf(anchor);
  const addNode = (opType: string, inputs: readonly RewriteInput[], options: RewriteNodeOptions = {}): Node => {
    const domain = normalizeDomain(options.domain);
    const stem = `${scope}${options.name ?? opType}`;
    const attributes = Object.entries(options.attrs ?? {}).map(([k, v]) =>
      v instanceof Attribute ? v : Attribute.from(k, v, options.floatAttrs?.includes(k) ?? false),
    );
    const count = options.outputs ?? 1;
    const node = graph.addNode({
      opType,
      domain,
      name: stem,
      inputs: inputs.map((v) => v ?? undefined),
      outputs: Array.from({ length: count }, (_, i) => `${stem}_output_${i}`),
      attributes,
      before: anchor.graph === graph ? anchor : undefined,
    });
    // The node name was made unique (`Mul_2`); name the outputs after it, as exporters do.
    if (node.name !== stem) {
      node.outputs.forEach((o, i) => {
        const want = `${node.name}_output_${i}`;
        if (o && !graph.names.has(want)) graph.renameValue(o, want);
      });
    }
    node.setMetadata(RULE_METADATA_KEY, ruleName);
    if (domain) model?.requireOpset(domain, options.opsetVersion ?? 1);
    created.push(node);
    return node;
  };
  const helpers: RewriteHelpers = {
    graph,
    model,
    call: (opType, inputs, options) => addNode(opType, inputs, options).output(0),
    node: addNode,
    constant: (values, options = {}) => {
      const xs = typeof values === 'number' ? [values] : [...values];
      const dims = options.dims ?? (typeof values === 'number' ? [] : [xs.length]);
      const dtype = options.dtype ?? DataType.FLOAT;
      const data = numbersToArray(xs, dtype);
      return graph.addInitializer(Tensor.fromArray(`${scope}${options.name ?? 'const'}`, dtype, dims, data));
    },
    initializer: (tensor) => graph.addInitializer(tensor),
  };
  return new Proxy(helpers, {
    get(target, prop) {
      if (typeof prop !== 'string') return undefined;
      if (prop in target) return target[prop as keyof RewriteHelpers];
      if (!/^[A-Z]/.test(prop)) return undefined;
      return (...args: unknown[]) => {
        const last = args[args.length - 1];
        const options = isOptions(last) ? (args.pop() as RewriteNodeOptions) : undefined;
        return addNode(prop, args as RewriteInput[], options).output(0);
      };
    },
  }) as RewriteOps;
}

function numbersToArray(xs: readonly number[], dtype: DataType) {
  switch (dtype) {
    case DataType.FLOAT:
      return Float32Array.from(xs);
    case DataType.DOUBLE:
      return Float64Array.from(xs);
    case DataType.INT64:
      return BigInt64Array.from(xs.map((x) => BigInt(x)));
    case DataType.INT32:
      return Int32Array.from(xs);
    default:
      throw new OnnxOptError('UNSUPPORTED', `rewrite constants of type ${DataType[dtype]} are not supported; build a Tensor and use op.initializer`);
  }
}

export interface RewriteOutcome {
  readonly created: readonly Node[];
  readonly removed: readonly Node[];
}

/**
 * Rewrites one match: runs the rule's `rewrite`, makes every reader of each root read its
 * replacement, then removes matched nodes (and Constant nodes the match used) that became dead.
 * Matched nodes still read elsewhere (allowExternalUses) stay.
 */
export function applyMatch(match: Match<unknown>, rule: AnyRule, model?: Model): RewriteOutcome {
  if (!rule.rewrite) throw new OnnxOptError('PASS', `rule ${rule.name} is match-only (it has no rewrite)`);
  const created: Node[] = [];
  const ops = createRewriteOps(match, rule.name, model, created);
  const result = rule.rewrite(ops, match.bindings, match);
  const replacements: readonly (Value | undefined)[] = result instanceof Value ? [result] : (result as readonly Value[]);
  if (!Array.isArray(replacements) || replacements.length !== match.outputs.length) {
    throw new OnnxOptError('PASS', `rule ${rule.name}: rewrite must return ${match.outputs.length} value(s), one per pattern root`);
  }
  const g = match.graph;
  match.outputs.forEach((from, i) => {
    const to = replacements[i];
    if (!(to instanceof Value)) throw new OnnxOptError('PASS', `rule ${rule.name}: rewrite returned no value for root ${i}`);
    if (to.type === undefined && to.producer && created.includes(to.producer)) to.type = from.type;
    g.replaceAllUsesWith(from, to);
  });
  const removed: Node[] = [];
  const candidates = [...match.nodes, ...match.constantNodes];
  // Fixpoint: a node can die only after its readers inside the match are gone.
  for (let changed = true; changed; ) {
    changed = false;
    for (const n of candidates) {
      if (n.graph === g && isDead(n)) {
        g.removeNode(n);
        removed.push(n);
        changed = true;
      }
    }
  }
  return { created, removed };
}

function isDead(n: Node): boolean {
  return n.outputs.every((o) => !o || (o.uses.length === 0 && !o.isGraphOutput));
}

export interface ApplyOptions {
  /** Sweeps over all rules; stops early when one rewrites nothing (default 10). */
  maxIterations?: number;
}

export interface ApplyResult {
  modified: boolean;
  /** Rewrites in total. */
  rewrites: number;
  /** Rewrites per rule name. */
  byRule: Record<string, number>;
  /** Sweeps run (the last one found nothing unless maxIterations stopped it). */
  iterations: number;
}

/**
 * The rewrite driver. Each sweep tries every rule at every candidate anchor, in graph order, and
 * rewrites each match at once, so later matches see the rewritten graph and never overlap a
 * removed node. Nodes created in a sweep are candidates in the next one. Touched graphs are
 * re-sorted topologically (stable) after each sweep.
 */
export function applyRules(model: Model, rules: readonly AnyRule[], options: ApplyOptions = {}): ApplyResult {
  const maxIterations = options.maxIterations ?? 10;
  const byRule: Record<string, number> = {};
  for (const r of rules) {
    if (!r.rewrite) throw new OnnxOptError('PASS', `rule ${r.name} is match-only (it has no rewrite)`);
    byRule[r.name] ??= 0;
  }
  let rewrites = 0;
  let iterations = 0;
  while (iterations < maxIterations) {
    iterations++;
    let sweep = 0;
    const touched = new Set<Graph>();
    for (const rule of rules) {
      const matcher = new Matcher(rule, model);
      for (const anchor of anchorCandidates(model.graph, rule)) {
        const m = matcher.matchAt(anchor);
        if (!m) continue;
        applyMatch(m, rule, model);
        touched.add(m.graph);
        byRule[rule.name]!++;
        sweep++;
      }
    }
    for (const g of touched) g.sortTopologically();
    rewrites += sweep;
    if (sweep === 0) break;
  }
  return { modified: rewrites > 0, rewrites, byRule, iterations };
}

/** Wraps rules into a pass (for the registry and pipelines); stats count rewrites per rule. */
export function rewritePass(name: string, summary: string, rules: readonly AnyRule[], defaults: { maxIterations?: number } = {}) {
  return definePass({
    name,
    summary,
    options: {
      'max-iterations': { type: 'int', description: 'sweeps over the rules before giving up on a fixpoint', default: defaults.maxIterations ?? 10 },
    },
    run(model, ctx, o) {
      const r = applyRules(model, rules, { maxIterations: o['max-iterations'] });
      const stats: Record<string, number> = { rewrites: r.rewrites };
      for (const [rule, n] of Object.entries(r.byRule)) {
        stats[`${rule} rewrites`] = n;
        if (n > 0) ctx.log(`${name}: rule ${rule} rewrote ${n} match${n === 1 ? '' : 'es'}`);
      }
      return { modified: r.modified, stats };
    },
  });
}
