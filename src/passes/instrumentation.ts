import { OnnxOptError } from '../errors.js';
import type { Model } from '../ir/model.js';
import { printModel } from '../ir/printer.js';
import { verifyModel } from '../ir/verifier.js';
import type { Pass, PassResult } from './pass.js';

/** One pass as the pipeline runs it. */
export interface PassStep {
  pass: Pass;
  /** The pass as written in the pipeline, e.g. `attn-prune{count=4}`. */
  text: string;
  model: Model;
  /** The whole pipeline's text. */
  pipeline: string;
}

/**
 * Hooks around every pass (MLIR's PassInstrumentation): `before` and `after` run in the order the
 * instruments are given; `onError` may return the error to throw instead (the reproducer wraps it).
 * An error thrown by a hook is not a pass failure and goes to the caller as it is.
 */
export interface PassInstrument {
  before?(step: PassStep): void | Promise<void>;
  after?(step: PassStep, result: PassResult): void | Promise<void>;
  onError?(step: PassStep, error: unknown): unknown;
}

export interface PassTiming {
  pass: string;
  ms: number;
  modified: boolean;
  stats: Record<string, number | string>;
}

/** Wall time and statistics of every pass, appended to `timings`. Give it first, so it times the pass alone. */
export function timingInstrument(timings: PassTiming[]): PassInstrument {
  let t0 = 0;
  return {
    before: () => void (t0 = performance.now()),
    after: (step, result) => void timings.push({ pass: step.text, ms: performance.now() - t0, modified: result.modified, stats: result.stats ?? {} }),
  };
}

/** Runs the IR verifier after every pass; a failure names the pass that broke the IR. */
export function verifyEachInstrument(): PassInstrument {
  return {
    after(step) {
      const problems = verifyModel(step.model);
      if (problems.length) throw new OnnxOptError('PASS', `IR verification failed after '${step.text}': ${problems.map((p) => p.message).join('; ')}`);
    },
  };
}

/** Prints the IR after a pass named `which`, after `all`, or after those that `changed` it. */
export function printIrInstrument(which: string, print: (text: string) => void): PassInstrument {
  return {
    after(step, result) {
      if (which === 'all' || which === step.pass.name || (which === 'changed' && result.modified)) {
        print(`// ----- IR after ${step.text}${result.modified ? '' : ' (unchanged)'} -----\n${printModel(step.model)}`);
      }
    },
  };
}

/**
 * Turns an unexpected error in a pass into a one-line PASS error that says how to reproduce it:
 * `reproducer(pipeline)` (the CLI's whole command line), or the pipeline alone. User errors
 * (OnnxOptError) already say what is wrong and pass through.
 */
export function reproducerInstrument(reproducer?: (pipeline: string) => string): PassInstrument {
  return {
    onError(step, error) {
      if (error instanceof OnnxOptError) return error;
      const repro = reproducer ? reproducer(step.pipeline) : `pipeline: ${step.pipeline}`;
      return new OnnxOptError('PASS', `pass '${step.pass.name}' failed: ${(error as Error)?.message ?? String(error)}. Reproduce with: ${repro}`, { cause: error });
    },
  };
}
