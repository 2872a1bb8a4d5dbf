import { OnnxOptError } from '../../errors.js';
import type { Model } from '../../ir/model.js';
import { BlockwiseSession } from '../blocks/blockwise-session.js';
import type { CalibrationMode } from '../blocks/trials.js';
import { DecoderRunner, argmax, decoderSignature, type DecoderRunnerOptions } from '../decoder-inputs.js';
import { resolveOptions } from './common.js';
import { Rng } from './prng.js';
import type { CalibrationData, SequenceOptions } from './types.js';

export interface SampleOptions extends SequenceOptions, DecoderRunnerOptions {
  /** Softmax temperature (default 1); 0 decodes greedily. */
  temperature?: number;
  /** Sample only among the k most likely tokens (default: all). */
  topK?: number;
  /** The first token of each sequence: a fixed BOS token, or a random one (default `random`). */
  start?: 'bos' | 'random';
  /** The BOS token id, required for `start: 'bos'`. */
  bosTokenId?: number;
  /** Sequences decoded together (default 8): bounds memory. */
  batchSize?: number;
  /** An open runner on this model to reuse (it is reset, not released); default: one is opened and released. */
  runner?: DecoderRunner;
  /**
   * `blockwise` (default): decode through one decoder-layer slice at a time, each slice reading and
   * returning its own layers' cache, so a model bigger than memory can be sampled; a model under
   * the resident budget keeps every slice open. `whole`: one session on the whole model.
   */
  calibration?: CalibrationMode;
  /** Block-wise: where to cut the model (passes/measure's residualBoundaries); none: it runs whole. */
  boundaries?: readonly string[];
  /** Block-wise: weight bytes of slice sessions kept open between decode steps (default 512 MiB). */
  residentBytes?: number;
}

/**
 * Data-free calibration: sequences sampled from the model itself. Each sequence starts with the
 * BOS token or a random token and is extended to `sequenceLength` tokens by sampling the model's
 * next-token distribution at `temperature`. Sequence i draws from its own PRNG stream
 * (seed, i), so the data depends only on the options (not on the batch size, beyond float
 * rounding of batched runs). Uses the KV cache when the model has one.
 */
export async function sampleFromModel(model: Model, options: SampleOptions = {}): Promise<CalibrationData> {
  const o = resolveOptions(options);
  const temperature = options.temperature ?? 1;
  const topK = options.topK;
  const start = options.start ?? 'random';
  const batchSize = options.batchSize ?? 8;
  if (!(temperature >= 0)) throw new OnnxOptError('USAGE', `temperature must be ≥ 0, got ${temperature}`);
  if (topK !== undefined && (!Number.isInteger(topK) || topK < 1)) throw new OnnxOptError('USAGE', `topK must be a positive integer, got ${topK}`);
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new OnnxOptError('USAGE', `batchSize must be a positive integer, got ${batchSize}`);
  if (start === 'bos' && options.bosTokenId === undefined) throw new OnnxOptError('USAGE', "start 'bos' needs bosTokenId");
  const sig = decoderSignature(model);
  const vocab = o.vocabSize ?? sig.vocabSize;
  if (vocab === undefined && start === 'random') throw new OnnxOptError('USAGE', 'the logits do not declare the vocabulary size; pass vocabSize');

  const rngs = Array.from({ length: o.numSequences }, (_, i) => new Rng(o.seed, i));
  const sequences = rngs.map((rng) => [start === 'bos' ? options.bosTokenId! : rng.int(vocab!)]);
  const runner = options.runner ?? (await openRunner(model, options));
  try {
    for (let b0 = 0; b0 < o.numSequences; b0 += batchSize) {
      const rows = sequences.slice(b0, b0 + batchSize);
      const more = await runner.generate(rows, o.sequenceLength - 1, (logits, r) => pick(logits, temperature, topK, rngs[b0 + r]!));
      more.forEach((m, r) => rows[r]!.push(...m));
    }
  } finally {
    if (options.runner) runner.reset();
    else await runner.release();
  }
  return {
    sequences,
    source: {
      kind: 'sampled',
      numSequences: o.numSequences,
      sequenceLength: o.sequenceLength,
      seed: o.seed,
      temperature,
      topK,
      start: start === 'bos' ? `bos=${options.bosTokenId}` : 'random',
      description:
        `sampled from the model: ${o.numSequences} × ${o.sequenceLength} tokens ` +
        `(start ${start === 'bos' ? `BOS ${options.bosTokenId}` : 'random'}, temperature ${temperature}${topK ? `, top-k ${topK}` : ''}, seed ${o.seed})`,
    },
  };
}

/**
 * A decoder runner for sampling. With a KV cache every step feeds one new token per row (linear in
 * the length); without one each step re-runs the sequence (quadratic, as the model allows).
 */
async function openRunner(model: Model, options: SampleOptions): Promise<DecoderRunner> {
  const boundaries = options.calibration === 'whole' ? [] : (options.boundaries ?? []);
  if (!boundaries.length) return DecoderRunner.create(model, options);
  const session = BlockwiseSession.create(model, { ...options, boundaries, residentBytes: options.residentBytes });
  // `over` leaves the session to its owner: release it with the runner.
  const runner = DecoderRunner.over(session, decoderSignature(model), options);
  const release = runner.release.bind(runner);
  runner.release = async () => {
    await release();
    await session.release();
  };
  return runner;
}

/** Draws a token from softmax(logits / temperature), restricted to the top k; argmax at temperature 0. */
export function pick(logits: ArrayLike<number>, temperature: number, topK: number | undefined, rng: Rng): number {
  if (temperature === 0) return argmax(logits);
  let ids = Array.from({ length: logits.length }, (_, i) => i);
  if (topK !== undefined && topK < ids.length) ids = ids.sort((a, b) => logits[b]! - logits[a]! || a - b).slice(0, topK);
  let max = -Infinity;
  for (const i of ids) max = Math.max(max, logits[i]!);
  const w = ids.map((i) => Math.exp((logits[i]! - max) / temperature));
  let sum = 0;
  for (const x of w) sum += x;
  let u = rng.next() * sum;
  for (let k = 0; k < ids.length; k++) {
    u -= w[k]!;
    if (u < 0) return ids[k]!;
  }
  return ids[ids.length - 1]!;
}
