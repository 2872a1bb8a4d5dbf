import { OnnxOptError } from '../../errors.js';
import { DataType, dtypeShortName } from '../../ir/dtype.js';
import type { Dim, ValueType } from '../../ir/types.js';

/**
 * How ONNX element types appear in the generated module: the onnxruntime-node tensor type and the
 * typed array that carries the elements. float16 is Uint16Array of raw IEEE half bits (what
 * onnxruntime-node takes and gives on Node without Float16Array); bool is Uint8Array of 0/1.
 */
export interface ElementType {
  /** onnxruntime-node's name, e.g. `float32`. */
  readonly ort: string;
  /** The TypeScript type of `data`, e.g. `Float32Array`. */
  readonly array: string;
}

const ELEMENT_TYPES: Partial<Record<DataType, ElementType>> = {
  [DataType.FLOAT]: { ort: 'float32', array: 'Float32Array' },
  [DataType.FLOAT16]: { ort: 'float16', array: 'Uint16Array' },
  [DataType.DOUBLE]: { ort: 'float64', array: 'Float64Array' },
  [DataType.INT8]: { ort: 'int8', array: 'Int8Array' },
  [DataType.INT16]: { ort: 'int16', array: 'Int16Array' },
  [DataType.INT32]: { ort: 'int32', array: 'Int32Array' },
  [DataType.INT64]: { ort: 'int64', array: 'BigInt64Array' },
  [DataType.UINT8]: { ort: 'uint8', array: 'Uint8Array' },
  [DataType.UINT16]: { ort: 'uint16', array: 'Uint16Array' },
  [DataType.UINT32]: { ort: 'uint32', array: 'Uint32Array' },
  [DataType.UINT64]: { ort: 'uint64', array: 'BigUint64Array' },
  [DataType.BOOL]: { ort: 'bool', array: 'Uint8Array' },
  [DataType.STRING]: { ort: 'string', array: 'string[]' },
};

/** The generated form of an element type, or undefined when onnxruntime-node cannot carry it (bfloat16, 4-bit, float8). */
export function elementType(dtype: DataType): ElementType | undefined {
  return ELEMENT_TYPES[dtype];
}

/** One graph input or output as the generated module describes it. */
export interface TensorSpec {
  readonly name: string;
  readonly dtype: DataType;
  readonly element: ElementType;
  /** The declared shape (strings: symbolic sizes, null: unknown); undefined when the rank is unknown. */
  readonly dims: readonly Dim[] | undefined;
}

/** Reads a graph value's type; throws UNSUPPORTED for non-tensors and element types ORT's JS binding lacks. */
export function tensorSpec(name: string, type: ValueType | undefined): TensorSpec {
  if (!type) throw new OnnxOptError('UNSUPPORTED', `'${name}' declares no type; the runner needs each input's and output's element type`);
  if (type.kind !== 'tensor') throw new OnnxOptError('UNSUPPORTED', `'${name}' is a ${type.description}, not a tensor; the runner handles tensors only`);
  const element = elementType(type.dtype);
  if (!element) throw new OnnxOptError('UNSUPPORTED', `'${name}': onnxruntime-node has no ${dtypeShortName(type.dtype)} tensors`);
  return { name, dtype: type.dtype, element, dims: type.shape };
}

const RESERVED = new Set(
  (
    'break case catch class const continue debugger default delete do else enum export extends false finally for function if import in ' +
    'instanceof new null return super switch this throw true try typeof var void while with implements interface let package private ' +
    'protected public static yield await any boolean number string symbol unknown never object bigint undefined type'
  ).split(' '),
);

/** A valid identifier made from `s`: runs of other characters become `_`, a leading digit gets `_` before it, a reserved word `_` after. */
export function identifier(s: string): string {
  let id = s.replace(/[^A-Za-z0-9_$]+/g, '_') || '_';
  if (/^[0-9]/.test(id)) id = `_${id}`;
  if (RESERVED.has(id)) id = `${id}_`;
  return id;
}

export function isIdentifier(s: string): boolean {
  return /^[A-Za-z_$][A-Za-z0-9_$]*$/.test(s) && !RESERVED.has(s);
}

/** A single-quoted TypeScript string literal. */
export function lit(s: string): string {
  return `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'").replace(/\n/g, '\\n').replace(/\r/g, '\\r').replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029')}'`;
}

/** A property name: bare when it is an identifier, quoted otherwise (`'past_key_values.0.key'`). */
export function propName(s: string): string {
  return /^[A-Za-z_$][A-Za-z0-9_$]*$/.test(s) ? s : lit(s);
}

/** `obj.name` or `obj['past.0']`. */
export function access(obj: string, name: string): string {
  return /^[A-Za-z_$][A-Za-z0-9_$]*$/.test(name) ? `${obj}.${name}` : `${obj}[${lit(name)}]`;
}

/** The shape as documented: `[batch_size, 2, past_sequence_length, 24]` (`?` unknown), or `[?]` for unknown rank. */
export function shapeDoc(dims: readonly Dim[] | undefined): string {
  if (!dims) return 'rank unknown';
  return `[${dims.map((d) => (d === null ? '?' : String(d))).join(', ')}]`;
}

/**
 * The type of `dims`: a readonly tuple with one labelled element per axis. Symbolic sizes are
 * `number` labelled with their name, fixed sizes are their literal (labelled `dimN`), unknown
 * sizes are `number` (labelled `dimN`). Unknown rank: `readonly number[]`.
 *
 * `readonly [batch_size: number, sequence_length: number, dim2: 256]`
 */
export function dimsType(dims: readonly Dim[] | undefined): string {
  if (!dims) return 'readonly number[]';
  const parts = dims.map((d, i) => {
    if (typeof d === 'string') return `${identifier(d)}: number`;
    if (typeof d === 'number') return `dim${i}: ${d}`;
    return `dim${i}: number`;
  });
  return `readonly [${parts.join(', ')}]`;
}

/** `Tensor<Float32Array, readonly [batch_size: number, dim1: 256]>` */
export function tensorTypeText(spec: TensorSpec): string {
  return `Tensor<${spec.element.array}, ${dimsType(spec.dims)}>`;
}

/** The JSDoc of an input or output field: element type and declared shape. */
export function tensorDoc(spec: TensorSpec): string {
  return `\`${spec.element.ort}\` \`${shapeDoc(spec.dims)}\``;
}

/** The runtime spec literal: `{ type: 'float32', dims: ['batch_size', 2] }`. */
export function specLiteral(spec: TensorSpec): string {
  const dims = spec.dims ? `[${spec.dims.map((d) => (typeof d === 'string' ? lit(d) : d === null ? 'null' : String(d))).join(', ')}]` : undefined;
  const parts = [`type: ${lit(spec.element.ort)}`];
  if (dims) parts.push(`dims: ${dims}`);
  return `{ ${parts.join(', ')} }`;
}

/** Symbolic dimension names, in order of first appearance. */
export function symbolicDims(specs: readonly TensorSpec[]): string[] {
  const names = new Set<string>();
  for (const s of specs) for (const d of s.dims ?? []) if (typeof d === 'string') names.add(d);
  return [...names];
}
