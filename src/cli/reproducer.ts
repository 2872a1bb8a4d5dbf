import { isAbsolute, resolve } from 'node:path';
import type { OptimizeArgs } from './commands/optimize.js';

/**
 * The command line that re-runs a failed pipeline: the input, the pipeline, and every option that
 * changes what the passes do (plugins, calibration data and how it is drawn, precomputed scores).
 * Paths are made absolute, so the line works from any directory. Output, report, target and
 * verification options are left out: they act after the passes.
 */
export function reproducerLine(args: OptimizeArgs, pipeline: string): string {
  const words = ['onnx-opt', resolve(args.input), '-o', '/tmp/repro.onnx', `--passes=${pipeline}`];
  for (const p of args.plugins ?? []) words.push('--plugin', pluginSpec(p));
  const option = (name: string, value: string | number | undefined) => {
    if (value !== undefined) words.push(`--${name}`, String(value));
  };
  option('calib', args.calib === undefined || args.calib === 'sampled' ? args.calib : resolve(args.calib));
  option('heldout', args.heldout === undefined || args.heldout === 'sampled' ? args.heldout : resolve(args.heldout));
  option('tokenizer', args.tokenizer === undefined ? undefined : resolve(args.tokenizer));
  option('calib-sequences', args.calibSequences);
  option('calib-length', args.calibLength);
  option('calib-windows', args.calibWindows);
  option('seed', args.seed);
  option('calibration', args.calibration);
  option('scores', args.scores === undefined ? undefined : resolve(args.scores));
  words.push('--debug');
  return words.map(shellQuote).join(' ');
}

/** A plugin path as loadPlugin resolves it (against the working directory); a package name as it is. */
function pluginSpec(spec: string): string {
  return spec.startsWith('.') || isAbsolute(spec) || /\.(m?js|ts)$/.test(spec) ? resolve(spec) : spec;
}

/** POSIX shell quoting: plain words stay as they are, anything else is single-quoted. */
function shellQuote(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}
