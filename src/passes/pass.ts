import type { Model } from '../ir/model.js';
import { AnalysisManager } from './analyses.js';
import type { CalibrationMode } from '../runtime/blocks/trials.js';
import type { CalibrationData } from '../runtime/calibration/types.js';
import type { ProgressReporter } from './progress.js';

/** The type of one pass option, as `--list-passes` shows it and the pipeline parser checks it. */
export type OptionType = 'int' | 'float' | 'bool' | 'string' | 'int-list' | 'int-list-list' | 'enum';

export interface OptionSpec {
  type: OptionType;
  description: string;
  default?: unknown;
  /** For `enum`. */
  values?: readonly string[];
  /** Smallest and largest allowed value of an `int`/`float`, or of each item of an int list; the parser enforces them. */
  min?: number;
  max?: number;
}

export type OptionSpecs = Record<string, OptionSpec>;

/** Maps option specs to their TypeScript values (kebab-case names stay as keys). */
export type OptionValues<S extends OptionSpecs> = {
  [K in keyof S]: S[K]['type'] extends 'int' | 'float'
    ? number
    : S[K]['type'] extends 'bool'
      ? boolean
      : S[K]['type'] extends 'int-list'
        ? number[]
        : S[K]['type'] extends 'int-list-list'
          ? number[][]
          : string;
};

export interface PassResult {
  modified: boolean;
  /** Counters and facts for `--stats` and the report: "nodes removed": 12. */
  stats?: Record<string, number | string>;
}

/** Shared services a pass can use; the pass manager provides them. */
export interface PassContext {
  /** A human message ("layer 7 attention removed (score 0.012)"); shown unless --quiet. */
  log(message: string): void;
  /** Structured data for the report (scores, matrices), keyed by pass name. */
  report: Record<string, unknown>;
  /** Services for passes that need to run the model (calibration); set by the CLI/API caller. */
  services: PassServices;
  /**
   * Cached analyses of the model (its layer map), invalidated by the pass manager after a pass that
   * modifies the model. Optional so a hand-built context works: read it with `analysesOf(ctx)`.
   */
  analyses?: AnalysisManager;
}

/** A context with defaults for what is not given (no log, an empty report and services, a fresh analysis cache). */
export function createPassContext(given: Partial<PassContext> = {}): PassContext {
  return { log: given.log ?? (() => {}), report: given.report ?? {}, services: given.services ?? {}, analyses: given.analyses ?? new AnalysisManager() };
}

/**
 * What the caller (CLI or API) lends the passes that measure. Every field is optional: a pass that
 * needs calibration and finds none samples data from the model itself and says so.
 */
export interface PassServices {
  /** Progress bars for long work; silent when absent. */
  progress?: ProgressReporter;
  /** Calibration sequences, once loaded (a pass that loads them stores them here for the next). */
  calibration?: CalibrationData;
  /** Loads calibration data on first use (the CLI's --calib), so passes that need none never read it. */
  loadCalibration?: (model: Model) => Promise<CalibrationData>;
  /** Held-out sequences for checks that must not reuse the calibration data (healing). */
  heldout?: CalibrationData;
  loadHeldout?: (model: Model) => Promise<CalibrationData>;
  /** How calibration runs the model: one slice at a time (default) or whole. */
  calibrationMode?: CalibrationMode;
  /** ORT intra-op threads for calibration sessions. */
  threads?: number;
  /** Precomputed scores (the parsed --scores file), read by attn-prune and ffn-fuse. */
  scores?: unknown;
  /** The model as the pipeline received it, for passes that compare against it (set by runSteps when a pass asks). */
  input?: Model;
}

/** A configured pass, ready to run: a plain object, the same shape for built-in and third-party passes. */
export interface Pass {
  readonly name: string;
  readonly summary: string;
  readonly options: OptionSpecs;
  /** The option values this instance was made with (for printing the pipeline back). */
  readonly config?: Record<string, unknown>;
  /** The pass reads `ctx.services.input`, the model before the pipeline: runSteps keeps a lazy clone. */
  readonly needsInputModel?: boolean;
  /**
   * Analyses (by name, e.g. `layer-map`) still true after this pass modified the model, or `all`;
   * the pass manager drops every other cached analysis of the model (default: none preserved).
   */
  readonly preserves?: readonly string[] | 'all';
  run(model: Model, ctx: PassContext): PassResult | Promise<PassResult>;
}

/** What the registry holds: how to make a pass from options. */
export interface PassDefinition<S extends OptionSpecs = OptionSpecs> {
  readonly name: string;
  readonly summary: string;
  readonly options: S;
  create(options?: Partial<OptionValues<S>>): Pass;
}

/**
 * Declares a pass: name, summary, typed options with defaults, and `run`. Returns a factory, so
 * `dce()` or `attnPrune({ count: 4 })` make pass objects, and the registry can make them from text.
 */
export function definePass<S extends OptionSpecs>(def: {
  name: string;
  summary: string;
  options?: S;
  /** The pass reads `ctx.services.input` (the pipeline's input model). */
  needsInputModel?: boolean;
  /** Analyses this pass keeps true when it modifies the model (see {@link Pass.preserves}). */
  preserves?: readonly string[] | 'all';
  run(model: Model, ctx: PassContext, options: OptionValues<S>): PassResult | Promise<PassResult>;
}): PassDefinition<S> & ((options?: Partial<OptionValues<S>>) => Pass) {
  const specs = (def.options ?? {}) as S;
  const create = (given: Partial<OptionValues<S>> = {}): Pass => {
    const values: Record<string, unknown> = {};
    for (const [k, spec] of Object.entries(specs)) values[k] = k in given ? (given as Record<string, unknown>)[k] : spec.default;
    for (const k of Object.keys(given)) if (!(k in specs)) throw new Error(`pass ${def.name} has no option '${k}'`);
    return {
      name: def.name,
      summary: def.summary,
      options: specs,
      config: given as Record<string, unknown>,
      ...(def.needsInputModel ? { needsInputModel: true } : {}),
      ...(def.preserves ? { preserves: def.preserves } : {}),
      run: (model, ctx) => def.run(model, ctx, values as OptionValues<S>),
    };
  };
  const factory = (o?: Partial<OptionValues<S>>) => create(o);
  // A function's own `name` is read-only, so the fields are defined rather than assigned.
  Object.defineProperties(factory, {
    name: { value: def.name },
    summary: { value: def.summary, enumerable: true },
    options: { value: specs, enumerable: true },
    create: { value: create, enumerable: true },
  });
  return factory as PassDefinition<S> & ((options?: Partial<OptionValues<S>>) => Pass);
}
