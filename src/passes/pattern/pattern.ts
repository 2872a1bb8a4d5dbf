import type { AttributeValue } from '../../ir/attribute.js';
import type { OpName } from './op-names.js';

/**
 * The pattern language: a pattern is a tree (or DAG) of op calls over pattern variables, built by
 * the `op` object a rule's `pattern` function receives. Every builder returns a ValuePattern that
 * carries, in its type only, the names of the variables it binds, so a rule's `check` and `rewrite`
 * get a typed bindings object.
 */

/** What an attribute constraint sees: the decoded value, or undefined when the node lacks the attribute. */
export type AttrValue = AttributeValue['value'] | undefined;

/** A predicate on an attribute value; set `description` to say what it wants in tracer messages. */
export type AttrPredicate = ((value: AttrValue) => boolean) & { description?: string };

/** An exact value (ints and floats compare as float32 for FLOAT attributes) or a predicate. */
export type AttrConstraint = number | string | readonly number[] | readonly string[] | AttrPredicate;

/**
 * Base of every pattern for a value. `R` are the variables the pattern always binds, `O` those it
 * binds only on some paths (inside `oneOf` or `optional`). Both exist only in the type.
 */
export abstract class ValuePattern<R extends string = never, O extends string = never> {
  declare readonly __vars?: [R, O];
  abstract readonly kind: PatternExpr['kind'];
}

/** A named variable: binds any value; the same name must bind the same value everywhere. */
export class VarPattern<N extends string = string> extends ValuePattern<N, never> {
  readonly kind = 'var' as const;
  constructor(
    readonly name: N,
    /** Only an initializer (not a graph input) or a Constant node output can bind. */
    readonly constant: boolean,
  ) {
    super();
  }
}

/** Any present value, bound to nothing. */
export class AnyPattern extends ValuePattern {
  readonly kind = 'any' as const;
}

/** An absent optional input (ONNX's empty input name). `null` in an op call means the same. */
export class AbsentPattern extends ValuePattern {
  readonly kind = 'absent' as const;
}

/**
 * A constant with known elements: an initializer or a Constant node output. A scalar pattern
 * matches any one-element tensor (any rank); a list matches a tensor with that many elements.
 */
export class ConstPattern extends ValuePattern {
  readonly kind = 'const' as const;
  constructor(
    readonly values: readonly number[],
    readonly scalar: boolean,
    /** Relative tolerance (absolute below 1). */
    readonly tolerance: number,
  ) {
    super();
  }
}

/** One op application in a pattern. Its outputs are referenced through OutputPattern. */
export class NodePattern {
  constructor(
    readonly opType: string,
    /** '' for the default ONNX domain ('ai.onnx' is normalized to ''). */
    readonly domain: string,
    readonly inputs: readonly PatternExpr[],
    readonly attrs: readonly (readonly [string, AttrConstraint])[],
    /** Try both input orders (default for two-input Add, Mul, Max, Min, Equal, And, Or, Xor). */
    readonly commutative: boolean,
    /** The node's outputs may be read outside the match (by default only the roots may). */
    readonly allowExternalUses: boolean,
    /** The node may have present inputs beyond the pattern's (by default they must be absent). */
    readonly allowOtherInputs: boolean,
  ) {}

  get qualifiedOp(): string {
    return this.domain ? `${this.domain}::${this.opType}` : this.opType;
  }
}

/** Output `index` of a node pattern; `bindAs` also binds the matched value to that variable. */
export class OutputPattern<R extends string = never, O extends string = never, F extends string = never> extends ValuePattern<R, O> {
  declare readonly __first?: F;
  readonly kind = 'output' as const;
  constructor(
    readonly node: NodePattern,
    readonly index: number,
    readonly bindAs: string | undefined,
  ) {
    super();
  }

  /** Another output of the same node (multi-output ops), optionally bound to a variable. */
  output<const As extends string = never>(index: number, as?: As): OutputPattern<R | As, O, F> {
    return new OutputPattern<R | As, O, F>(this.node, index, as);
  }
}

/** Matches `inner`, or, when that fails, the value that would have been inner's input 0. */
export class OptionalPattern<R extends string = never, O extends string = never> extends ValuePattern<R, O> {
  readonly kind = 'optional' as const;
  constructor(readonly inner: OutputPattern<string, string, string>) {
    super();
  }

  get bypass(): PatternExpr {
    return this.inner.node.inputs[0]!;
  }
}

/** Matches the first alternative that leads to a complete match (later ones are tried on failure). */
export class OneOfPattern<R extends string = never, O extends string = never> extends ValuePattern<R, O> {
  readonly kind = 'oneOf' as const;
  constructor(readonly alternatives: readonly PatternExpr[]) {
    super();
  }
}

export type PatternExpr =
  | VarPattern<string>
  | AnyPattern
  | AbsentPattern
  | ConstPattern
  | OutputPattern<string, string, string>
  | OptionalPattern<string, string>
  | OneOfPattern<string, string>;

/** An op-call input: a pattern, a number (shorthand for `op.const(n)`), or null (an absent input). */
export type PatternInput = ValuePattern<string, string> | number | null;

export interface NodeOptions<As extends string = string> {
  /** Operator domain; default '' (ONNX). */
  domain?: string;
  /** Attribute constraints; attributes not named here are not looked at. */
  attrs?: Record<string, AttrConstraint>;
  commutative?: boolean;
  allowExternalUses?: boolean;
  allowOtherInputs?: boolean;
  /** Binds the node's output (the one this call returns) to a variable of this name. */
  as?: As;
}

type OpArg = PatternInput | NodeOptions;

/** Variables a pattern (or op-call argument) always binds. */
export type ReqOf<X> = X extends ValuePattern<infer R, string> ? R : X extends { as: infer S extends string } ? S : never;
/** Variables a pattern binds only on some paths. */
export type OptOf<X> = X extends ValuePattern<string, infer O> ? O : never;
type FirstOf<A extends readonly unknown[]> = A extends readonly [infer H, ...unknown[]] ? ReqOf<H> : never;
/** Variables every alternative binds. */
type ReqAll<A extends readonly unknown[]> = A extends readonly [infer H]
  ? ReqOf<H>
  : A extends readonly [infer H, ...infer T]
    ? ReqOf<H> & ReqAll<T>
    : never;

/** `op.Mul(a, b)`, `op.ReduceMean(x, { attrs: { keepdims: 1 } })`. */
export type PatternOpFn = <const A extends readonly OpArg[]>(
  ...args: A
) => OutputPattern<ReqOf<A[number]>, OptOf<A[number]>, FirstOf<A>>;

export interface PatternHelpers {
  /** A variable. `constant: true` accepts only initializers and Constant node outputs. */
  var<const N extends string>(name: N, options?: { constant?: boolean }): VarPattern<N>;
  /** Any present value, not bound. */
  any(): AnyPattern;
  /** An absent optional input (same as `null`). */
  absent(): AbsentPattern;
  /** A constant with these elements (see ConstPattern). */
  const(value: number | readonly number[], options?: { tolerance?: number }): ConstPattern;
  /** `op.optional(op.Cast(x))`: the Cast, or no Cast (then its input pattern matches the value itself). */
  optional<R extends string, O extends string, F extends string>(node: OutputPattern<R, O, F>): OptionalPattern<F, R | O>;
  /** The first alternative that completes the match. */
  oneOf<const A extends readonly ValuePattern<string, string>[]>(...alternatives: A): OneOfPattern<ReqAll<A>, ReqOf<A[number]> | OptOf<A[number]>>;
  /** Any operator, by name: `op.call('GroupQueryAttention', [q, k, v], { domain: 'com.microsoft' })`. */
  call<const I extends readonly PatternInput[], const As extends string = never>(
    opType: string,
    inputs: I,
    options?: NodeOptions<As>,
  ): OutputPattern<ReqOf<I[number]> | As, OptOf<I[number]>, FirstOf<I>>;
}

/** The `op` object of a rule's `pattern` function. */
export type PatternOps = PatternHelpers & { readonly [K in OpName]: PatternOpFn };

const COMMUTATIVE = new Set(['Add', 'Mul', 'Max', 'Min', 'Equal', 'And', 'Or', 'Xor', 'BitwiseAnd', 'BitwiseOr', 'BitwiseXor']);

export function normalizeDomain(domain: string | undefined): string {
  return !domain || domain === 'ai.onnx' ? '' : domain;
}

/** The key rules anchor on: `domain::opType`, with '' for ONNX. */
export function opKey(opType: string, domain: string | undefined): string {
  return `${normalizeDomain(domain)}::${opType}`;
}

function toExpr(input: PatternInput, where: string): PatternExpr {
  if (input === null) return new AbsentPattern();
  if (typeof input === 'number') return new ConstPattern([input], true, DEFAULT_TOLERANCE);
  if (input instanceof ValuePattern) return input as PatternExpr;
  throw new TypeError(`${where}: an input must be a pattern, a number or null`);
}

const DEFAULT_TOLERANCE = 1e-6;

function isOptions(x: unknown): x is NodeOptions {
  return typeof x === 'object' && x !== null && !(x instanceof ValuePattern) && !Array.isArray(x);
}

function makeNode(opType: string, inputs: readonly PatternInput[], options: NodeOptions = {}): OutputPattern<string, string, string> {
  const domain = normalizeDomain(options.domain);
  const exprs = inputs.map((x, i) => toExpr(x, `${opType} input ${i}`));
  const commutative = options.commutative ?? (domain === '' && COMMUTATIVE.has(opType) && exprs.length === 2);
  const node = new NodePattern(
    opType,
    domain,
    exprs,
    Object.entries(options.attrs ?? {}),
    commutative,
    options.allowExternalUses ?? false,
    options.allowOtherInputs ?? false,
  );
  return new OutputPattern(node, 0, options.as);
}

const helpers: PatternHelpers = {
  var: (name, options = {}) => new VarPattern(name, options.constant ?? false),
  any: () => new AnyPattern(),
  absent: () => new AbsentPattern(),
  const: (value, options = {}) =>
    new ConstPattern(typeof value === 'number' ? [value] : [...value], typeof value === 'number', options.tolerance ?? DEFAULT_TOLERANCE),
  optional: (node) => {
    if (!(node instanceof OutputPattern) || node.node.inputs.length === 0) {
      throw new TypeError('op.optional takes an op call with at least one input (its input 0 is what remains without it)');
    }
    return new OptionalPattern(node);
  },
  oneOf: (...alternatives) => {
    if (alternatives.length === 0) throw new TypeError('op.oneOf needs at least one alternative');
    return new OneOfPattern(alternatives.map((a, i) => toExpr(a, `oneOf alternative ${i}`)));
  },
  call: (opType, inputs, options) => makeNode(opType, inputs, options) as never,
};

/** Makes the `op` object: helpers by name, and any capitalized property as an op call. */
export function createPatternOps(): PatternOps {
  return new Proxy(helpers, {
    get(target, prop) {
      if (typeof prop !== 'string') return undefined;
      if (prop in target) return target[prop as keyof PatternHelpers];
      if (!/^[A-Z]/.test(prop)) return undefined;
      return (...args: unknown[]) => {
        const last = args[args.length - 1];
        const options = isOptions(last) ? (args.pop() as NodeOptions) : undefined;
        return makeNode(prop, args as PatternInput[], options);
      };
    },
  }) as PatternOps;
}

/** Attribute constraint: equals `value`, and an absent attribute counts as `value` (pass the op's schema default). */
export function defaultsTo(value: number | string | readonly number[]): AttrPredicate {
  const p: AttrPredicate = (v) => v === undefined || attrValueEquals(v, value);
  p.description = `${formatConstraintValue(value)} (or absent, its default)`;
  return p;
}

/** Attribute constraint: any of the listed values. */
export function anyOf(...values: (number | string | readonly number[])[]): AttrPredicate {
  const p: AttrPredicate = (v) => v !== undefined && values.some((x) => attrValueEquals(v, x));
  p.description = `one of ${values.map(formatConstraintValue).join(', ')}`;
  return p;
}

/** Compares a decoded attribute value with an expected one; floats compare as float32. */
export function attrValueEquals(actual: NonNullable<AttrValue>, expected: number | string | readonly number[] | readonly string[]): boolean {
  if (typeof expected === 'number') return typeof actual === 'number' && Math.fround(actual) === Math.fround(expected);
  if (typeof expected === 'string') return actual === expected;
  if (!Array.isArray(actual) || actual.length !== expected.length) return false;
  return expected.every((e, i) => {
    const a = actual[i];
    return typeof e === 'number' ? typeof a === 'number' && Math.fround(a) === Math.fround(e) : a === e;
  });
}

export function formatConstraintValue(v: number | string | readonly number[] | readonly string[]): string {
  if (typeof v === 'string') return JSON.stringify(v);
  if (typeof v === 'number') return String(v);
  return `[${v.map((x) => (typeof x === 'string' ? JSON.stringify(x) : String(x))).join(',')}]`;
}

/**
 * Visits every pattern expression reachable from `roots` once (shared sub-patterns once), for
 * rule validation and statistics.
 */
export function walkPattern(roots: readonly PatternExpr[], visit: (p: PatternExpr) => void): void {
  const seen = new Set<PatternExpr | NodePattern>();
  const go = (p: PatternExpr): void => {
    if (seen.has(p)) return;
    seen.add(p);
    visit(p);
    switch (p.kind) {
      case 'output':
        if (seen.has(p.node)) return;
        seen.add(p.node);
        p.node.inputs.forEach(go);
        return;
      case 'optional':
        go(p.inner);
        return;
      case 'oneOf':
        p.alternatives.forEach(go);
        return;
      default:
        return;
    }
  };
  roots.forEach(go);
}

/**
 * The most pattern nodes one complete match can contain (a shared node counts once; `oneOf`
 * counts its largest alternative): the "of N" in tracer messages.
 */
export function maxPatternNodes(roots: readonly PatternExpr[]): number {
  const seen = new Set<NodePattern>();
  const count = (p: PatternExpr): number => {
    switch (p.kind) {
      case 'output': {
        if (seen.has(p.node)) return 0;
        seen.add(p.node);
        return 1 + p.node.inputs.reduce((s, x) => s + count(x), 0);
      }
      case 'optional':
        return count(p.inner);
      case 'oneOf':
        return Math.max(...p.alternatives.map(count));
      default:
        return 0;
    }
  };
  return roots.reduce((s, r) => s + count(r), 0);
}
