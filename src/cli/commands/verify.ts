import { OnnxOptError } from '../../errors.js';
import { loadModel } from '../../io/read-model.js';
import { compareModels, formatComparison, type Thresholds } from '../../verify/compare.js';
import { checkCalibrationArgs, loadCalibrationFromArgs, type CalibrationArgs } from '../calibration-args.js';
import { EXIT_CHECK_FAILED } from '../exit.js';

export interface VerifyArgs extends CalibrationArgs {
  original: string;
  optimized: string;
  maxKl?: number;
  minTop1?: number;
  maxAbs?: number;
  json?: boolean;
}

/** `onnx-opt verify <original> <optimized>`: runs both on calibration data; exit 1 when a threshold is breached. */
export async function verifyCommand(args: VerifyArgs): Promise<number> {
  checkCalibrationArgs(args);
  for (const [name, v, max] of [['max-kl', args.maxKl, Infinity], ['min-top1', args.minTop1, 1], ['max-abs', args.maxAbs, Infinity]] as const) {
    if (v !== undefined && (Number.isNaN(v) || v < 0 || v > max)) {
      throw new OnnxOptError('USAGE', `--${name} expects a number ${max === 1 ? 'between 0 and 1' : 'of at least 0'}, got '${v}'`);
    }
  }
  const a = loadModel(args.original);
  const b = loadModel(args.optimized);
  const data = await loadCalibrationFromArgs(a, args);
  const thresholds: Thresholds = { maxKl: args.maxKl, minTop1: args.minTop1, maxAbs: args.maxAbs };
  const result = await compareModels(a, b, data, { thresholds, labels: ['original', 'optimized'] });
  if (args.json) process.stdout.write(JSON.stringify(result, null, 2) + '\n');
  else process.stdout.write(formatComparison(result) + '\n');
  return result.passed ? 0 : EXIT_CHECK_FAILED;
}
