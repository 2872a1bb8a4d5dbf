import type { Dim } from '../../ir/types.js';

/**
 * Dimension algebra for shape inference. A dim is a number, a symbol (string) or unknown (null).
 * Symbols may be linear expressions over other symbols, written the way exporters spell them
 * ("past_sequence_length + sequence_length", "sequence_length - 1", "2*batch_size"): such strings
 * are parsed back, so `(a + b) - b` gives `a` and equal expressions compare equal as strings.
 * Products of two symbols are not represented (they give null).
 */

/** A linear expression: constant + sum of coefficient * atom. */
interface Linear {
  c: number;
  terms: Map<string, number>;
}

/** A string that reads as an expression rather than one opaque symbol. */
const EXPR_HINT = /\s[+-]\s|^-|^\d+\*/;

function parse(d: number | string): Linear {
  if (typeof d === 'number') return { c: d, terms: new Map() };
  if (!EXPR_HINT.test(d)) return { c: 0, terms: new Map([[d, 1]]) };
  const out: Linear = { c: 0, terms: new Map() };
  // "a + b - 2*c" → ["a", "+ b", "- 2*c"]
  const parts = d.trim().split(/\s+(?=[+-]\s)/);
  for (let i = 0; i < parts.length; i++) {
    let p = parts[i]!.trim();
    let sign = 1;
    if (p.startsWith('+ ')) p = p.slice(2).trim();
    else if (p.startsWith('- ')) {
      sign = -1;
      p = p.slice(2).trim();
    } else if (i === 0 && p.startsWith('-') && p.length > 1) {
      sign = -1;
      p = p.slice(1);
    }
    if (/^\d+$/.test(p)) {
      out.c += sign * Number(p);
      continue;
    }
    const m = /^(\d+)\*(.+)$/.exec(p);
    const coef = m ? Number(m[1]) : 1;
    const atom = m ? m[2]! : p;
    out.terms.set(atom, (out.terms.get(atom) ?? 0) + sign * coef);
  }
  return out;
}

function format(l: Linear): Dim {
  const atoms = [...l.terms.entries()].filter(([, k]) => k !== 0).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  if (atoms.length === 0) return l.c;
  if (atoms.length === 1 && atoms[0]![1] === 1 && l.c === 0) return atoms[0]![0];
  let s = '';
  atoms.forEach(([atom, k], i) => {
    const mag = Math.abs(k) === 1 ? atom : `${Math.abs(k)}*${atom}`;
    if (i === 0) s = k < 0 ? `-${mag}` : mag;
    else s += k < 0 ? ` - ${mag}` : ` + ${mag}`;
  });
  if (l.c > 0) s += ` + ${l.c}`;
  else if (l.c < 0) s += ` - ${-l.c}`;
  return s;
}

function combine(a: Linear, b: Linear, sign: 1 | -1): Linear {
  const terms = new Map(a.terms);
  for (const [atom, k] of b.terms) terms.set(atom, (terms.get(atom) ?? 0) + sign * k);
  return { c: a.c + sign * b.c, terms };
}

function isConstant(l: Linear): boolean {
  for (const k of l.terms.values()) if (k !== 0) return false;
  return true;
}

export function dimAdd(a: Dim, b: Dim): Dim {
  if (a === null || b === null) return null;
  if (typeof a === 'number' && typeof b === 'number') return a + b;
  return format(combine(parse(a), parse(b), 1));
}

export function dimSub(a: Dim, b: Dim): Dim {
  if (a === null || b === null) return null;
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  if (a === b) return 0;
  return format(combine(parse(a), parse(b), -1));
}

export function dimNeg(a: Dim): Dim {
  return dimSub(0, a);
}

/** a * b; null when both are symbolic or a symbol would get a fractional coefficient. */
export function dimMul(a: Dim, b: Dim): Dim {
  if (a === null || b === null) return null;
  if (typeof a === 'number' && typeof b === 'number') return a * b;
  if (a === 0 || b === 0) return 0;
  const la = parse(a);
  const lb = parse(b);
  const [sym, k] = isConstant(la) ? [lb, la.c] : isConstant(lb) ? [la, lb.c] : [undefined, 0];
  if (!sym || !Number.isInteger(k)) return null;
  const terms = new Map<string, number>();
  for (const [atom, c] of sym.terms) terms.set(atom, c * k);
  return format({ c: sym.c * k, terms });
}

/** a / b when the quotient is exact (a whole number, or a symbol with whole coefficients); else null. */
export function dimDivExact(a: Dim, b: Dim): Dim {
  if (a === null || b === null) return null;
  if (a === b && b !== 0) return 1;
  if (typeof b !== 'number' || b === 0) return null;
  if (typeof a === 'number') return Number.isInteger(a / b) ? a / b : null;
  const l = parse(a);
  if (!Number.isInteger(l.c / b)) return null;
  const terms = new Map<string, number>();
  for (const [atom, k] of l.terms) {
    if (!Number.isInteger(k / b)) return null;
    terms.set(atom, k / b);
  }
  return format({ c: l.c / b, terms });
}

/** Numpy-style broadcast of two dims: equal stays, 1 gives the other, different symbols give null. */
export function broadcastDim(a: Dim, b: Dim): Dim {
  if (a === b) return a;
  if (a === 1) return b;
  if (b === 1) return a;
  if (a === null) return typeof b === 'number' ? b : null;
  if (b === null) return typeof a === 'number' ? a : null;
  if (typeof a === 'number' && typeof b === 'number') return null; // incompatible
  // A symbol against a fixed size other than 1: the symbol must be 1 or that size.
  if (typeof a === 'number') return a;
  if (typeof b === 'number') return b;
  return null;
}

/** Broadcasts shapes (right-aligned); undefined when any rank is unknown. */
export function broadcastShapes(shapes: readonly (readonly Dim[] | undefined)[]): Dim[] | undefined {
  if (shapes.length === 0 || shapes.some((s) => !s)) return undefined;
  const rank = Math.max(...shapes.map((s) => s!.length));
  const out: Dim[] = new Array<Dim>(rank).fill(1);
  for (const s of shapes as (readonly Dim[])[]) {
    const off = rank - s.length;
    for (let i = 0; i < s.length; i++) out[off + i] = broadcastDim(out[off + i]!, s[i]!);
  }
  return out;
}

/** Two dims that must be equal at run time: the more informative one (a number over a symbol over null). */
export function mergeDim(a: Dim, b: Dim): Dim {
  if (a === null) return b;
  if (b === null) return a;
  if (typeof a === 'string' && typeof b === 'number') return b;
  return a;
}

/** Product of dims; null as soon as it cannot be expressed. */
export function dimProduct(dims: readonly Dim[]): Dim {
  let p: Dim = 1;
  for (const d of dims) p = dimMul(p, d);
  return p;
}

/**
 * The dim that `-1` stands for in a Reshape: product(input) / product(others), cancelling equal
 * symbols on both sides (so [B, S, 96] → [B, S, -1, 24] gives 4 without knowing B or S).
 */
export function solveReshapeUnknown(input: readonly Dim[], others: readonly Dim[]): Dim {
  if (input.some((d) => d === null) || others.some((d) => d === null)) return null;
  const syms = new Map<string, number>();
  let num = 1;
  let den = 1;
  for (const d of input) {
    if (typeof d === 'number') num *= d;
    else syms.set(d as string, (syms.get(d as string) ?? 0) + 1);
  }
  for (const d of others) {
    if (typeof d === 'number') den *= d;
    else syms.set(d as string, (syms.get(d as string) ?? 0) - 1);
  }
  const left = [...syms.entries()].filter(([, k]) => k !== 0);
  if (den === 0) return null;
  if (left.length === 0) return Number.isInteger(num / den) ? num / den : null;
  if (left.length === 1 && left[0]![1] === 1 && Number.isInteger(num / den)) return dimMul(left[0]![0], num / den);
  return null;
}

/** Evaluates a dim under concrete symbol values; undefined if a symbol is missing or the dim is unknown. */
export function evaluateDim(d: Dim, env: Readonly<Record<string, number>>): number | undefined {
  if (d === null) return undefined;
  if (typeof d === 'number') return d;
  if (d in env) return env[d];
  const l = parse(d);
  let v = l.c;
  for (const [atom, k] of l.terms) {
    const x = env[atom];
    if (x === undefined) return undefined;
    v += k * x;
  }
  return v;
}

/** Atom symbols a dim mentions ("a + b" mentions a and b). */
export function dimSymbols(d: Dim): string[] {
  if (typeof d !== 'string') return [];
  return [...parse(d).terms.keys()];
}

/** Large sentinels exporters use for "to the end" in Slice (INT64_MAX, INT32_MAX, ...). */
export function isHugeIndex(n: number): boolean {
  return Math.abs(n) >= 2 ** 31 - 1;
}
