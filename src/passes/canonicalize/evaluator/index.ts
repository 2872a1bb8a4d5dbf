import type { Node } from '../../../ir/node.js';
import type { Tensor } from '../../../ir/tensor.js';
import { fromTensor, toTensor, TooLarge, Unsupported, type Arr } from './array.js';
import { OPS } from './ops.js';

export type EvalResult =
  | { kind: 'ok'; outputs: Tensor[] }
  /** The result would have more elements than allowed. */
  | { kind: 'too-large'; elements: number }
  /** Not an op (or a case) this evaluator reproduces exactly; ask onnxruntime. */
  | { kind: 'unsupported'; reason: string };

/**
 * A small TypeScript evaluator for shape and index arithmetic and other ops whose results it can
 * reproduce bit for bit (integer math, float32/float64 +-*÷ and sqrt, data movement). Anything
 * else is `unsupported`, and the caller asks onnxruntime.
 */
export function evaluateNode(
  node: Node,
  inputs: readonly (Tensor | undefined)[],
  options: { opset: number; maxElements: number; outputNames?: string[] },
): EvalResult {
  if (node.domain !== '' && node.domain !== 'ai.onnx') return { kind: 'unsupported', reason: `domain ${node.domain}` };
  const impl = OPS[node.opType];
  if (!impl) return { kind: 'unsupported', reason: `no evaluator for ${node.opType}` };
  try {
    const arrs: (Arr | undefined)[] = inputs.map((t) => (t ? fromTensor(t) : undefined));
    const outs = impl(arrs, { node, opset: options.opset, limit: options.maxElements });
    return { kind: 'ok', outputs: outs.map((a, i) => toTensor(options.outputNames?.[i] ?? node.outputs[i]?.name ?? `out${i}`, a)) };
  } catch (e) {
    if (e instanceof TooLarge) return { kind: 'too-large', elements: e.elements };
    if (e instanceof Unsupported) return { kind: 'unsupported', reason: e.message };
    throw e;
  }
}

/** Ops the evaluator knows (some cases of them may still be unsupported). */
export const EVALUATED_OPS: ReadonlySet<string> = new Set(Object.keys(OPS));
