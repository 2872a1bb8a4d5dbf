import { readFileSync, statSync } from 'node:fs';
import { OnnxOptError } from '../../errors.js';
import { Rng } from './prng.js';
import { DEFAULT_NUM_SEQUENCES, DEFAULT_SEQUENCE_LENGTH, type SequenceOptions } from './types.js';

export interface ResolvedOptions {
  numSequences: number;
  sequenceLength: number;
  seed: number;
  vocabSize: number | undefined;
}

export function resolveOptions(o: SequenceOptions): ResolvedOptions {
  const numSequences = o.numSequences ?? DEFAULT_NUM_SEQUENCES;
  const sequenceLength = o.sequenceLength ?? DEFAULT_SEQUENCE_LENGTH;
  if (!Number.isInteger(numSequences) || numSequences < 1) throw new OnnxOptError('USAGE', `numSequences must be a positive integer, got ${numSequences}`);
  if (!Number.isInteger(sequenceLength) || sequenceLength < 1) throw new OnnxOptError('USAGE', `sequenceLength must be a positive integer, got ${sequenceLength}`);
  return { numSequences, sequenceLength, seed: o.seed ?? 0, vocabSize: o.vocabSize };
}

export function readText(path: string): string {
  const st = statSync(path, { throwIfNoEntry: false });
  if (!st) throw new OnnxOptError('FILE_NOT_FOUND', 'no such file', { file: path });
  if (!st.isFile()) throw new OnnxOptError('USAGE', 'not a regular file', { file: path });
  try {
    return readFileSync(path, 'utf8');
  } catch (e) {
    throw new OnnxOptError('IO', `cannot read: ${(e as Error).message}`, { file: path, cause: e });
  }
}

/** Refuses ids that are not integers in [0, vocabSize). */
export function checkIds(seq: readonly number[], vocabSize: number | undefined, where: string, file?: string): void {
  for (const t of seq) {
    if (!Number.isSafeInteger(t) || t < 0) throw new OnnxOptError('USAGE', `${where}: token id ${t} is not a non-negative integer`, { file });
    if (vocabSize !== undefined && t >= vocabSize) {
      throw new OnnxOptError('USAGE', `${where}: token id ${t} is outside the model's vocabulary [0, ${vocabSize})`, { file });
    }
  }
}

export type WindowSampling = 'sequential' | 'random';

/**
 * Cuts a token stream into windows of `sequenceLength`: consecutive non-overlapping windows from
 * the start (`sequential`, the default), or windows at seeded random offsets (`random`). A stream
 * shorter than one window gives one sequence of the whole stream.
 */
export function windows(stream: readonly number[], o: ResolvedOptions, sampling: WindowSampling = 'sequential'): number[][] {
  const L = o.sequenceLength;
  if (stream.length === 0) return [];
  if (stream.length <= L) return [[...stream]];
  if (sampling === 'random') {
    const rng = new Rng(o.seed);
    const span = stream.length - L + 1;
    return Array.from({ length: o.numSequences }, () => {
      const at = rng.int(span);
      return stream.slice(at, at + L);
    });
  }
  const out: number[][] = [];
  for (let at = 0; at + L <= stream.length && out.length < o.numSequences; at += L) out.push(stream.slice(at, at + L));
  return out;
}

export function maxLength(seqs: readonly (readonly number[])[]): number {
  return seqs.reduce((m, s) => Math.max(m, s.length), 0);
}
