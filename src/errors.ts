/**
 * Every failure a user can cause (bad file, bad option, bad pipeline) is an OnnxOptError with a
 * stable code. The CLI turns these into one-line messages and exit code 2; anything else is a bug.
 */
export type ErrorCode =
  | 'FILE_NOT_FOUND'
  | 'IO'
  | 'PARSE'
  | 'INVALID_MODEL'
  | 'MODEL_TOO_LARGE'
  | 'EXTERNAL_DATA_PATH'
  | 'EXTERNAL_DATA_MISSING'
  | 'EXTERNAL_DATA_RANGE'
  | 'UNSUPPORTED'
  | 'USAGE'
  | 'PIPELINE'
  | 'PASS'
  | 'VERIFY';

export class OnnxOptError extends Error {
  readonly code: ErrorCode;
  /** The file the problem is in, when there is one. */
  readonly file: string | undefined;

  constructor(code: ErrorCode, message: string, options: { file?: string; cause?: unknown } = {}) {
    super(options.file ? `${options.file}: ${message}` : message, { cause: options.cause });
    this.name = 'OnnxOptError';
    this.code = code;
    this.file = options.file;
  }
}

export function isOnnxOptError(e: unknown): e is OnnxOptError {
  return e instanceof OnnxOptError;
}
