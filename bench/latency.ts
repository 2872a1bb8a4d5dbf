import { join } from 'node:path';
import { loadModel } from '../src/io/read-model.js';
import type { Model } from '../src/ir/model.js';
import { fromTextBytes } from '../src/runtime/calibration/index.js';
import { DecoderRunner, decoderSignature, sequenceFeeds } from '../src/runtime/decoder-inputs.js';
import { ModelSession } from '../src/runtime/session.js';
import { compareModels } from '../src/verify/compare.js';
import { median } from './lib.js';

export const SHARED_MODELS = join(import.meta.dirname, '../../shared/models');
export const TINYLLAMA_KV = join(SHARED_MODELS, 'tinyllama-16l-kv.onnx');

const PROMPT = Array.from(Buffer.from('Debian keeps configuration files under /etc and never overwrites a changed one without asking; '.repeat(3)));

/** Median ms of a 128-token prefill (empty cache), ORT CPU, one thread. */
export async function prefillMs(model: Model, runs = 7): Promise<number> {
  const s = await ModelSession.create(model, { threads: 1 });
  const { feeds } = sequenceFeeds(decoderSignature(model), [PROMPT.slice(0, 128)]);
  try {
    await s.run(feeds);
    const times: number[] = [];
    for (let i = 0; i < runs; i++) {
      const t0 = performance.now();
      await s.run(feeds);
      times.push(performance.now() - t0);
    }
    return median(times);
  } finally {
    await s.release();
  }
}

/** Median ms of 32 cached decode steps after an 8-token prefill. */
export async function decodeMs(model: Model, runs = 5): Promise<number> {
  const r = await DecoderRunner.create(model, { threads: 1 });
  try {
    const times: number[] = [];
    for (let i = 0; i <= runs; i++) {
      await r.prefill(PROMPT.slice(0, 8));
      const t0 = performance.now();
      for (let k = 0; k < 32; k++) await r.step(PROMPT[8 + k]!);
      if (i > 0) times.push(performance.now() - t0);
    }
    return median(times);
  } finally {
    await r.release();
  }
}

export async function heldoutQuality(original: Model, optimized: Model): Promise<{ kl: number; top1: number }> {
  const data = await fromTextBytes(join(SHARED_MODELS, 'heldout.txt'), { numSequences: 16, sequenceLength: 128 });
  const c = await compareModels(original, optimized, data);
  return { kl: c.logits[0]!.klMean, top1: c.logits[0]!.top1 };
}

export async function calibration() {
  return fromTextBytes(join(SHARED_MODELS, 'calib.txt'), { numSequences: 8, sequenceLength: 128 });
}

export const loadReal = () => loadModel(TINYLLAMA_KV);
