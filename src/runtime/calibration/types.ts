/** Where calibration tokens came from. */
export type CalibrationSourceKind = 'jsonl' | 'text-bytes' | 'text-tokenizer' | 'test-data' | 'sampled';

/** What a report needs to say about the calibration data: the source and the options that made it. */
export interface CalibrationSourceInfo {
  readonly kind: CalibrationSourceKind;
  /** The file or folder read (absent for sampled data). */
  readonly path?: string;
  /** The tokenizer.json used (text-tokenizer). */
  readonly tokenizer?: string;
  /** The sequences actually produced (may be fewer than asked when the source is short). */
  readonly numSequences: number;
  /** The longest sequence's length. */
  readonly sequenceLength: number;
  readonly seed?: number;
  /** Sampled data: how it was sampled. */
  readonly temperature?: number;
  readonly topK?: number;
  readonly start?: string;
  /** One line for reports, e.g. `calib.txt as UTF-8 bytes: 16 × 128 tokens (sequential windows)`. */
  readonly description: string;
}

/** Calibration token sequences plus where they came from. */
export interface CalibrationData {
  readonly sequences: number[][];
  readonly source: CalibrationSourceInfo;
}

/** Options every source takes. The same options always give the same sequences. */
export interface SequenceOptions {
  /** How many sequences (default 16; file sources with fewer give what they have). */
  numSequences?: number;
  /**
   * Tokens per sequence (default 128). Text is cut into windows of this length; JSONL rows and
   * test-data rows longer than this are truncated.
   */
  sequenceLength?: number;
  /** PRNG seed (default 0) for random windows and sampling. */
  seed?: number;
  /** The model's vocabulary size: token ids at or above it are refused. */
  vocabSize?: number;
}

export const DEFAULT_NUM_SEQUENCES = 16;
export const DEFAULT_SEQUENCE_LENGTH = 128;
