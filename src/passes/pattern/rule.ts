import type { Graph } from '../../ir/graph.js';
import type { Model } from '../../ir/model.js';
import type { Node } from '../../ir/node.js';
import type { Tensor } from '../../ir/tensor.js';
import type { Value } from '../../ir/value.js';
import {
  createPatternOps,
  maxPatternNodes,
  opKey,
  OutputPattern,
  ValuePattern,
  VarPattern,
  walkPattern,
  type OptOf,
  type PatternExpr,
  type PatternOps,
  type ReqOf,
} from './pattern.js';
import type { RewriteOps } from './rewriter.js';

/**
 * What a match binds: variables every path binds are `Value`; variables bound only inside
 * `oneOf`/`optional` may be missing.
 */
export type Bindings<R extends string, O extends string> = { readonly [K in R]: Value } & { readonly [K in Exclude<O, R>]?: Value };

/** A pattern's root: one value pattern, or several (all must be reached from the first). */
export type PatternRoot = ValuePattern<string, string> | readonly ValuePattern<string, string>[];

type RootReq<P> = P extends readonly (infer E)[] ? ReqOf<E> : ReqOf<P>;
type RootOpt<P> = P extends readonly (infer E)[] ? OptOf<E> : OptOf<P>;
type VarTuple<V extends readonly string[]> = { [I in keyof V]: VarPattern<V[I]> };

/** What `rewrite` returns: one replacement per root, in order. */
export type Replacement<P> = P extends readonly unknown[] ? readonly Value[] : Value;

/** One match: the variable bindings plus the graph nodes the pattern covered. */
export interface Match<B = Record<string, Value | undefined>> {
  readonly rule: string;
  readonly bindings: B;
  /** The node the first root matched (the anchor the search started from). */
  readonly root: Node;
  /** The values the roots matched, in root order: what a rewrite replaces. */
  readonly outputs: readonly Value[];
  /** Graph nodes matched by pattern op calls, root first. */
  readonly nodes: readonly Node[];
  /** Constant nodes feeding `op.const` / `constant: true` variables (removed with the match when dead). */
  readonly constantNodes: readonly Node[];
  readonly graph: Graph;
}

export type CheckResult = { readonly ok: true } | { readonly ok: false; readonly reason: string; readonly at?: Value | Node };

export function ok(): CheckResult {
  return { ok: true };
}

/** A failed check, tied to the value or node it is about (the tracer names it). */
export function fail(reason: string, at?: Value | Node): CheckResult {
  return { ok: false, reason, at };
}

/** What `check` gets besides the bindings. */
export interface CheckContext {
  readonly model: Model | undefined;
  readonly graph: Graph;
  /** The anchor node (what the first root matched). */
  readonly root: Node;
  /** Matched nodes so far (all of them: check runs after the structure matched). */
  readonly nodes: readonly Node[];
  /** Tensor of an initializer or Constant node output. */
  constant(v: Value): Tensor | undefined;
  /** Elements of a small numeric constant. */
  numbers(v: Value): number[] | undefined;
  /** The element of a one-element numeric constant. */
  scalar(v: Value): number | undefined;
  ok(): CheckResult;
  fail(reason: string, at?: Value | Node): CheckResult;
}

export interface RuleSpec<V extends readonly string[], P extends PatternRoot, B> {
  /** Shown in stats, tracer output and the `onnx-opt.rule` metadata of new nodes. */
  name: string;
  description?: string;
  /** Variables passed positionally to `pattern` after `op`: `vars: ['x', 'w'], pattern: (op, x, w) => …`. */
  vars?: V;
  pattern: (op: PatternOps, ...vars: VarTuple<V>) => P;
  /** Runs after the structure matched; a failure makes the matcher try other alternatives. */
  check?: (ctx: CheckContext, bindings: B) => CheckResult | boolean | void;
  /** Builds the replacement for each root. Rules without one are match-only. */
  rewrite?: (op: RewriteOps, bindings: B, match: Match<B>) => Replacement<P>;
  /** Every matched node may have uses outside the match (default false: only roots may). */
  allowExternalUses?: boolean;
}

/** A compiled rule: the pattern is built once, and the anchor op types are known. */
export interface Rule<B = Record<string, Value | undefined>> {
  readonly name: string;
  readonly description: string;
  readonly roots: readonly PatternExpr[];
  /** `domain::opType` keys a candidate root node must have. */
  readonly anchorOps: ReadonlySet<string>;
  /** Variable names the pattern binds. */
  readonly variables: readonly string[];
  /** The most pattern nodes a match can have (for "matched k of N"). */
  readonly patternNodes: number;
  readonly allowExternalUses: boolean;
  readonly check?: (ctx: CheckContext, bindings: B) => CheckResult | boolean | void;
  readonly rewrite?: (op: RewriteOps, bindings: B, match: Match<B>) => readonly Value[] | Value;
}

/** Any rule, whatever its bindings (for drivers that take lists of rules). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyRule = Rule<any>;

/**
 * Declares a rewrite (or match-only) rule. The pattern function runs once, here; its variable
 * names type the bindings that `check` and `rewrite` receive.
 *
 * ```ts
 * const rmsNorm = defineRule({
 *   name: 'rmsnorm-torchscript',
 *   vars: ['x', 'w'],
 *   pattern: (op, x, w) =>
 *     op.Mul(w, op.Mul(x, op.Div(1, op.Sqrt(op.Add(op.ReduceMean(op.Pow(x, 2), { attrs: { keepdims: 1 } }), op.var('eps', { constant: true })))))),
 *   check: (ctx, { eps }) => (ctx.scalar(eps) !== undefined ? ok() : fail('epsilon must be a scalar', eps)),
 *   rewrite: (op, { x, w, eps }) => op.SimplifiedLayerNormalization(x, w, { attrs: { epsilon: …, axis: -1 } }),
 * });
 * ```
 */
export function defineRule<const V extends readonly string[] = [], P extends PatternRoot = PatternRoot>(
  spec: RuleSpec<V, P, Bindings<V[number] | RootReq<P>, RootOpt<P>>>,
): Rule<Bindings<V[number] | RootReq<P>, RootOpt<P>>> {
  const op = createPatternOps();
  const declared = (spec.vars ?? []) as readonly string[];
  const positional = declared.map((n) => op.var(n));
  const built = (spec.pattern as (op: PatternOps, ...vars: VarPattern<string>[]) => PatternRoot)(op, ...positional);
  const roots = (Array.isArray(built) ? built : [built]) as PatternExpr[];
  if (roots.length === 0) throw new TypeError(`rule ${spec.name}: the pattern has no root`);
  for (const r of roots) if (!(r instanceof ValuePattern)) throw new TypeError(`rule ${spec.name}: the pattern must return op-call patterns`);

  const anchorOps = new Set<string>();
  const addAnchors = (p: PatternExpr): void => {
    if (p.kind === 'output') anchorOps.add(opKey(p.node.opType, p.node.domain));
    else if (p.kind === 'oneOf') p.alternatives.forEach(addAnchors);
    else throw new TypeError(`rule ${spec.name}: the first root must be an op call (or oneOf of op calls), not ${p.kind}`);
  };
  addAnchors(roots[0]!);

  const variables = new Set<string>();
  const varKinds = new Map<string, boolean>();
  walkPattern(roots, (p) => {
    let name: string | undefined;
    if (p.kind === 'var') {
      name = p.name;
      const prev = varKinds.get(p.name);
      if (prev !== undefined && prev !== p.constant) {
        throw new TypeError(`rule ${spec.name}: variable ${p.name} is declared both constant and not`);
      }
      varKinds.set(p.name, p.constant);
    } else if (p instanceof OutputPattern) name = p.bindAs;
    if (name !== undefined) variables.add(name);
  });
  for (const n of declared) {
    if (!variables.has(n)) throw new TypeError(`rule ${spec.name}: variable ${n} is declared but the pattern never uses it`);
  }

  return {
    name: spec.name,
    description: spec.description ?? '',
    roots,
    anchorOps,
    variables: [...variables],
    patternNodes: maxPatternNodes(roots),
    allowExternalUses: spec.allowExternalUses ?? false,
    check: spec.check,
    rewrite: spec.rewrite as Rule<Bindings<V[number] | RootReq<P>, RootOpt<P>>>['rewrite'],
  };
}
