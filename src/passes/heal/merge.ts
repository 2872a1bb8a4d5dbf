import { Tensor } from '../../ir/tensor.js';
import type { Model } from '../../ir/model.js';
import type { Node } from '../../ir/node.js';
import type { Value } from '../../ir/value.js';
import type { WeightRef } from '../analysis/layer-map.js';
import { readFloats, vectorTensor } from '../ffn-fusion/weights.js';

/** A merged correction that can still be taken back (the held-out check decides). */
export interface MergedWeight {
  /** The initializer the projection read before. */
  previous: Value;
  /** The new initializer it reads now. */
  merged: Value;
  undo(): void;
}

/**
 * Merges `delta` (m×n row-major, in the [in, out] orientation of `H·W`) into the projection's
 * weight: a new initializer `W + Δ` in W's dtype, rounded once per element, read by this
 * projection only. The old tensor is never written to (the input model may share it); a weight
 * stored [out, in] behind a Transpose gets its correction transposed, and the Transpose stays.
 */
export function mergeCorrection(model: Model, w: WeightRef & { kind: 'matmul' }, delta: Float64Array): MergedWeight {
  const g = model.graph;
  const previous = w.weight;
  const old = previous.constant!;
  const [rows, cols] = old.dims as [number, number];
  const values = readFloats(old);
  const transposed = w.transposed !== undefined;
  // Stored [in, out]: element (i, o) is values[i·cols + o]; stored [out, in]: values[o·cols + i].
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) values[r * cols + c] = values[r * cols + c]! + (transposed ? delta[c * rows + r]! : delta[r * cols + c]!);
  }
  const name = `${old.name}.healed`;
  const merged = g.addInitializer(Tensor.fromArray(name, old.dtype, old.dims, vectorTensor(name, old.dtype, values).bytes()));
  const reader: Node = w.transposed ?? w.node;
  const at = reader.inputs.indexOf(previous);
  reader.setInput(at, merged);
  // The replaced weight goes if nothing else reads it (a tied weight stays for its other readers).
  const drop = previous.uses.length === 0 && !previous.isGraphInput && !previous.isGraphOutput;
  if (drop) g.removeInitializer(previous);
  return {
    previous,
    merged,
    undo() {
      if (drop) g.setInitializer(previous, old);
      reader.setInput(at, previous);
      g.removeInitializer(merged);
    },
  };
}
