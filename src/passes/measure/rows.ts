import type * as ort from 'onnxruntime-node';
import { toFloat64 } from '../../runtime/tensor-data.js';

/**
 * The rows of a probed [batch, positions, width] value that belong to real tokens (mask 1), in
 * order, as one Float64Array of rows × width: padding never enters a distance or a sum.
 */
export function realTokenRows(mask: readonly (readonly number[])[], value: ort.Tensor): { rows: Float64Array; count: number } {
  const flat = mask.flat();
  const data = toFloat64(value);
  const width = data.length / flat.length;
  const count = flat.filter((m) => m).length;
  const rows = new Float64Array(count * width);
  let w = 0;
  flat.forEach((m, p) => {
    if (m) rows.set(data.subarray(p * width, (p + 1) * width), (w++) * width);
  });
  return { rows, count };
}

/** The batches' rows (from realTokenRows) as one array, in batch order. */
export function concatRows(parts: readonly Float64Array[]): Float64Array {
  const out = new Float64Array(parts.reduce((s, p) => s + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
