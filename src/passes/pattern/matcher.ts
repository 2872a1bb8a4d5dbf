import type { Graph } from '../../ir/graph.js';
import { Model } from '../../ir/model.js';
import type { Node } from '../../ir/node.js';
import type { Value } from '../../ir/value.js';
import { constantNumbers, constantProducer, constantScalar, constantTensor, isConstantValue } from './constants.js';
import { describeAttrValue, describeConstraint, describeNode, describePattern, describeValue } from './describe.js';
import { attrValueEquals, normalizeDomain, opKey, type AttrConstraint, type ConstPattern, type NodePattern, type OutputPattern, type PatternExpr } from './pattern.js';
import { fail, ok, type AnyRule, type CheckContext, type CheckResult, type Match, type Rule } from './rule.js';

/**
 * Matching: anchor on a node whose op is the first root's, then walk upward through producers,
 * with backtracking (continuation passing) over commutative orders, optional nodes and
 * alternatives. The match phase never mutates the graph.
 */

/** Where the matcher is looking, for tracer messages. */
export type Site = { readonly node: Node; readonly input: number } | { readonly root: number } | { readonly stage: 'uses' | 'check' };

/** Receives every failure while tracing (progress = pattern nodes matched when it happened). */
export interface TraceSink {
  failure(progress: number, matchedNodes: number, site: Site, reason: string): void;
}

export function describeSite(site: Site, anchor: Node): string {
  if ('node' in site) return `input ${site.input} of ${describeNode(site.node)}`;
  if ('root' in site) return site.root === 0 ? `the root ${describeNode(anchor)}` : `root ${site.root}`;
  return site.stage === 'check' ? 'the rule check' : 'the use check';
}

type Cont = () => boolean;

interface MatchedEntry {
  readonly node: Node;
  readonly pattern: NodePattern;
}

/** Matches one rule at candidate anchors. Reuse it for many anchors of one graph or model. */
export class Matcher<B = Record<string, Value | undefined>> {
  private readonly bindings = new Map<string, Value>();
  private readonly nodeOf = new Map<NodePattern, Node>();
  private readonly matched: MatchedEntry[] = [];
  private readonly constNodes: Node[] = [];
  private graph!: Graph;
  private anchor!: Node;
  private result: Match<B> | undefined;

  constructor(
    readonly rule: Rule<B>,
    private readonly model: Model | undefined,
    /** Set while explaining: failures are described (otherwise no message is ever built). */
    private readonly trace?: TraceSink,
  ) {}

  /** The match rooted at `anchor`, or undefined. The first complete match found wins. */
  matchAt(anchor: Node): Match<B> | undefined {
    if (!anchor.graph || !this.rule.anchorOps.has(opKey(anchor.opType, anchor.domain))) return undefined;
    this.graph = anchor.graph;
    this.anchor = anchor;
    this.bindings.clear();
    this.nodeOf.clear();
    this.matched.length = 0;
    this.constNodes.length = 0;
    this.result = undefined;
    const root = this.rule.roots[0]!;
    const alternatives = root.kind === 'oneOf' ? flattenOneOf(root.alternatives) : [root];
    for (const alt of alternatives) {
      if (alt.kind !== 'output' || opKey(alt.node.opType, alt.node.domain) !== opKey(anchor.opType, anchor.domain)) continue;
      if (this.output(alt, anchor.outputs[alt.index], { root: 0 }, () => this.complete())) return this.result;
    }
    return undefined;
  }

  private failAt(site: Site, reason: () => string, extra = 0): false {
    if (this.trace) this.trace.failure(this.matched.length + extra, this.matched.length, site, reason());
    return false;
  }

  private value(p: PatternExpr, v: Value | undefined, site: Site, k: Cont): boolean {
    switch (p.kind) {
      case 'output':
        return this.output(p, v, site, k);
      case 'var':
        if (!v) return this.failAt(site, () => `expected ${describePattern(p)}, found nothing (the input is absent)`);
        if (p.constant && !isConstantValue(v)) return this.failAt(site, () => `expected a constant (${p.name}), found ${describeValue(v)}`);
        return this.bindVar(p.name, v, site, () => this.withConstNode(p.constant ? v : undefined, k));
      case 'any':
        return v ? k() : this.failAt(site, () => 'expected a value, found nothing (the input is absent)');
      case 'absent':
        return v ? this.failAt(site, () => `expected an absent input, found ${describeValue(v)}`) : k();
      case 'const':
        return this.constant(p, v, site, k);
      case 'optional':
        return this.output(p.inner, v, site, k) || this.value(p.bypass, v, site, k);
      case 'oneOf':
        for (const alt of p.alternatives) if (this.value(alt, v, site, k)) return true;
        return false;
    }
  }

  private constant(p: ConstPattern, v: Value | undefined, site: Site, k: Cont): boolean {
    const want = () => describePattern(p);
    if (!v) return this.failAt(site, () => `expected ${want()}, found nothing (the input is absent)`);
    const xs = constantNumbers(v, p.values.length);
    if (!xs) {
      const size = isConstantValue(v) ? constantTensor(v)?.size : undefined;
      return this.failAt(site, () =>
        isConstantValue(v) && size !== undefined && size !== p.values.length
          ? `expected ${want()}, found a constant with ${size} elements (${describeValue(v)})`
          : `expected ${want()}, found ${describeValue(v)}`,
      );
    }
    const close = (a: number, b: number) => a === b || Math.abs(a - b) <= p.tolerance * Math.max(1, Math.abs(b));
    if (xs.length !== p.values.length || !xs.every((x, i) => close(x, p.values[i]!))) {
      return this.failAt(site, () => `expected ${want()}, found the constant ${xs.length === 1 ? xs[0] : `[${xs.join(',')}]`} (${describeValue(v)})`);
    }
    return this.withConstNode(v, k);
  }

  private withConstNode(v: Value | undefined, k: Cont): boolean {
    const c = v && constantProducer(v);
    if (!c) return k();
    this.constNodes.push(c);
    if (k()) return true;
    this.constNodes.pop();
    return false;
  }

  private bindVar(name: string, v: Value, site: Site, k: Cont): boolean {
    const prev = this.bindings.get(name);
    if (prev) {
      return prev === v ? k() : this.failAt(site, () => `variable ${name} must be one value, but it is ${describeValue(prev)} elsewhere and ${describeValue(v)} here`);
    }
    this.bindings.set(name, v);
    if (k()) return true;
    this.bindings.delete(name);
    return false;
  }

  private output(p: OutputPattern<string, string, string>, v: Value | undefined, site: Site, k: Cont): boolean {
    const np = p.node;
    if (!v) return this.failAt(site, () => `expected ${describePattern(p)}, found nothing (the input is absent)`);
    const bound = this.nodeOf.get(np);
    if (bound) {
      if (bound.outputs[p.index] === v) return p.bindAs ? this.bindVar(p.bindAs, v, site, k) : k();
      return this.failAt(site, () => `expected ${describePattern(p)} of ${describeNode(bound)} (matched elsewhere in the pattern), found ${describeValue(v)}`);
    }
    const n = v.producer;
    if (!n || n.graph !== this.graph || n.opType !== np.opType || normalizeDomain(n.domain) !== np.domain) {
      return this.failAt(site, () => `expected ${describePattern(p)}, found ${describeValue(v)}`);
    }
    if (v.outputIndex !== p.index) return this.failAt(site, () => `expected ${describePattern(p)}, found ${describeValue(v)}`);
    for (const [name, c] of np.attrs) {
      const actual = n.attr(name)?.value;
      if (!attrMatches(actual, c)) {
        return this.failAt(site, () => `attribute ${name} of ${describeNode(n)}: expected ${describeConstraint(c)}, found ${describeAttrValue(actual)}`);
      }
    }
    const want = np.inputs.length;
    if (!np.allowOtherInputs) {
      for (let i = want; i < n.inputs.length; i++) {
        if (n.inputs[i]) return this.failAt(site, () => `${describeNode(n)} has an input ${i}; the pattern expects ${want} input${want === 1 ? '' : 's'}`);
      }
    }
    this.nodeOf.set(np, n);
    this.matched.push({ node: n, pattern: np });
    const afterBind = () => this.inputs(np, n, np.commutative && want === 2 ? SWAPS : STRAIGHT, k);
    if (p.bindAs ? this.bindVar(p.bindAs, v, site, afterBind) : afterBind()) return true;
    this.matched.pop();
    this.nodeOf.delete(np);
    return false;
  }

  private inputs(np: NodePattern, n: Node, orders: readonly (readonly number[])[], k: Cont): boolean {
    const count = np.inputs.length;
    const step = (order: readonly number[], i: number): boolean => {
      if (i === count) return k();
      // Pattern input order[i] against node input i.
      const pat = np.inputs[order[i] ?? i]!;
      return this.value(pat, n.inputs[i], { node: n, input: i }, () => step(order, i + 1));
    };
    for (const order of orders) if (step(order, 0)) return true;
    return false;
  }

  /** All roots matched structurally: resolve extra roots, check uses, run the rule's check. */
  private complete(): boolean {
    return this.extraRoots(0, []);
  }

  /** Roots after the first are outputs of nodes the walk from the first already matched. */
  private extraRoots(i: number, outputs: readonly Value[]): boolean {
    if (i === this.rule.roots.length) return this.finish(outputs);
    const r = this.rule.roots[i]!;
    const v = i === 0 ? this.rootValue(r) : this.boundValue(r);
    if (!v) return this.failAt({ root: i }, () => `root ${i} (${describePattern(r)}) is not part of the match`, 0.5);
    const next = () => this.extraRoots(i + 1, [...outputs, v]);
    return i > 0 && r.kind === 'output' && r.bindAs ? this.bindVar(r.bindAs, v, { root: i }, next) : next();
  }

  private finish(outputs: readonly Value[]): boolean {
    const nodes = [...new Set(this.matched.map((e) => e.node))];
    if (!this.rule.allowExternalUses) {
      const inside = new Set(nodes);
      const roots = new Set(outputs);
      for (const { node, pattern } of this.matched) {
        if (pattern.allowExternalUses) continue;
        for (const o of node.outputs) {
          if (!o || roots.has(o)) continue;
          if (o.isGraphOutput) {
            return this.failAt({ stage: 'uses' }, () => `${describeValue(o)} is a graph output, so the match cannot absorb it (allowExternalUses permits this)`, 0.5);
          }
          const outside = o.uses.find((u) => !inside.has(u.node));
          if (outside) {
            return this.failAt(
              { stage: 'uses' },
              () => `${describeValue(o)} is also read outside the match, by ${describeNode(outside.node)} (allowExternalUses permits this)`,
              0.5,
            );
          }
        }
      }
    }
    const bindings = Object.fromEntries(this.bindings) as B;
    if (this.rule.check) {
      const ctx: CheckContext = {
        model: this.model,
        graph: this.graph,
        root: this.anchor,
        nodes,
        constant: constantTensor,
        numbers: (v) => constantNumbers(v),
        scalar: constantScalar,
        ok,
        fail,
      };
      const r = normalizeCheck(this.rule.check(ctx, bindings));
      if (!r.ok) {
        return this.failAt(
          { stage: 'check' },
          () => `${r.reason}${r.at ? ` (at ${'opType' in r.at ? describeNode(r.at) : describeValue(r.at)})` : ''}`,
          0.5,
        );
      }
    }
    this.result = {
      rule: this.rule.name,
      bindings,
      root: this.anchor,
      outputs,
      nodes,
      constantNodes: [...new Set(this.constNodes)],
      graph: this.graph,
    };
    return true;
  }

  private rootValue(r: PatternExpr): Value | undefined {
    const alts = r.kind === 'oneOf' ? flattenOneOf(r.alternatives) : [r];
    for (const a of alts) if (a.kind === 'output' && this.nodeOf.get(a.node) === this.anchor) return this.anchor.outputs[a.index];
    return undefined;
  }

  private boundValue(r: PatternExpr): Value | undefined {
    if (r.kind === 'output') return this.nodeOf.get(r.node)?.outputs[r.index];
    if (r.kind === 'var') return this.bindings.get(r.name);
    if (r.kind === 'oneOf' || r.kind === 'optional') {
      const alts = r.kind === 'oneOf' ? r.alternatives : [r.inner, r.bypass];
      for (const a of alts) {
        const v = this.boundValue(a);
        if (v) return v;
      }
    }
    return undefined;
  }
}

const STRAIGHT: readonly (readonly number[])[] = [[]];
const SWAPS: readonly (readonly number[])[] = [
  [0, 1],
  [1, 0],
];

function flattenOneOf(alts: readonly PatternExpr[]): PatternExpr[] {
  return alts.flatMap((a) => (a.kind === 'oneOf' ? flattenOneOf(a.alternatives) : [a]));
}

function attrMatches(actual: Parameters<typeof attrValueEquals>[0] | undefined, c: AttrConstraint): boolean {
  if (typeof c === 'function') return c(actual);
  return actual !== undefined && attrValueEquals(actual, c);
}

function normalizeCheck(r: CheckResult | boolean | void): CheckResult {
  if (r === undefined || r === true) return ok();
  if (r === false) return fail('the check returned false');
  return r;
}

export interface FindOptions {
  /** Only try these nodes as anchors (e.g. the nodes of one layer). */
  within?: Iterable<Node>;
}

/** The graphs of a model or graph, subgraphs included, for anchoring. */
export function anchorCandidates(graph: Graph, rule: AnyRule, within?: Iterable<Node>): Node[] {
  const out: Node[] = [];
  for (const n of within ?? graph.allNodes()) if (rule.anchorOps.has(opKey(n.opType, n.domain))) out.push(n);
  return out;
}

/**
 * Every match of `rule` (one per anchor node; matches may overlap), without rewriting. Anchors are
 * the nodes whose op is the first root's, subgraph nodes included; from each, the matcher walks
 * upward only, so the cost is proportional to the candidates times the pattern size.
 */
export function findMatches<B>(target: Model | Graph, rule: Rule<B>, options: FindOptions = {}): Match<B>[] {
  const model = target instanceof Model ? target : undefined;
  const graph = target instanceof Model ? target.graph : target;
  const matcher = new Matcher(rule, model);
  const matches: Match<B>[] = [];
  for (const n of anchorCandidates(graph, rule, options.within)) {
    const m = matcher.matchAt(n);
    if (m) matches.push(m);
  }
  return matches;
}
