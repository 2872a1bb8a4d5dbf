import type { Argv } from 'yargs';
import type { Model } from '../ir/model.js';
import { loadCalibration, specFromPath, type CalibrationData, type CalibrationSpec } from '../runtime/calibration/index.js';
import { OnnxOptError } from '../errors.js';
import { statInputFile } from '../io/file-checks.js';
import { sliceBoundaries } from '../passes/measure/boundaries.js';
import type { Thresholds } from '../verify/compare.js';

export interface CalibrationArgs {
  calib?: string;
  tokenizer?: string;
  calibSequences?: number;
  calibLength?: number;
  /** How windows are cut from a text file: in order from the start (default) or at random places (seeded). */
  calibWindows?: 'sequential' | 'random';
  seed?: number;
  /** How calibration runs the model: block-wise (default) or one whole-model session. */
  calibration?: 'blockwise' | 'whole';
}

/** The calibration options shared by every command that runs the model. */
export function withCalibrationOptions<T>(y: Argv<T>) {
  return y
    .option('calib', { type: 'string', describe: "calibration data: a .jsonl of token ids, a text file, a test-data folder, or 'sampled' (data-free: sampled from the model; the default)" })
    .option('tokenizer', { type: 'string', describe: 'tokenizer.json for text calibration data (byte-level models need none)' })
    .option('calib-sequences', { type: 'number', default: 8, describe: 'number of calibration sequences' })
    .option('calib-length', { type: 'number', default: 64, describe: 'tokens per calibration sequence' })
    .option('calib-windows', { type: 'string', choices: ['sequential', 'random'], default: 'sequential', describe: 'cut text calibration windows in order from the start, or at random places over the whole file (better for heal)' })
    .option('seed', { type: 'number', default: 0, describe: 'seed for sampling and random windows' })
    .option('calibration', { type: 'string', choices: ['blockwise', 'whole'], describe: "run calibration one decoder layer at a time (blockwise, the default) or as one whole-model session (whole)" });
}

/** The parsed values of withCalibrationOptions' flags, as every command takes them. */
export function calibrationArgs(a: {
  calib?: string;
  tokenizer?: string;
  'calib-sequences'?: number;
  'calib-length'?: number;
  'calib-windows'?: string;
  seed?: number;
  calibration?: string;
}): CalibrationArgs {
  return {
    calib: a.calib,
    tokenizer: a.tokenizer,
    calibSequences: a['calib-sequences'],
    calibLength: a['calib-length'],
    calibWindows: a['calib-windows'] as CalibrationArgs['calibWindows'],
    seed: a.seed,
    calibration: a.calibration as CalibrationArgs['calibration'],
  };
}

export function calibrationSpec(args: CalibrationArgs): CalibrationSpec {
  if (!args.calib || args.calib === 'sampled') return { kind: 'sampled' };
  const spec = specFromPath(args.calib, args.tokenizer);
  return spec.kind === 'text' && args.calibWindows ? { ...spec, sampling: args.calibWindows } : spec;
}

/**
 * Checks the calibration options before any work: counts are positive integers, and the data and
 * tokenizer files exist and are regular files (a folder for test data), never a device.
 */
export function checkCalibrationArgs(args: CalibrationArgs): void {
  const whole = (name: string, v: number | undefined, min: number) => {
    if (v !== undefined && !(Number.isSafeInteger(v) && v >= min)) throw new OnnxOptError('USAGE', `--${name} expects ${min > 0 ? 'a positive' : 'a non-negative'} integer, got '${v}'`);
  };
  whole('calib-sequences', args.calibSequences, 1);
  whole('calib-length', args.calibLength, 1);
  whole('seed', args.seed, 0);
  if (args.calib && args.calib !== 'sampled') statInputFile(args.calib, { allowDirectory: true });
  if (args.tokenizer) statInputFile(args.tokenizer);
}

export async function loadCalibrationFromArgs(model: Model, args: CalibrationArgs): Promise<CalibrationData> {
  const spec = calibrationSpec(args);
  // Sampling block-wise cuts the model at its decoder layers, which only the analysis can find.
  const boundaries = spec.kind === 'sampled' ? sliceBoundaries(model, args.calibration) : undefined;
  return loadCalibration(model, spec, { numSequences: args.calibSequences ?? 8, sequenceLength: args.calibLength ?? 64, seed: args.seed ?? 0, calibration: args.calibration, boundaries });
}

/** `max-kl=0.05,min-top1=0.9,max-abs=1e-3` → thresholds (the `--verify=...` syntax). */
export function parseThresholds(text: string | undefined): Thresholds {
  const t: Thresholds = {};
  if (!text || text === 'true') return t;
  for (const part of text.split(',')) {
    const [k, v] = part.split('=');
    const n = Number(v);
    if (v === undefined || v.trim() === '' || !Number.isFinite(n)) throw new OnnxOptError('USAGE', `--verify: '${part}' is not key=number (keys: max-kl, min-top1, max-abs)`);
    const range = k === 'min-top1' ? [0, 1] : [0, Infinity];
    if (n < range[0]! || n > range[1]!) throw new OnnxOptError('USAGE', `--verify: ${k} must be ${k === 'min-top1' ? 'between 0 and 1' : 'at least 0'}, got ${v}`);
    if (k === 'max-kl') t.maxKl = n;
    else if (k === 'min-top1') t.minTop1 = n;
    else if (k === 'max-abs') t.maxAbs = n;
    else throw new OnnxOptError('USAGE', `--verify: unknown threshold '${k}' (keys: max-kl, min-top1, max-abs)`);
  }
  return t;
}
