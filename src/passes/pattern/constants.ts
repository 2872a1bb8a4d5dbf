import { AttributeType } from '../../ir/attribute.js';
import type { Node } from '../../ir/node.js';
import type { Tensor } from '../../ir/tensor.js';
import type { Value } from '../../ir/value.js';

/**
 * Constants as patterns see them: an initializer that is not an overridable graph input
 * (`value.constant`), or the output of a default-domain Constant node. Exporters use both
 * spellings for the same scalar (torch.onnx emits Constant nodes, folding emits initializers).
 */

/** Elements read to compare a constant; bigger tensors are never read by the matcher. */
export const MAX_CONSTANT_ELEMENTS = 1024;

/** The Constant node producing `v`, if any. */
export function constantProducer(v: Value): Node | undefined {
  const p = v.producer;
  return p && p.opType === 'Constant' && (p.domain === '' || p.domain === 'ai.onnx') ? p : undefined;
}

/**
 * The value a constant really comes from: `v` itself, or the initializer / Constant output behind
 * a chain of Identity nodes (torch.onnx deduplicates tied weights into `Identity(w)`).
 */
export function constantSource(v: Value): Value | undefined {
  let at: Value | undefined = v;
  for (let hops = 0; at && hops < 16; hops++) {
    if (at.constant || constantProducer(at)) return at;
    const p: Node | undefined = at.producer;
    if (!p || p.opType !== 'Identity' || (p.domain !== '' && p.domain !== 'ai.onnx')) return undefined;
    at = p.inputs[0];
  }
  return undefined;
}

/** True for initializers (not graph inputs) and Constant node outputs, seen through Identity chains. */
export function isConstantValue(v: Value): boolean {
  return constantSource(v) !== undefined;
}

/** The tensor behind a constant: the initializer, or a Constant node's `value` attribute. */
export function constantTensor(v: Value): Tensor | undefined {
  const src = constantSource(v);
  if (!src) return undefined;
  if (src.constant) return src.constant;
  const a = constantProducer(src)?.attr('value');
  return a?.type === AttributeType.TENSOR ? (a.value as Tensor) : undefined;
}

/** The element count of a constant, when known without reading data. */
export function constantSize(v: Value): number | undefined {
  const t = constantTensor(v);
  if (t) return t.size;
  const p = constantProducer(constantSource(v) ?? v);
  if (!p) return undefined;
  for (const a of p.attributes) {
    if (a.type === AttributeType.FLOAT || a.type === AttributeType.INT) return 1;
    if (a.type === AttributeType.FLOATS || a.type === AttributeType.INTS) return (a.value as number[]).length;
  }
  return undefined;
}

/**
 * A constant's elements as numbers (float16/bfloat16 decoded), or undefined when `v` is not a
 * numeric constant or has more than `maxElements` elements.
 */
export function constantNumbers(v: Value, maxElements = MAX_CONSTANT_ELEMENTS): number[] | undefined {
  const t = constantTensor(v);
  if (t) {
    if (t.size > maxElements) return undefined;
    try {
      return t.toNumbers();
    } catch {
      return undefined;
    }
  }
  const p = constantProducer(constantSource(v) ?? v);
  if (!p) return undefined;
  for (const a of p.attributes) {
    if (a.type === AttributeType.FLOAT || a.type === AttributeType.INT) {
      if (a.name === 'value_float' || a.name === 'value_int') return [a.value as number];
    }
    if (a.type === AttributeType.FLOATS || a.type === AttributeType.INTS) {
      const xs = a.value as number[];
      if ((a.name === 'value_floats' || a.name === 'value_ints') && xs.length <= maxElements) return [...xs];
    }
  }
  return undefined;
}

/** The single element of a one-element numeric constant (any rank). */
export function constantScalar(v: Value): number | undefined {
  const xs = constantNumbers(v, 1);
  return xs && xs.length === 1 ? xs[0] : undefined;
}

/** Shape of a constant: the tensor dims, [] for value_float/value_int, [n] for lists. */
export function constantDims(v: Value): readonly number[] | undefined {
  const t = constantTensor(v);
  if (t) return t.dims;
  const p = constantProducer(constantSource(v) ?? v);
  if (!p) return undefined;
  for (const a of p.attributes) {
    if (a.name === 'value_float' || a.name === 'value_int') return [];
    if (a.name === 'value_floats' || a.name === 'value_ints') return [(a.value as number[]).length];
  }
  return undefined;
}
