import { basename, resolve } from 'node:path';
import { OnnxOptError } from '../../errors.js';
import { checkIds, maxLength, readText, resolveOptions } from './common.js';
import type { CalibrationData, SequenceOptions } from './types.js';

/**
 * Token sequences from a JSONL file: one sequence a line, either an array of token ids or an
 * object with an `input_ids`, `ids` or `tokens` array. Blank lines are skipped. The first
 * `numSequences` rows are taken, each truncated to `sequenceLength`.
 */
export function fromJsonl(path: string, options: SequenceOptions = {}): CalibrationData {
  const o = resolveOptions(options);
  const text = readText(path);
  const sequences: number[][] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length && sequences.length < o.numSequences; i++) {
    const line = lines[i]!.trim();
    if (!line) continue;
    let row: unknown;
    try {
      row = JSON.parse(line);
    } catch (e) {
      throw new OnnxOptError('PARSE', `line ${i + 1}: not JSON (${(e as Error).message})`, { file: path, cause: e });
    }
    if (row && typeof row === 'object' && !Array.isArray(row)) {
      const r = row as Record<string, unknown>;
      row = r['input_ids'] ?? r['ids'] ?? r['tokens'];
    }
    if (!Array.isArray(row) || row.length === 0) {
      throw new OnnxOptError('PARSE', `line ${i + 1}: expected a non-empty array of token ids (or {"input_ids": [...]})`, { file: path });
    }
    const seq = (row as unknown[]).slice(0, o.sequenceLength) as number[];
    checkIds(seq, o.vocabSize, `line ${i + 1}`, path);
    sequences.push(seq);
  }
  if (sequences.length === 0) throw new OnnxOptError('USAGE', 'no token sequences in the file', { file: path });
  return {
    sequences,
    source: {
      kind: 'jsonl',
      path: resolve(path),
      numSequences: sequences.length,
      sequenceLength: maxLength(sequences),
      description: `${basename(path)} (JSONL token ids): ${sequences.length} sequences of up to ${maxLength(sequences)} tokens`,
    },
  };
}
