/**
 * The home of the passes that measure: calibration data, trial runs of model variants, logits and
 * KL. It is the passes' one door to the code that loads onnxruntime-node (the layering test holds
 * every other module under passes/ to it), so a pass that only rewrites graphs never loads it.
 */
export { residualBoundaries, sliceBoundaries } from './boundaries.js';
export { calibrationFor } from './calibration.js';
export { logitsOf, logProbRows, meanKl, sumKl, type LogitsOptions } from './logits.js';
export { concatRows, realTokenRows } from './rows.js';
export { runTrials, type CalibrationMode, type CalibrationStats, type MeasureTrialOptions, type TrialBatch, type TrialRunOptions } from './trials.js';
// Runtime pieces measuring passes use beside the trials: batching as the trials batch, probes, feeds.
export { tokenBatches } from '../../runtime/calibration/batches.js';
export { ProbeSession } from '../../runtime/probes.js';
export { sequenceFeeds } from '../../runtime/decoder-inputs.js';
export { toFloat64 } from '../../runtime/tensor-data.js';
export { decoderSignature } from '../../ir/decoder-signature.js';
