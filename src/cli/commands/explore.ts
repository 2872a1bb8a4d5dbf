import { OnnxOptError } from '../../errors.js';
import { loadModel } from '../../io/read-model.js';
import { formatBytes, formatCount } from '../../ir/summary.js';
import type { CalibrationData } from '../../runtime/calibration/index.js';
import { bestUnder, explore, type ExploreConfig } from '../../report/explore.js';
import { costLine } from '../../report/explore-html.js';
import { writeExploreReport, type ExploreDocument } from '../../report/explore-write.js';
import { checkCalibrationArgs, loadCalibrationFromArgs, type CalibrationArgs } from '../calibration-args.js';

export interface ExploreArgs extends CalibrationArgs {
  model: string;
  /** Held-out data; without it the calibration sequences are split in halves (scoring, held-out). */
  heldout?: string;
  maxKl?: number;
  maxRemoved?: number;
  fuseThreshold?: number;
  context?: number;
  json?: boolean;
  report?: string;
  quiet?: boolean;
}

/** `onnx-opt explore <model>`: the sweep, its Pareto frontier, and the pipeline to paste. */
export async function exploreCommand(args: ExploreArgs): Promise<number> {
  checkCalibrationArgs(args);
  if (args.heldout) checkCalibrationArgs({ calib: args.heldout });
  if (args.maxKl !== undefined && !(args.maxKl >= 0)) throw new OnnxOptError('USAGE', `--max-kl expects a number of at least 0, got '${args.maxKl}'`);
  for (const [name, v, min] of [['max-removed', args.maxRemoved, 0], ['context', args.context, 1]] as const) {
    if (v !== undefined && !(Number.isSafeInteger(v) && v >= min)) throw new OnnxOptError('USAGE', `--${name} expects an integer of at least ${min}, got '${v}'`);
  }
  if (args.fuseThreshold !== undefined && !(args.fuseThreshold >= 0)) throw new OnnxOptError('USAGE', `--fuse-threshold expects a number of at least 0, got '${args.fuseThreshold}'`);
  if (args.report && !/\.(html?|json)$/i.test(args.report)) throw new OnnxOptError('USAGE', 'the report path must end in .html or .json', { file: args.report });

  const model = loadModel(args.model);
  const calib = await loadCalibrationFromArgs(model, args);
  let scoring: CalibrationData | { sequences: number[][]; source: { description: string } } = calib;
  let heldout: typeof scoring;
  if (args.heldout) {
    // The same loader as `verify --calib`, so verify re-runs on exactly these sequences.
    heldout = await loadCalibrationFromArgs(model, { ...args, calib: args.heldout });
  } else {
    // Scores must not be judged on the tokens they were computed from: split them.
    const n = calib.sequences.length;
    if (n < 2) throw new OnnxOptError('USAGE', 'explore needs at least 2 calibration sequences to split into scoring and held-out halves (or give --heldout)');
    const half = Math.ceil(n / 2);
    scoring = { sequences: calib.sequences.slice(0, half), source: { description: `${calib.source.description}, sequences 1–${half}` } };
    heldout = { sequences: calib.sequences.slice(half), source: { description: `${calib.source.description}, sequences ${half + 1}–${n} (held out)` } };
  }
  const progress = !args.quiet && !args.json && process.stderr.isTTY;
  const result = await explore(model, {
    scoring: scoring.sequences,
    heldout: heldout.sequences,
    maxRemoved: args.maxRemoved,
    fuseThreshold: args.fuseThreshold,
    context: args.context,
    calibration: args.calibration,
    onConfig: progress ? (d, t) => process.stderr.write(`\rexplore: ${d}/${t} configurations evaluated`) : undefined,
  });
  if (progress) process.stderr.write('\n');
  const recommended = args.maxKl !== undefined ? bestUnder(result.configs, args.maxKl) : undefined;
  const doc: ExploreDocument = {
    schema: 'onnx-opt.explore',
    version: 1,
    createdAt: new Date().toISOString(),
    model: args.model,
    scoringSource: scoring.source.description,
    heldoutSource: heldout.source.description,
    ...(args.maxKl !== undefined ? { maxKl: args.maxKl } : {}),
    ...(recommended ? { recommended } : {}),
    ...result,
  };
  if (args.report) writeExploreReport(args.report, doc);
  if (args.json) {
    process.stdout.write(JSON.stringify(doc, null, 2) + '\n');
    return 0;
  }
  const out: string[] = [];
  out.push(`scored on ${doc.scoringSource}`, `evaluated on ${doc.heldoutSource}`, '');
  out.push(`Pareto frontier (${result.configs.filter((c) => c.frontier).length} of ${result.configs.length} configurations; decode speed-up predicted at context ${result.context}):`);
  out.push(formatTable(result.configs.filter((c) => c.frontier).sort((a, b) => a.speedup - b.speedup)));
  out.push('');
  if (args.maxKl !== undefined) {
    out.push(recommended ? `best within max-kl ${args.maxKl}: KL ${recommended.kl.toPrecision(3)}, top-1 ${(recommended.top1 * 100).toFixed(1)}%, predicted decode ${recommended.speedup.toFixed(3)}×` : `no configuration within max-kl ${args.maxKl}`);
    if (recommended) out.push(recommended.pipeline ? `--passes='${recommended.pipeline}'` : '(none: only the original model is within the budget)');
    out.push('');
  }
  out.push(`cost: ${costLine(result)}`);
  if (args.report) out.push(`report: ${args.report}`);
  process.stdout.write(out.join('\n') + '\n');
  return 0;
}

function formatTable(configs: readonly ExploreConfig[]): string {
  const header = ['pipeline', 'KL', 'top-1', 'decode ×', 'prefill ×', 'parameters', 'KV/token', 'depth'];
  const rows = configs.map((c) => [c.pipeline || '(original)', c.kl === 0 ? '0' : c.kl.toPrecision(3), `${(c.top1 * 100).toFixed(1)}%`, c.speedup.toFixed(3), c.prefillSpeedup.toFixed(3), formatCount(c.parameters), formatBytes(c.kvBytesPerToken), String(c.depth)]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ').trimEnd();
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}
