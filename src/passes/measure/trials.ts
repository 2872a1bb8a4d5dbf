import type * as ort from 'onnxruntime-node';
import type { Model } from '../../ir/model.js';
import { runTrials as runTrialsAt, type CalibrationStats, type TrialBatch, type TrialRunOptions } from '../../runtime/blocks/trials.js';
import type { LayerMap } from '../analysis/layer-map.js';
import { sliceBoundaries } from './boundaries.js';

export type { CalibrationMode, CalibrationStats, TrialBatch, TrialRunOptions } from '../../runtime/blocks/trials.js';

export interface MeasureTrialOptions extends TrialRunOptions {
  /** Decoder layers per slice (default 1). */
  layersPerSlice?: number;
  /** The base model's layer map, when the caller has it (saves one analysis). */
  map?: LayerMap;
}

/**
 * The runtime's {@link runTrialsAt} with the slice boundaries filled in from the base model's
 * decoder layers (unless given, or the mode is `whole`): what every measuring pass calls.
 */
export function runTrials(
  trials: readonly { model: Model; wanted: readonly string[] }[],
  sequences: readonly (readonly number[])[],
  o: MeasureTrialOptions,
  onValue: (trial: number, batch: TrialBatch, name: string, value: ort.Tensor) => void | Promise<void>,
): Promise<CalibrationStats> {
  const { layersPerSlice, map, ...rest } = o;
  const boundaries = o.boundaries ?? sliceBoundaries(trials[0]!.model, o.calibration, layersPerSlice ?? 1, map);
  return runTrialsAt(trials, sequences, { ...rest, boundaries }, onValue);
}
