import { OnnxOptError } from '../errors.js';
import type { Model } from '../ir/model.js';
import { parseOptionValue } from './options.js';
import { cloneModel } from '../ir/clone.js';
import { AnalysisManager } from './analyses.js';
import { printIrInstrument, reproducerInstrument, timingInstrument, verifyEachInstrument, type PassInstrument, type PassStep, type PassTiming } from './instrumentation.js';
import type { Pass, PassContext, PassResult, PassServices } from './pass.js';
import { parsePipeline, pipelineError, printPipeline, type PipelineElement } from './pipeline.js';
import { defaultRegistry, type PassRegistry } from './registry.js';

/** Group element that repeats its children until none changes the model. */
export const FIXED_POINT = 'fixed-point';
const DEFAULT_MAX_STEPS = 10;

export type PipelineStep =
  | { kind: 'pass'; pass: Pass; text: string }
  | { kind: 'fixed-point'; maxSteps: number; steps: PipelineStep[]; text: string };

export type { PassInstrument, PassStep, PassTiming } from './instrumentation.js';

export interface RunOptions {
  /** Run the IR verifier after every pass; a failure names the pass that broke the IR. */
  verifyEach?: boolean;
  /** Print the IR after a pass: its name, `all`, or `changed` (only passes that modified the model). */
  printIrAfter?: string;
  /** Where IR dumps and logs go (default stderr). */
  print?: (text: string) => void;
  /** Text for the reproducer line when a pass throws, e.g. the CLI invocation without the pipeline. */
  reproducer?: (pipeline: string) => string;
  log?: (message: string) => void;
  services?: PassServices;
  report?: Record<string, unknown>;
  /** More hooks around every pass, after the built-in ones (timing, verify-each, print-ir-after, reproducer). */
  instruments?: PassInstrument[];
  /** The analysis cache to use (and keep warm across runs on the same model); default: a new one. */
  analyses?: AnalysisManager;
}

export interface PipelineRun {
  modified: boolean;
  timings: PassTiming[];
  report: Record<string, unknown>;
}

/** Resolves parsed elements against the registry, validating every option with its position. */
export function buildPipeline(text: string, registry: PassRegistry = defaultRegistry): PipelineStep[] {
  return resolve(parsePipeline(text), text, registry, new Set());
}

function resolve(elements: PipelineElement[], text: string, registry: PassRegistry, expanding: Set<string>): PipelineStep[] {
  const steps: PipelineStep[] = [];
  for (const e of elements) {
    const here = printPipeline([e]);
    if (e.name === FIXED_POINT) {
      let maxSteps = DEFAULT_MAX_STEPS;
      for (const [k, v] of e.options) {
        if (k !== 'max-steps') throw pipelineError(text, `${FIXED_POINT} has no option '${k}' (it takes max-steps)`, e.position);
        const r = parseOptionValue({ type: 'int', description: '' }, v);
        if ('error' in r || (r.value as number) < 1) throw pipelineError(text, `${FIXED_POINT} max-steps expects a positive integer, got '${v}'`, e.position);
        maxSteps = r.value as number;
      }
      if (!e.children?.length) throw pipelineError(text, `${FIXED_POINT} needs passes to repeat, like ${FIXED_POINT}(cse,dce)`, e.position);
      steps.push({ kind: 'fixed-point', maxSteps, steps: resolve(e.children, text, registry, expanding), text: here });
      continue;
    }
    if (e.children) throw pipelineError(text, `'${e.name}' is not a group and takes no (...)`, e.position);
    const alias = registry.alias(e.name);
    if (alias) {
      if (e.options.length) throw pipelineError(text, `'${e.name}' is a pipeline alias and takes no options`, e.position);
      if (expanding.has(e.name)) throw pipelineError(text, `alias '${e.name}' refers to itself`, e.position);
      const inner = resolve(parsePipeline(alias.pipeline), alias.pipeline, registry, new Set([...expanding, e.name]));
      steps.push(...inner.map((s) => ({ ...s, text: s.text })));
      continue;
    }
    const def = registry.get(e.name);
    if (!def) {
      const known = [...registry.list().map((d) => d.name), ...registry.listAliases().map(([n]) => n)];
      const near = known.find((k) => k.startsWith(e.name.slice(0, 3)));
      throw pipelineError(text, `unknown pass '${e.name}'${near ? ` (did you mean '${near}'?)` : ''}; see --list-passes`, e.position);
    }
    const given: Record<string, unknown> = {};
    for (const [k, v] of e.options) {
      const spec = def.options[k];
      if (!spec) throw pipelineError(text, `pass '${e.name}' has no option '${k}' (options: ${Object.keys(def.options).join(', ') || 'none'})`, e.position);
      const r = parseOptionValue(spec, v);
      if ('error' in r) throw pipelineError(text, `option '${k}' of '${e.name}' ${r.error}`, e.position);
      given[k] = r.value;
    }
    steps.push({ kind: 'pass', pass: def.create(given as Parameters<typeof def.create>[0]), text: here });
  }
  return steps;
}

/**
 * Refuses a `printIrAfter` that would print nothing: not `all`, not `changed`, and not the name of
 * a pass in the pipeline (an unknown or misspelled name used to be silently ignored).
 */
export function checkPrintIrAfter(steps: PipelineStep[], name: string): void {
  if (name === 'all' || name === 'changed') return;
  const names = new Set<string>();
  const collect = (list: PipelineStep[]) => list.forEach((s) => (s.kind === 'pass' ? names.add(s.pass.name) : collect(s.steps)));
  collect(steps);
  if (!names.has(name)) {
    throw new OnnxOptError('USAGE', `--print-ir-after: '${name}' is not a pass of this pipeline (passes: ${[...names].join(', ') || 'none'}; or all, changed)`);
  }
}

/**
 * Runs a pipeline with MLIR-style instrumentation: hooks before and after every pass (timing and
 * statistics, verification, IR printing; see instrumentation.ts) and a one-line reproducer when a
 * pass throws. After a pass that modified the model, its cached analyses are dropped, except those
 * the pass declares it preserves.
 */
export async function runSteps(model: Model, steps: PipelineStep[], options: RunOptions = {}): Promise<PipelineRun> {
  const print = options.print ?? ((t: string) => process.stderr.write(t + '\n'));
  const timings: PassTiming[] = [];
  const report = options.report ?? {};
  const services: PassServices = options.services ?? {};
  const analyses = options.analyses ?? new AnalysisManager();
  const ctx: PassContext = { log: options.log ?? (() => {}), report, services, analyses };
  // A pass that compares against the pipeline's input (heal) gets a clone taken before any pass ran;
  // the clone shares the (immutable) tensors, so it costs graph structure, not weights.
  if (!services.input && anyPass(steps, (p) => p.needsInputModel === true)) services.input = cloneModel(model);
  const pipeline = steps.map((s) => s.text).join(',');
  if (options.printIrAfter !== undefined) checkPrintIrAfter(steps, options.printIrAfter);
  const instruments: PassInstrument[] = [
    // Timing first: its `after` runs before verification and printing, so it times the pass alone.
    timingInstrument(timings),
    ...(options.verifyEach ? [verifyEachInstrument()] : []),
    ...(options.printIrAfter ? [printIrInstrument(options.printIrAfter, print)] : []),
    ...(options.instruments ?? []),
    reproducerInstrument(options.reproducer),
  ];

  const runOne = async (step: Extract<PipelineStep, { kind: 'pass' }>): Promise<boolean> => {
    const at: PassStep = { pass: step.pass, text: step.text, model, pipeline };
    for (const i of instruments) await i.before?.(at);
    let result: PassResult;
    try {
      result = await step.pass.run(model, ctx);
    } catch (e) {
      // The pass may have left the model half-edited: nothing cached about it can be trusted.
      analyses.invalidate(model);
      let error: unknown = e;
      for (const i of instruments) if (i.onError) error = i.onError(at, error) ?? error;
      throw error;
    }
    if (result.modified) analyses.invalidate(model, step.pass.preserves);
    for (const i of instruments) await i.after?.(at, result);
    return result.modified;
  };

  const runList = async (list: PipelineStep[]): Promise<boolean> => {
    let any = false;
    for (const step of list) {
      if (step.kind === 'pass') {
        any = (await runOne(step)) || any;
        continue;
      }
      for (let i = 0; i < step.maxSteps; i++) {
        const changed = await runList(step.steps);
        any = changed || any;
        if (!changed) break;
      }
    }
    return any;
  };

  const modified = await runList(steps);
  return { modified, timings, report };
}

function anyPass(steps: PipelineStep[], test: (p: Pass) => boolean): boolean {
  return steps.some((s) => (s.kind === 'pass' ? test(s.pass) : anyPass(s.steps, test)));
}

/** Parses, validates and runs a pipeline on `model` in place. */
export async function runPipeline(model: Model, pipeline: string, options: RunOptions & { registry?: PassRegistry } = {}): Promise<PipelineRun> {
  return runSteps(model, buildPipeline(pipeline, options.registry), options);
}
