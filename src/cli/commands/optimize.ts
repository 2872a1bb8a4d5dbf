import { existsSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { readGenaiConfig, syncGenaiConfig } from '../../codegen/genai-config.js';
import { assertTarget, formatTargetProblems } from '../../codegen/targets/check.js';
import { assertOpset } from '../../codegen/targets/opset.js';
import type { Target } from '../../codegen/targets/check.js';
import { companionFiles, resolveModelPath } from '../../codegen/model-folder.js';
import { OnnxOptError } from '../../errors.js';
import { checkOutputPath, readInputFile, statInputFile } from '../../io/file-checks.js';
import { loadModel } from '../../io/read-model.js';
import { saveModelAsync, type CompanionFile, type SaveOptions } from '../../io/write-model.js';
import { verifyModel } from '../../ir/verifier.js';
import { AnalysisManager } from '../../passes/analyses.js';
import { buildPipeline, checkPrintIrAfter, runSteps } from '../../passes/pass-manager.js';
import { defaultRegistry } from '../../passes/registry.js';
import { formatBytes } from '../../ir/summary.js';
import { compareModels, formatComparison, type ComparisonResult } from '../../verify/compare.js';
import { checkCalibrationArgs, loadCalibrationFromArgs, parseThresholds, type CalibrationArgs } from '../calibration-args.js';
import { EXIT_CHECK_FAILED } from '../exit.js';
import { reproducerLine } from '../reproducer.js';
import { terminalProgress } from '../progress-bars.js';
import type { Model } from '../../ir/model.js';
import type { PassServices } from '../../passes/pass.js';
import { buildReport, modelFacts } from '../../report/build.js';
import type { OptimizationReport } from '../../report/schema.js';
import { writeReport } from '../../report/write.js';

/** Score files are JSON written by onnx-opt; nothing legitimate comes near this. */
const MAX_SCORES_BYTES = 256 << 20;

function readJson(path: string): unknown {
  const bytes = readInputFile(path, MAX_SCORES_BYTES);
  try {
    return JSON.parse(bytes.toString('utf8'));
  } catch (e) {
    throw new OnnxOptError('USAGE', `cannot read JSON: ${(e as Error).message.split('\n')[0]}`, { file: path });
  }
}

export interface OptimizeArgs extends CalibrationArgs {
  /** Execution target the output must load on: errors for cuda/tensorrt, warnings for any (default). */
  target?: Target;
  /** Held-out data (read like --calib): heal's check, and what --verify compares on. */
  heldout?: string;
  /** JSON with precomputed scores (a previous report works): drives the passes without calibration runs. */
  scores?: string;
  /** The --plugin specs the passes came from (loaded by main before parsing), for the reproducer line. */
  plugins?: string[];
  /** `--verify` or `--verify=max-kl=0.05,min-top1=0.9`: compare input and output after writing. */
  verify?: string;
  input: string;
  output: string;
  passes: string;
  stats?: boolean;
  verifyEach?: boolean;
  printIrAfter?: string;
  externalData?: SaveOptions['externalData'];
  fsync?: boolean;
  /** Start a new external data file once one reaches this many bytes. */
  shardSize?: number;
  quiet?: boolean;
  json?: boolean;
  /** `--report out.html|out.json`. */
  report?: string;
}

export interface OptimizeOutcome {
  report: OptimizationReport;
  passed: boolean;
}

/** `onnx-opt <in> -o <out> --passes=...`: load, run the pipeline, write atomically. */
export async function optimizeCommand(args: OptimizeArgs): Promise<number> {
  const outcome = await optimize(args);
  return outcome.passed ? 0 : EXIT_CHECK_FAILED;
}

/** The optimize command's work, returning the report (the demo prints its own summary of it). */
export async function optimize(args: OptimizeArgs): Promise<OptimizeOutcome> {
  // Every option and input is checked before any file is read or written, so a typo costs
  // nothing and a run that fails never leaves part of its output behind.
  const steps = buildPipeline(args.passes, defaultRegistry);
  if (args.printIrAfter !== undefined) checkPrintIrAfter(steps, args.printIrAfter);
  const thresholds = args.verify !== undefined ? parseThresholds(args.verify) : undefined;
  if (args.shardSize !== undefined && !(Number.isSafeInteger(args.shardSize) && args.shardSize > 0)) {
    throw new OnnxOptError('USAGE', `--shard-size expects a positive whole number of bytes, got '${args.shardSize}'`);
  }
  checkCalibrationArgs(args);
  if (args.heldout) checkCalibrationArgs({ calib: args.heldout });
  if (args.report && !/\.(html?|json)$/i.test(args.report)) throw new OnnxOptError('USAGE', 'the report path must end in .html or .json', { file: args.report });
  if (args.report) checkOutputPath(args.report);
  if (!existsSync(args.input)) throw new OnnxOptError('FILE_NOT_FOUND', 'no such file', { file: args.input });
  statInputFile(args.input, { allowDirectory: true });
  // A model folder (HF/optimum/genai layout) in gives a model folder out.
  const { modelPath: input, folder } = resolveModelPath(args.input);
  const output = folder ? join(args.output, basename(input)) : args.output;
  if (folder) checkOutputPath(args.output, { folder: true });
  checkOutputPath(output);
  if (args.report && resolve(args.report) === resolve(output)) throw new OnnxOptError('USAGE', 'the report path is the output model path', { file: args.report });
  const genaiSource = join(dirname(input), 'genai_config.json');
  if (existsSync(genaiSource)) readGenaiConfig(genaiSource);
  const scores = args.scores ? readJson(args.scores) : undefined;
  const log = (m: string) => {
    if (!args.quiet && !args.json) process.stderr.write(m + '\n');
  };
  const model = loadModel(input);
  // One analysis cache for the summary and the passes: the first pass reuses the summary's layer map.
  const analyses = new AnalysisManager();
  const before = modelFacts(model, analyses);
  const progress = terminalProgress({ quiet: args.quiet, json: args.json });
  const services: PassServices = {
    progress,
    // Loaded only if a pass asks: passes that need no calibration never read the file.
    loadCalibration: (m: Model) => loadCalibrationFromArgs(m, args),
    ...(args.heldout ? { loadHeldout: (m: Model) => loadCalibrationFromArgs(m, { ...args, calib: args.heldout, calibWindows: 'sequential' }) } : {}),
  };
  if (scores !== undefined) services.scores = scores;
  if (args.calibration) services.calibrationMode = args.calibration;
  const run = await runSteps(model, steps, {
    services,
    analyses,
    verifyEach: args.verifyEach,
    printIrAfter: args.printIrAfter,
    log,
    reproducer: (pipeline) => reproducerLine(args, pipeline),
  });
  // A pass (a plugin's, say) that left the IR broken must not get its result written.
  const problems = verifyModel(model, { structuralOnly: true });
  if (problems.length) {
    throw new OnnxOptError('PASS', `the pipeline produced an invalid model, so nothing was written: ${problems[0]!.message}${problems.length > 1 ? ` (and ${problems.length - 1} more)` : ''}; --verify-each names the pass`);
  }
  // genai's config names the KV cache by %d templates: keep it true to the graph (renumbering
  // the cache densely when layers lost theirs) and write it beside the output.
  const genai = syncGenaiConfig(model, input, output);
  // Check before writing: an output that cuda/tensorrt cannot run is refused, naming the nodes.
  const target = args.target ?? 'any';
  // Passes never raise the opset: a node that needs a newer one than the model imports is an error.
  assertOpset(model);
  const checked = assertTarget(model, target, { file: output });
  if (checked.problems.length && !args.quiet && !args.json) process.stderr.write(formatTargetProblems(checked, target) + '\n');
  // The config and the folder's tokenizer/config files are written in the same atomic set as the model.
  const companions: CompanionFile[] = folder ? companionFiles(model, folder, args.output) : [];
  if (genai) companions.push({ name: 'genai_config.json', bytes: new TextEncoder().encode(JSON.stringify(genai.config, null, 4) + '\n') });
  const writing = progress.start('writing', 1, 'bytes');
  let saved;
  try {
    saved = await saveModelAsync(model, output, { externalData: args.externalData, fsync: args.fsync, shardSize: args.shardSize, companions, onProgress: (d, t) => writing.update(d, t) });
  } finally {
    writing.stop();
  }
  if (genai) log(`genai_config.json: num_hidden_layers ${genai.layersBefore} → ${genai.layersAfter}${genai.renamed.length ? `, KV cache renumbered densely (${genai.renamed.length} names)` : ''}`);
  const copied = companions.filter((c) => c.name !== 'genai_config.json').map((c) => c.name);
  if (copied.length) log(`copied ${copied.join(', ')}`);
  if (args.stats && !args.json) {
    process.stderr.write('pass statistics:\n');
    for (const t of run.timings) {
      const stats = Object.entries(t.stats).map(([k, v]) => `${k}: ${v}`).join(', ');
      process.stderr.write(`  ${t.pass.padEnd(28)} ${t.ms.toFixed(1).padStart(9)} ms  ${t.modified ? 'changed' : 'unchanged'}${stats ? `  (${stats})` : ''}\n`);
    }
  }
  let verification: ComparisonResult | undefined;
  if (args.verify !== undefined) {
    // Compare the files as written: the reference is re-read, since passes edited `model` in place.
    const original = loadModel(input);
    // Held-out tokens when given: the check then measures what the calibration data did not tune.
    const data = await loadCalibrationFromArgs(original, args.heldout ? { ...args, calib: args.heldout, calibWindows: 'sequential' } : args);
    verification = await compareModels(original, loadModel(output), data, { thresholds: thresholds ?? {}, labels: ['original', 'optimized'] });
    run.report.verify = verification;
    if (!args.json && !args.quiet) process.stderr.write(formatComparison(verification) + "\n");
  }
  const calibration = services.calibration;
  const report = buildReport({
    input,
    output: saved.modelPath,
    pipeline: args.passes,
    before,
    after: modelFacts(model),
    run,
    verify: verification,
    calibration: calibration?.source.description,
  });
  if (args.report) writeReport(args.report, report);
  if (args.json) {
    process.stdout.write(JSON.stringify({ input: args.input, output: saved.modelPath, dataFiles: saved.dataFiles, pipeline: args.passes, modified: run.modified, passes: run.timings, report: run.report, summary: report }, null, 2) + '\n');
  } else {
    log(`wrote ${output} (${formatBytes(saved.bytesWritten)}${saved.dataFiles.length ? `, ${saved.dataFiles.length} data file(s)` : ''})`);
    if (args.report) log(`report: ${args.report}`);
  }
  if (verification && !verification.passed) {
    log(`verification FAILED: ${verification.breaches.map((b) => b.message).join('; ')} (the output was written)`);
  }
  return { report, passed: !verification || verification.passed };
}
