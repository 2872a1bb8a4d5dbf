import { OnnxOptError } from '../errors.js';

/** Exit codes: 0 success, 1 a check failed, 2 bad input or usage, 3 internal error (a bug). */
export const EXIT_OK = 0;
export const EXIT_CHECK_FAILED = 1;
export const EXIT_USAGE = 2;
export const EXIT_INTERNAL = 3;

/** A failed check (verification threshold, EP compatibility): the work was done, the result is not acceptable. */
export class CheckFailed extends Error {}

/** Prints one line for user errors; the stack only with --debug or for bugs. Returns the exit code. */
export function reportError(e: unknown, debug: boolean): number {
  if (e instanceof CheckFailed) {
    process.stderr.write(`onnx-opt: ${e.message}\n`);
    return EXIT_CHECK_FAILED;
  }
  if (e instanceof OnnxOptError) {
    process.stderr.write(`onnx-opt: ${e.message.split('\n')[0]}\n`);
    if (debug && e.cause instanceof Error) process.stderr.write(`${e.cause.stack}\n`);
    if (debug) process.stderr.write(`${e.stack}\n`);
    return e.code === 'VERIFY' ? EXIT_CHECK_FAILED : EXIT_USAGE;
  }
  const err = e as Error;
  process.stderr.write(`onnx-opt: internal error: ${err?.message?.split('\n')[0] ?? String(e)}\n`);
  process.stderr.write(debug ? `${err?.stack}\n` : 'This is a bug in onnx-opt; rerun with --debug for the stack trace and report it.\n');
  return EXIT_INTERNAL;
}
