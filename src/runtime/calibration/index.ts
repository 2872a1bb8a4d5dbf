/**
 * Calibration data: token sequences for the runs that score layers (attn-prune, ffn-fuse) and for
 * verification. One module per source; {@link loadCalibration} picks one from a spec.
 */
import { statSync } from 'node:fs';
import { OnnxOptError } from '../../errors.js';
import type { Model } from '../../ir/model.js';
import { decoderSignature } from '../decoder-inputs.js';
import type { CalibrationMode } from '../blocks/trials.js';
import type { SessionOptions } from '../session.js';
import { fromJsonl } from './jsonl.js';
import { sampleFromModel, type SampleOptions } from './sampled.js';
import { fromTestDataSets } from './test-data.js';
import { BYTE_VOCAB, fromTextBytes, fromTextTokenizer, type TokenizerTextOptions } from './text.js';
import type { CalibrationData, SequenceOptions } from './types.js';

export * from './types.js';
export { Rng } from './prng.js';
export { windows, type WindowSampling } from './common.js';
export { fromJsonl } from './jsonl.js';
export { BYTE_VOCAB, fromTextBytes, fromTextTokenizer, loadTokenizer, textToByteTokens, type TextOptions, type TokenizerTextOptions } from './text.js';
export { fromTestDataSets, type TestDataOptions } from './test-data.js';
export { pick, sampleFromModel, type SampleOptions } from './sampled.js';
export { runCalibration, tokenBatches, type CalibrationBatch, type CalibrationRunOptions } from './batches.js';

/** Where to get calibration tokens. */
export type CalibrationSpec =
  | { kind: 'jsonl'; path: string }
  /** Text: tokenized with `tokenizer` (a tokenizer.json), or taken as UTF-8 bytes for byte-level models. */
  | { kind: 'text'; path: string; tokenizer?: string; sampling?: 'sequential' | 'random'; addSpecialTokens?: boolean }
  | { kind: 'test-data'; path: string; inputName?: string }
  /** Data-free: sampled from the model. */
  | { kind: 'sampled'; temperature?: number; topK?: number; start?: 'bos' | 'random'; bosTokenId?: number };

export interface LoadCalibrationOptions extends SequenceOptions, SessionOptions {
  /** Runs for sampled data (default 8 sequences at a time). */
  batchSize?: number;
  /** Sampled data: decode block-wise (default) or with one whole-model session. */
  calibration?: CalibrationMode;
  /** Sampled data, block-wise: where to cut the model (passes/measure's residualBoundaries); none: it runs whole. */
  boundaries?: readonly string[];
}

/** A spec from a path: `.jsonl` → JSONL, a folder → test data, anything else → text. */
export function specFromPath(path: string, tokenizer?: string): CalibrationSpec {
  const st = statSync(path, { throwIfNoEntry: false });
  if (!st) throw new OnnxOptError('FILE_NOT_FOUND', 'no such file or folder', { file: path });
  if (st.isDirectory()) return { kind: 'test-data', path };
  if (/\.jsonl$/i.test(path)) return { kind: 'jsonl', path };
  return { kind: 'text', path, tokenizer };
}

/** The vocabulary size of a decoder model, from its logits' declared last dimension. */
export function modelVocabSize(model: Model): number | undefined {
  return decoderSignature(model).vocabSize;
}

/**
 * Loads calibration data for `model` from a spec. Token ids are checked against the model's
 * vocabulary; plain text without a tokenizer is accepted only for byte-level models (vocabulary 256).
 */
export async function loadCalibration(model: Model, spec: CalibrationSpec, options: LoadCalibrationOptions = {}): Promise<CalibrationData> {
  const vocabSize = options.vocabSize ?? modelVocabSize(model);
  const o = { ...options, vocabSize };
  switch (spec.kind) {
    case 'jsonl':
      return fromJsonl(spec.path, o);
    case 'test-data':
      return fromTestDataSets(spec.path, { ...o, inputName: spec.inputName });
    case 'text': {
      const t: TokenizerTextOptions = { ...o, sampling: spec.sampling, addSpecialTokens: spec.addSpecialTokens };
      if (spec.tokenizer) return fromTextTokenizer(spec.path, spec.tokenizer, t);
      if (vocabSize !== BYTE_VOCAB) {
        throw new OnnxOptError('USAGE', `the model is not byte-level (vocabulary ${vocabSize ?? 'unknown'}); give a tokenizer.json for text calibration data`, { file: spec.path });
      }
      return fromTextBytes(spec.path, t);
    }
    case 'sampled': {
      const s: SampleOptions = { ...o, temperature: spec.temperature, topK: spec.topK, start: spec.start, bosTokenId: spec.bosTokenId };
      return sampleFromModel(model, s);
    }
  }
}
