import { Tokenizer } from '@huggingface/tokenizers';
import { existsSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { OnnxOptError } from '../../errors.js';
import { checkIds, maxLength, readText, resolveOptions, windows, type WindowSampling } from './common.js';
import type { CalibrationData, SequenceOptions } from './types.js';

export interface TextOptions extends SequenceOptions {
  /** How windows are cut from the token stream (default `sequential`). */
  sampling?: WindowSampling;
}

/** The vocabulary size of byte-level models: a token is one byte of UTF-8 text. */
export const BYTE_VOCAB = 256;

/** UTF-8 bytes of a text, as token ids. */
export function textToByteTokens(text: string): number[] {
  return Array.from(Buffer.from(text, 'utf8'));
}

/**
 * Calibration data from a text file for a byte-level model (vocabulary 256): the text's UTF-8
 * bytes are the tokens, cut into windows.
 */
export function fromTextBytes(path: string, options: TextOptions = {}): CalibrationData {
  const o = resolveOptions(options);
  if (o.vocabSize !== undefined && o.vocabSize !== BYTE_VOCAB) {
    throw new OnnxOptError('USAGE', `the model's vocabulary has ${o.vocabSize} tokens, so it is not byte-level: give a tokenizer.json`, { file: path });
  }
  const sampling = options.sampling ?? 'sequential';
  const sequences = windows(textToByteTokens(readText(path)), o, sampling);
  if (sequences.length === 0) throw new OnnxOptError('USAGE', 'the text file is empty', { file: path });
  return {
    sequences,
    source: {
      kind: 'text-bytes',
      path: resolve(path),
      numSequences: sequences.length,
      sequenceLength: maxLength(sequences),
      seed: sampling === 'random' ? o.seed : undefined,
      description: `${basename(path)} as UTF-8 bytes: ${sequences.length} × ${maxLength(sequences)} tokens (${sampling} windows${sampling === 'random' ? `, seed ${o.seed}` : ''})`,
    },
  };
}

export interface TokenizerTextOptions extends TextOptions {
  /** Add the tokenizer's special tokens (BOS/EOS per its post-processor) around the text (default false). */
  addSpecialTokens?: boolean;
}

/**
 * Loads a Hugging Face `tokenizer.json` (and the `tokenizer_config.json` beside it, if there is one)
 * with @huggingface/tokenizers.
 */
export function loadTokenizer(tokenizerPath: string): Tokenizer {
  let json: object;
  let config: object = {};
  try {
    json = JSON.parse(readText(tokenizerPath)) as object;
    const cfg = join(dirname(tokenizerPath), 'tokenizer_config.json');
    if (existsSync(cfg)) config = JSON.parse(readText(cfg)) as object;
  } catch (e) {
    if (e instanceof OnnxOptError) throw e;
    throw new OnnxOptError('PARSE', `not a tokenizer.json: ${(e as Error).message}`, { file: tokenizerPath, cause: e });
  }
  try {
    return new Tokenizer(json, config);
  } catch (e) {
    throw new OnnxOptError('UNSUPPORTED', `cannot build the tokenizer: ${(e as Error).message}`, { file: tokenizerPath, cause: e });
  }
}

/** Calibration data from a text file tokenized with a tokenizer.json, cut into windows. */
export function fromTextTokenizer(path: string, tokenizerPath: string, options: TokenizerTextOptions = {}): CalibrationData {
  const o = resolveOptions(options);
  const tokenizer = loadTokenizer(tokenizerPath);
  const text = readText(path);
  let ids: number[];
  try {
    ids = tokenizer.encode(text, { add_special_tokens: options.addSpecialTokens ?? false }).ids;
  } catch (e) {
    throw new OnnxOptError('UNSUPPORTED', `tokenization failed: ${(e as Error).message}`, { file: path, cause: e });
  }
  checkIds(ids, o.vocabSize, 'tokenized text', path);
  const sampling = options.sampling ?? 'sequential';
  const sequences = windows(ids, o, sampling);
  if (sequences.length === 0) throw new OnnxOptError('USAGE', 'the text gives no tokens', { file: path });
  return {
    sequences,
    source: {
      kind: 'text-tokenizer',
      path: resolve(path),
      tokenizer: resolve(tokenizerPath),
      numSequences: sequences.length,
      sequenceLength: maxLength(sequences),
      seed: sampling === 'random' ? o.seed : undefined,
      description: `${basename(path)} tokenized by ${basename(tokenizerPath)}: ${sequences.length} × ${maxLength(sequences)} tokens (${sampling} windows${sampling === 'random' ? `, seed ${o.seed}` : ''})`,
    },
  };
}
