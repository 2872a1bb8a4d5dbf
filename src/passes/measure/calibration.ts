import type { Model } from '../../ir/model.js';
import { loadCalibration, type CalibrationData } from '../../runtime/calibration/index.js';
import { analysesOf } from '../analyses.js';
import type { PassContext } from '../pass.js';
import { residualBoundaries } from './boundaries.js';

/**
 * Calibration data from the caller (`services.calibration`, or `services.loadCalibration()` for
 * the CLI's --calib), else data-free sequences sampled from the model (and the log says so). The
 * data is stored in `services.calibration`, so every later pass measures on the same sequences.
 */
export async function calibrationFor(model: Model, ctx: PassContext): Promise<CalibrationData> {
  const given = ctx.services.calibration;
  if (given) return given;
  const loader = ctx.services.loadCalibration;
  if (loader) {
    const data = await loader(model);
    ctx.log(`calibration: ${data.source.description}`);
    ctx.services.calibration = data;
    return data;
  }
  ctx.log('no calibration data given: sampling sequences from the model itself (data-free)');
  const mode = ctx.services.calibrationMode;
  const boundaries = mode === 'whole' ? [] : residualBoundaries(model, 1, analysesOf(ctx).layerMap(model));
  const data = await loadCalibration(model, { kind: 'sampled' }, { numSequences: 8, sequenceLength: 64, calibration: mode, boundaries });
  ctx.services.calibration = data;
  return data;
}
