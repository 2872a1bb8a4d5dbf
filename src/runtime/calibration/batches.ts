import type * as ort from 'onnxruntime-node';
import { OnnxOptError } from '../../errors.js';
import type { Model } from '../../ir/model.js';
import { decoderSignature, sequenceFeeds, type FeedOptions } from '../decoder-inputs.js';
import { ProbeSession } from '../probes.js';
import type { SessionOptions } from '../session.js';

/**
 * Groups sequences into batches of at most `batchSize`, in order. With `equalLength` (models
 * without an attention_mask cannot pad), a batch also ends where the sequence length changes.
 */
export function* tokenBatches(sequences: readonly (readonly number[])[], batchSize: number, options: { equalLength?: boolean } = {}): Generator<number[][]> {
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new OnnxOptError('USAGE', `batchSize must be a positive integer, got ${batchSize}`);
  let cur: number[][] = [];
  for (const s of sequences as readonly number[][]) {
    if (cur.length === batchSize || (options.equalLength && cur.length > 0 && cur[0]!.length !== s.length)) {
      yield cur;
      cur = [];
    }
    cur.push(s);
  }
  if (cur.length) yield cur;
}

export interface CalibrationRunOptions extends SessionOptions, FeedOptions {
  /** Sequences per run (default 8). Batches run one after another, so memory stays bounded. */
  batchSize?: number;
  /** Intermediate values to return besides the model's outputs. */
  probes?: readonly string[];
}

/** One calibration batch's results, handed to the callback and then dropped. */
export interface CalibrationBatch {
  /** 0-based batch number. */
  index: number;
  /** Index of the batch's first sequence in the input list. */
  offset: number;
  /** The batch's token rows as fed (left-padded when lengths differ). */
  ids: number[][];
  /** 1 for real tokens, 0 for padding, aligned with `ids`. */
  mask: number[][];
  /** Model outputs and probes by name. */
  outputs: Record<string, ort.Tensor>;
}

/**
 * Runs a decoder over calibration sequences in batches of `batchSize`, one session for all, and
 * calls `onBatch` with each batch's outputs (and probes) before the next batch runs.
 */
export async function runCalibration(
  model: Model,
  sequences: readonly (readonly number[])[],
  options: CalibrationRunOptions,
  onBatch: (batch: CalibrationBatch) => void | Promise<void>,
): Promise<{ batches: number; sequences: number }> {
  const sig = decoderSignature(model);
  const session = await ProbeSession.create(model, options.probes ?? [], options);
  let index = 0;
  let offset = 0;
  try {
    for (const batch of tokenBatches(sequences, options.batchSize ?? 8, { equalLength: !sig.attentionMask })) {
      const { feeds, ids, mask } = sequenceFeeds(sig, batch, options);
      const outputs = await session.run(feeds);
      await onBatch({ index, offset, ids, mask, outputs });
      index++;
      offset += batch.length;
    }
  } finally {
    await session.release();
  }
  return { batches: index, sequences: offset };
}
