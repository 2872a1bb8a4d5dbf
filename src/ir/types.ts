import { DataType, dtypeShortName } from './dtype.js';

/** A dimension: a fixed size, a symbolic name, or unknown. */
export type Dim = number | string | null;

export interface TensorType {
  readonly kind: 'tensor';
  readonly dtype: DataType;
  /** undefined: rank unknown. */
  readonly shape: readonly Dim[] | undefined;
}

/** Sequence/map/optional/sparse types are carried through untouched; passes do not look inside. */
export interface OtherType {
  readonly kind: 'other';
  readonly description: string;
  /** The TypeProto it was read from; the writer re-emits it. */
  readonly proto?: unknown;
}

export type ValueType = TensorType | OtherType;

export function tensorType(dtype: DataType, shape?: readonly Dim[]): TensorType {
  return { kind: 'tensor', dtype, shape: shape ? [...shape] : undefined };
}

export function formatShape(shape: readonly Dim[] | undefined): string {
  if (!shape) return '[?]';
  return `[${shape.map((d) => (d === null ? '?' : String(d))).join(',')}]`;
}

export function formatType(t: ValueType | undefined): string {
  if (!t) return '?';
  if (t.kind === 'other') return t.description;
  return `${dtypeShortName(t.dtype)}${formatShape(t.shape)}`;
}

export function typesEqual(a: ValueType | undefined, b: ValueType | undefined): boolean {
  if (a === b) return true;
  if (!a || !b || a.kind !== b.kind) return false;
  if (a.kind === 'other' || b.kind === 'other') return a.kind === b.kind && (a as OtherType).description === (b as OtherType).description;
  if (a.dtype !== b.dtype) return false;
  if (!a.shape || !b.shape) return a.shape === b.shape;
  return a.shape.length === b.shape.length && a.shape.every((d, i) => d === b.shape![i]);
}

/** Number of elements when every dim is a fixed number; undefined otherwise. */
export function staticSize(shape: readonly Dim[] | undefined): number | undefined {
  if (!shape) return undefined;
  let n = 1;
  for (const d of shape) {
    if (typeof d !== 'number') return undefined;
    n *= d;
  }
  return n;
}
