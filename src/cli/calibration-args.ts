import type { Argv } from 'yargs';
import type { Model } from '../ir/model.js';
import { loadCalibration, specFromPath, type CalibrationData, type CalibrationSpec } from '../runtime/calibration/index.js';
import { OnnxOptError } from '../errors.js';
import type { Thresholds } from '../verify/compare.js';

export interface CalibrationArgs {
  calib?: string;
  tokenizer?: string;
  calibSequences?: number;
  calibLength?: number;
  seed?: number;
}

/** The calibration options shared by every command that runs the model. */
export function withCalibrationOptions<T>(y: Argv<T>) {
  return y
    .option('calib', { type: 'string', describe: "calibration data: a .jsonl of token ids, a text file, a test-data folder, or 'sampled' (data-free: sampled from the model; the default)" })
    .option('tokenizer', { type: 'string', describe: 'tokenizer.json for text calibration data (byte-level models need none)' })
    .option('calib-sequences', { type: 'number', default: 8, describe: 'number of calibration sequences' })
    .option('calib-length', { type: 'number', default: 64, describe: 'tokens per calibration sequence' })
    .option('seed', { type: 'number', default: 0, describe: 'seed for sampling and random windows' });
}

export function calibrationSpec(args: CalibrationArgs): CalibrationSpec {
  if (!args.calib || args.calib === 'sampled') return { kind: 'sampled' };
  return specFromPath(args.calib, args.tokenizer);
}

export async function loadCalibrationFromArgs(model: Model, args: CalibrationArgs): Promise<CalibrationData> {
  return loadCalibration(model, calibrationSpec(args), { numSequences: args.calibSequences ?? 8, sequenceLength: args.calibLength ?? 64, seed: args.seed ?? 0 });
}

/** `max-kl=0.05,min-top1=0.9,max-abs=1e-3` → thresholds (the `--verify=...` syntax). */
export function parseThresholds(text: string | undefined): Thresholds {
  const t: Thresholds = {};
  if (!text || text === 'true') return t;
  for (const part of text.split(',')) {
    const [k, v] = part.split('=');
    const n = Number(v);
    if (v === undefined || !Number.isFinite(n)) throw new OnnxOptError('USAGE', `--verify: '${part}' is not key=number (keys: max-kl, min-top1, max-abs)`);
    if (k === 'max-kl') t.maxKl = n;
    else if (k === 'min-top1') t.minTop1 = n;
    else if (k === 'max-abs') t.maxAbs = n;
    else throw new OnnxOptError('USAGE', `--verify: unknown threshold '${k}' (keys: max-kl, min-top1, max-abs)`);
  }
  return t;
}
