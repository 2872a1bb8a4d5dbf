import type * as ort from 'onnxruntime-node';
import type { Model } from '../../ir/model.js';
import { runCalibration, tokenBatches } from '../calibration/batches.js';
import { decoderSignature, sequenceFeeds, type FeedOptions } from '../decoder-inputs.js';
import type { SessionOptions } from '../session.js';
import { runLayerMajor } from './layer-major.js';

/**
 * How calibration runs a model: `blockwise` (default) one residual-stream slice at a time, with
 * the prefix shared by removal trials; `whole` one session per model over all of it (the old path,
 * kept to compare against and for models the slicer cannot cut).
 */
export type CalibrationMode = 'blockwise' | 'whole';

export interface TrialRunOptions extends SessionOptions, FeedOptions {
  calibration?: CalibrationMode;
  /** Sequences per run (default 8). */
  batchSize?: number;
  /**
   * Where `blockwise` cuts the model into slices: values every path from the inputs to the outputs
   * passes through, in order (the passes find them: passes/measure's runTrials fills them in).
   * Required for `blockwise`; an empty list runs the model whole.
   */
  boundaries?: readonly string[];
  /** Accumulates what the runs cost. */
  stats?: CalibrationStats;
}

export interface CalibrationStats {
  /** Compute spent, in forward passes of the base model over the calibration tokens. */
  modelEquivalents: number;
  /** ORT sessions opened. */
  sessions: number;
}

/** What a consumer learns about the batch a value belongs to. */
export interface TrialBatch {
  index: number;
  /** 1 for real tokens, 0 for padding (rows left-padded). */
  mask: number[][];
}

/**
 * Runs `trials[0]` (the base) and its variants over the calibration sequences and hands every
 * wanted value of every trial and batch to `onValue` (for each trial, batches in order; across
 * trials the order depends on the mode, so consumers must not assume the base comes first).
 */
export async function runTrials(
  trials: readonly { model: Model; wanted: readonly string[] }[],
  sequences: readonly (readonly number[])[],
  o: TrialRunOptions,
  onValue: (trial: number, batch: TrialBatch, name: string, value: ort.Tensor) => void | Promise<void>,
): Promise<CalibrationStats> {
  const stats: CalibrationStats = { modelEquivalents: 0, sessions: 0 };
  const base = trials[0]!.model;
  const sig = decoderSignature(base);
  const batchSize = o.batchSize ?? 8;
  // The runtime cannot find decoder layers; silently running whole would hide a caller's mistake.
  if (o.calibration !== 'whole' && !o.boundaries) throw new Error('runTrials: blockwise calibration needs the slice boundaries (call runTrials from passes/measure)');
  const boundaries = o.calibration === 'whole' ? [] : o.boundaries!;
  if (boundaries.length === 0) {
    for (let t = 0; t < trials.length; t++) {
      const { model, wanted } = trials[t]!;
      const outputs = new Set(model.graph.outputs.map((v) => v.name));
      await runCalibration(model, sequences, { ...o, batchSize, probes: wanted.filter((w) => !outputs.has(w)) }, async (b) => {
        for (const w of wanted) await onValue(t, { index: b.index, mask: b.mask }, w, b.outputs[w]!);
      });
      stats.modelEquivalents += 1;
      stats.sessions += 1;
    }
  } else {
    const masks: number[][][] = [];
    const batches: Record<string, ort.Tensor>[] = [];
    for (const batch of tokenBatches(sequences, batchSize, { equalLength: !sig.attentionMask })) {
      const { feeds, mask } = sequenceFeeds(sig, batch, o);
      batches.push(feeds);
      masks.push(mask);
    }
    const r = await runLayerMajor(trials, { ...o, boundaries, batches, onValue: (t, b, name, v) => onValue(t, { index: b, mask: masks[b]! }, name, v) });
    stats.modelEquivalents = r.modelEquivalents;
    stats.sessions = r.sessions;
  }
  if (o.stats) {
    o.stats.modelEquivalents += stats.modelEquivalents;
    o.stats.sessions += stats.sessions;
  }
  return stats;
}
