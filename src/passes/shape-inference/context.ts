import { DataType } from '../../ir/dtype.js';
import type { Graph } from '../../ir/graph.js';
import type { Node } from '../../ir/node.js';
import type { Tensor } from '../../ir/tensor.js';
import type { Dim, TensorType } from '../../ir/types.js';
import type { Value } from '../../ir/value.js';

/**
 * The known contents of a small tensor (shape arithmetic: Shape → Gather → Concat ...). Elements are
 * dims: numbers (also non-integral ones, for float tensors), symbols, or null for unknown elements.
 * Booleans are 1/0.
 */
export interface SymTensor {
  readonly shape: readonly number[];
  readonly data: readonly Dim[];
}

/** Tensors with more elements than this are never tracked element by element. */
export const MAX_TRACKED = 1024;

/** What a rule says about one output; dtype undefined means "unknown element type". */
export interface OutputInfo {
  dtype?: DataType;
  /** undefined: rank unknown. */
  shape?: readonly Dim[];
}

/** What rules can ask about their inputs, and how they publish known tensor contents. */
export interface InferContext {
  /** Opset version imported for a domain ('' and 'ai.onnx' are the same); a default when none. */
  opset(domain?: string): number;
  type(v: Value | undefined): TensorType | undefined;
  shape(v: Value | undefined): readonly Dim[] | undefined;
  dtype(v: Value | undefined): DataType | undefined;
  /** Known contents (initializers, Constants, shape arithmetic), if small. */
  value(v: Value | undefined): SymTensor | undefined;
  setValue(v: Value | undefined, s: SymTensor | undefined): void;
  /** Runs inference over a subgraph's nodes (If/Loop/Scan bodies); once per graph. */
  inferSubgraph(g: Graph): void;
  /** Merges a type into a value the rule does not produce (subgraph inputs); counts it. */
  refine(v: Value, info: OutputInfo): void;
}

/** Returns one entry per output (undefined or missing: nothing known). */
export type ShapeRule = (node: Node, ctx: InferContext) => (OutputInfo | undefined)[] | void;

/** [domains, op types, rule]: a rule table entry. */
export type RuleEntry = readonly [readonly string[], readonly string[], ShapeRule];

export const ONNX = [''] as const;
export const MS = ['com.microsoft'] as const;

// ---- helpers shared by the rule files -------------------------------------------------------

export function symScalar(d: Dim): SymTensor {
  return { shape: [], data: [d] };
}

export function symVector(ds: readonly Dim[]): SymTensor {
  return { shape: [ds.length], data: [...ds] };
}

export function sizeOf(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

const UNTRACKABLE = new Set([DataType.STRING, DataType.UNDEFINED, DataType.COMPLEX64, DataType.COMPLEX128]);

/** Contents of a small constant tensor, or undefined (large, string, sub-byte, unreadable). */
export function symFromTensor(t: Tensor): SymTensor | undefined {
  if (t.size > MAX_TRACKED || UNTRACKABLE.has(t.dtype)) return undefined;
  try {
    const nums = t.toNumbers();
    if (nums.length !== t.size) return undefined;
    return { shape: [...t.dims], data: nums };
  } catch {
    return undefined;
  }
}

/** The elements as integers when every one is a known number. */
export function symInts(s: SymTensor | undefined): number[] | undefined {
  if (!s) return undefined;
  const out: number[] = [];
  for (const d of s.data) {
    if (typeof d !== 'number') return undefined;
    out.push(d);
  }
  return out;
}

/**
 * Elementwise op over tracked tensors with numpy broadcasting; undefined when an input is untracked
 * or the result would be too large.
 */
export function symElementwise(inputs: readonly (SymTensor | undefined)[], f: (...xs: Dim[]) => Dim): SymTensor | undefined {
  if (inputs.length === 0 || inputs.some((s) => !s)) return undefined;
  const ts = inputs as SymTensor[];
  const rank = Math.max(...ts.map((t) => t.shape.length));
  const shape: number[] = new Array<number>(rank).fill(1);
  for (const t of ts) {
    const off = rank - t.shape.length;
    for (let i = 0; i < t.shape.length; i++) {
      const d = t.shape[i]!;
      const o = shape[off + i]!;
      if (o === 1) shape[off + i] = d;
      else if (d !== 1 && d !== o) return undefined;
    }
  }
  const n = sizeOf(shape);
  if (n > MAX_TRACKED) return undefined;
  // Strides of each input in the output index space (0 along broadcast axes).
  const strides = ts.map((t) => {
    const st: number[] = new Array<number>(rank).fill(0);
    let acc = 1;
    for (let i = t.shape.length - 1; i >= 0; i--) {
      const axis = rank - t.shape.length + i;
      st[axis] = t.shape[i] === 1 ? 0 : acc;
      acc *= t.shape[i]!;
    }
    return st;
  });
  const data: Dim[] = [];
  const idx: number[] = new Array<number>(rank).fill(0);
  for (let k = 0; k < n; k++) {
    const args = ts.map((t, j) => {
      let off = 0;
      for (let a = 0; a < rank; a++) off += idx[a]! * strides[j]![a]!;
      return t.data[off] ?? null;
    });
    data.push(f(...args));
    for (let a = rank - 1; a >= 0; a--) {
      idx[a]!++;
      if (idx[a]! < shape[a]!) break;
      idx[a] = 0;
    }
  }
  return { shape, data };
}

/** A non-negative axis, or undefined when out of range. */
export function normAxis(axis: number, rank: number): number | undefined {
  const a = axis < 0 ? axis + rank : axis;
  return a >= 0 && a < rank ? a : undefined;
}

/** The type of input `i`, passed through (unary ops, norms). */
export function sameAs(ctx: InferContext, v: Value | undefined): OutputInfo | undefined {
  const t = ctx.type(v);
  return t ? { dtype: t.dtype, shape: t.shape } : undefined;
}

/** Axes from an attribute (older opsets) or from a constant input (newer ones); null: given but not known. */
export function axesOf(node: Node, ctx: InferContext, inputIndex: number, attrName = 'axes'): number[] | null | undefined {
  const a = node.attrInts(attrName);
  if (a) return a;
  const v = node.input(inputIndex);
  if (!v) return undefined;
  return symInts(ctx.value(v)) ?? null;
}

export const INT_TYPES = new Set([
  DataType.INT8,
  DataType.INT16,
  DataType.INT32,
  DataType.INT64,
  DataType.UINT8,
  DataType.UINT16,
  DataType.UINT32,
  DataType.UINT64,
]);
