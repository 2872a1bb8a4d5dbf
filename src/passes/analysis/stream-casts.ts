import type { DataType } from '../../ir/dtype.js';
import type { Node } from '../../ir/node.js';
import type { Value } from '../../ir/value.js';

/**
 * No-op Casts on the residual stream. torch.onnx exports of HF RMSNorm in float32 (optimum's, for
 * one) emit `Cast(x, to=float)` for `x.to(torch.float32)` and let the residual add read the Cast's
 * output: the stream then passes through a Cast that changes nothing. LayerMap treats such Casts
 * as transparent, so layer boundaries and FFN runs are found the same as without them.
 */

/** Element types flow through these ops from their first (data) input. */
const SAME_AS_FIRST = new Set(['Add', 'Sub', 'Mul', 'Div', 'MatMul', 'Gemm', 'Neg', 'Relu', 'Sigmoid', 'Tanh', 'Softmax', 'Reshape', 'Transpose', 'Squeeze', 'Unsqueeze', 'Identity', 'Pow', 'Sqrt', 'Concat', 'Slice', 'Expand', 'Where']);

/** The element type of `v` when it can be told from its type, its producer, or the data it comes from. */
export function elementTypeOf(v: Value, depth = 0): DataType | undefined {
  if (v.type?.kind === 'tensor') return v.type.dtype;
  const t = v.initializer;
  if (t) return t.dtype;
  const p = v.producer;
  if (!p || depth > 24) return undefined;
  if (p.opType === 'Cast' && p.domain === '') return p.attrInt('to') as DataType | undefined;
  if (p.opType === 'Gather' && p.inputs[0]) return elementTypeOf(p.inputs[0], depth + 1);
  if (p.domain === '' && SAME_AS_FIRST.has(p.opType)) {
    const first = p.opType === 'Where' ? p.inputs[1] : p.inputs[0];
    const direct = first && elementTypeOf(first, depth + 1);
    if (direct !== undefined || p.opType === 'Where') return direct;
    // Binary ops share one type: the other operand may be the one that tells.
    const other = p.inputs[1];
    return other ? elementTypeOf(other, depth + 1) : undefined;
  }
  return undefined;
}

/** A default-domain Cast to the type its input already has. */
export function isNoOpCast(n: Node | undefined): boolean {
  if (!n || n.opType !== 'Cast' || n.domain !== '' || !n.inputs[0]) return false;
  const from = elementTypeOf(n.inputs[0]);
  return from !== undefined && from === n.attrInt('to');
}

/**
 * A Reshape of the stream keeps every element in order: OPT flattens tokens (`reshape(-1, d)`)
 * around its FFN, and the residual adds are the same elementwise sums either way.
 */
function isStreamView(n: Node | undefined): boolean {
  return isNoOpCast(n) || (n?.opType === 'Reshape' && n.domain === '' && n.inputs[0] !== undefined);
}

/** `v` with the no-op Casts and Reshapes it was produced by peeled off. */
export function throughNoOpCasts(v: Value): Value {
  let at = v;
  for (let hops = 0; hops < 8 && isStreamView(at.producer); hops++) at = at.producer!.inputs[0]!;
  return at;
}

/** Whether two values carry the same stream, up to no-op Casts and Reshapes between them. */
export function sameStream(a: Value, b: Value): boolean {
  return a === b || throughNoOpCasts(a) === throughNoOpCasts(b);
}
