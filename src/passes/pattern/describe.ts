import type { Node } from '../../ir/node.js';
import type { Value } from '../../ir/value.js';
import { formatConstraintValue, type AttrConstraint, type AttrValue, type PatternExpr } from './pattern.js';

/** Plain-word descriptions of graph and pattern pieces, for tracer and check messages. */

/** `Sqrt (/m/layers.0/input_layernorm/Sqrt)`, or `Sqrt (%out)` for an unnamed node. */
export function describeNode(n: Node): string {
  return `${n.qualifiedOp} (${n.name || `%${n.outputs.find((o) => o)?.name ?? '?'}`})`;
}

/** What a value is: `output of Sqrt (…)`, `initializer %w`, `graph input %x`, or `nothing`. */
export function describeValue(v: Value | undefined): string {
  if (!v) return 'nothing (the input is absent)';
  if (v.producer) return `${v.outputIndex > 0 ? `output ${v.outputIndex}` : 'output'} of ${describeNode(v.producer)}`;
  if (v.isGraphInput) return v.initializer ? `graph input %${v.name} (an overridable initializer)` : `graph input %${v.name}`;
  if (v.initializer) return `initializer %${v.name}`;
  return `%${v.name}`;
}

/** What a pattern expects: `Sqrt`, `a constant (eps)`, `the constant 2`, `one of: Add | Sub`. */
export function describePattern(p: PatternExpr): string {
  switch (p.kind) {
    case 'var':
      return p.constant ? `a constant (${p.name})` : `any value (${p.name})`;
    case 'any':
      return 'any value';
    case 'absent':
      return 'an absent input';
    case 'const':
      return p.scalar ? `the constant ${p.values[0]}` : `the constant ${formatConstraintValue(p.values)}`;
    case 'output':
      return p.index > 0 ? `output ${p.index} of ${p.node.qualifiedOp}` : p.node.qualifiedOp;
    case 'optional':
      return `${describePattern(p.inner)} or ${describePattern(p.bypass)}`;
    case 'oneOf':
      return `one of: ${p.alternatives.map(describePattern).join(' | ')}`;
  }
}

export function describeConstraint(c: AttrConstraint): string {
  if (typeof c === 'function') return c.description ?? 'a value its predicate accepts';
  return formatConstraintValue(c);
}

export function describeAttrValue(v: AttrValue): string {
  if (v === undefined) return 'no such attribute';
  if (typeof v === 'number' || typeof v === 'string') return formatConstraintValue(v);
  if (Array.isArray(v) && v.every((x) => typeof x === 'number' || typeof x === 'string')) return formatConstraintValue(v as number[]);
  return 'a tensor or graph';
}
