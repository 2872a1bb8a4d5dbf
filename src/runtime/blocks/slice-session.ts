import { DataType } from '../../ir/dtype.js';
import { ModelSession, type SessionOptions } from '../session.js';
import { sliceModel, type Slice, type SlicePlan } from './plan.js';

/** Half-precision weights above which a slice runs without graph optimizations (see below). */
const HALF_WEIGHTS_UNOPTIMIZED = 64 * 2 ** 20;

/**
 * Opens an ORT session on one slice. ORT's CPU kernels run fp16/bf16 MatMuls through inserted
 * Casts, and constant folding then stores every such weight a second time in fp32 (3× the mmapped
 * bytes in memory); a slice with large half-precision weights therefore runs unoptimized, casting
 * per run instead, unless the caller chose a level. Results are the same: folding a Cast computes
 * what the Cast computes.
 */
export function openSlice(plan: SlicePlan, slice: Slice, outputs: readonly string[], options: SessionOptions): Promise<ModelSession> {
  const model = sliceModel(plan, slice, outputs);
  let half = 0;
  for (const v of model.graph.initializers.values()) {
    const t = v.initializer!;
    if (t.dtype === DataType.FLOAT16 || t.dtype === DataType.BFLOAT16) half += t.byteLength;
  }
  const level = options.graphOptimizationLevel ?? (half > HALF_WEIGHTS_UNOPTIMIZED ? 'disabled' : undefined);
  return ModelSession.create(model, { ...options, graphOptimizationLevel: level });
}
