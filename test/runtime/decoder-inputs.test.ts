import type * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OnnxOptError } from '../../src/errors.js';
import { loadModel } from '../../src/io/read-model.js';
import { DataType } from '../../src/ir/dtype.js';
import { Model } from '../../src/ir/model.js';
import { tensorType, type Dim } from '../../src/ir/types.js';
import {
  DecoderRunner,
  buildFeeds,
  decoderSignature,
  floatData,
  presentCandidates,
  sequenceFeeds,
} from '../../src/runtime/decoder-inputs.js';
import { TINYLLAMA, TINYLLAMA_KV } from '../helpers/paths.js';

const bytes = (s: string) => Array.from(Buffer.from(s));
const TEXT = bytes('The package provides a small daemon that watches files and restarts');

/** A model with only a signature (no nodes): enough for decoderSignature/buildFeeds. */
function signatureModel(inputs: [string, DataType, Dim[]][], outputs: [string, DataType, Dim[]][]): Model {
  const m = new Model();
  for (const [n, t, s] of inputs) m.graph.addInput(n, tensorType(t, s));
  for (const [n, t, s] of outputs) m.graph.addOutput(m.graph.createValue(n, tensorType(t, s)));
  return m;
}

const ints = (t: ort.Tensor) => Array.from(t.data as ArrayLike<number | bigint>, Number);

describe('decoderSignature', () => {
  it('reads the KV export: 32 cache slots paired with present outputs', () => {
    const sig = decoderSignature(loadModel(TINYLLAMA_KV));
    expect(sig.inputIds).toEqual({ name: 'input_ids', dtype: 'int64' });
    expect(sig.attentionMask).toBeUndefined();
    expect(sig.cache).toHaveLength(32);
    expect(sig.cache[1]).toEqual({
      past: 'past_key_values.0.value',
      present: 'present.0.value',
      dtype: 'float32',
      shape: ['batch_size', 2, 'past_sequence_length', 24],
      batchAxis: 0,
      sequenceAxis: 2,
    });
    expect(sig.logits).toBe('logits');
    expect(sig.vocabSize).toBe(256);
    expect(sig.otherInputs).toEqual([]);
    const plain = decoderSignature(loadModel(TINYLLAMA));
    expect(plain.cache).toEqual([]);
  });

  it('pairs past and present names of the common exporters', () => {
    expect(presentCandidates('past_key_values.3.key')).toContain('present.3.key');
    expect(presentCandidates('past_key_values.3.key')).toContain('present_key_values.3.key');
    expect(presentCandidates('past_3')).toContain('present_3');
    expect(presentCandidates('past_key_values_3_0')).toContain('present_key_values_3_0');
    const m = signatureModel(
      [
        ['input_ids', DataType.INT64, ['b', 's']],
        ['past_2', DataType.FLOAT, [2, 'batch', 4, 'past_seq', 8]],
        ['past_key_values_0_1', DataType.FLOAT16, ['batch', 4, 'past_len', 8]],
      ],
      [
        ['logits', DataType.FLOAT, ['b', 's', 50]],
        ['present_key_values_0_1', DataType.FLOAT16, ['batch', 4, 'total', 8]],
        ['present_2', DataType.FLOAT, [2, 'batch', 4, 'total', 8]],
      ],
    );
    const sig = decoderSignature(m);
    expect(sig.cache.map((c) => [c.past, c.present, c.batchAxis, c.sequenceAxis])).toEqual([
      ['past_2', 'present_2', 1, 3],
      ['past_key_values_0_1', 'present_key_values_0_1', 0, 2],
    ]);
    const feeds = sequenceFeeds(sig, [[1, 2, 3]]).feeds;
    expect(feeds['past_2']!.dims).toEqual([2, 1, 4, 0, 8]);
    expect(feeds['past_key_values_0_1']!.type).toBe('float16');
    expect(feeds['past_key_values_0_1']!.dims).toEqual([1, 4, 0, 8]);
  });

  it('refuses a past input without a present output', () => {
    const m = signatureModel(
      [
        ['input_ids', DataType.INT64, ['b', 's']],
        ['past_key_values.0.key', DataType.FLOAT, ['b', 2, 'p', 4]],
      ],
      [['logits', DataType.FLOAT, ['b', 's', 10]]],
    );
    expect(() => decoderSignature(m)).toThrow(OnnxOptError);
  });
});

describe('input synthesis', () => {
  // A genai-style signature: int32 position ids, GQA's seqlens_k / total_sequence_length.
  const genai = signatureModel(
    [
      ['input_ids', DataType.INT64, ['batch_size', 'sequence_length']],
      ['attention_mask', DataType.INT64, ['batch_size', 'total_sequence_length']],
      ['position_ids', DataType.INT32, ['batch_size', 'sequence_length']],
      ['seqlens_k', DataType.INT32, ['batch_size']],
      ['total_sequence_length', DataType.INT32, []],
      ['past_key_values.0.key', DataType.FLOAT16, ['batch_size', 2, 'past_sequence_length', 24]],
      ['past_key_values.0.value', DataType.FLOAT16, ['batch_size', 2, 'past_sequence_length', 24]],
    ],
    [
      ['logits', DataType.FLOAT, ['batch_size', 'sequence_length', 32000]],
      ['present.0.key', DataType.FLOAT16, ['batch_size', 2, 'total_sequence_length', 24]],
      ['present.0.value', DataType.FLOAT16, ['batch_size', 2, 'total_sequence_length', 24]],
    ],
  );
  const sig = decoderSignature(genai);

  it('builds every declared input for a left-padded batch with an empty past', () => {
    const { feeds, mask } = sequenceFeeds(sig, [[5, 6, 7], [8]], { padTokenId: 0 });
    expect(Object.keys(feeds).sort()).toEqual(
      ['attention_mask', 'input_ids', 'past_key_values.0.key', 'past_key_values.0.value', 'position_ids', 'seqlens_k', 'total_sequence_length'].sort(),
    );
    expect(feeds['input_ids']!.type).toBe('int64');
    expect(ints(feeds['input_ids']!)).toEqual([5, 6, 7, 0, 0, 8]);
    expect(ints(feeds['attention_mask']!)).toEqual([1, 1, 1, 0, 0, 1]);
    expect(mask).toEqual([[1, 1, 1], [0, 0, 1]]);
    expect(feeds['position_ids']!.type).toBe('int32');
    expect(ints(feeds['position_ids']!)).toEqual([0, 1, 2, 0, 0, 0]);
    expect(feeds['seqlens_k']!.type).toBe('int32');
    expect(ints(feeds['seqlens_k']!)).toEqual([2, 0]);
    expect(feeds['total_sequence_length']!.dims).toEqual([]);
    expect(ints(feeds['total_sequence_length']!)).toEqual([3]);
    expect(feeds['past_key_values.0.key']!.type).toBe('float16');
    expect(feeds['past_key_values.0.key']!.dims).toEqual([2, 2, 0, 24]);
  });

  it('offsets positions by the past length in a decode step', () => {
    const feeds = buildFeeds(sig, [[9], [4]], [[1, 1, 1, 1], [0, 0, 1, 1]], undefined);
    expect(ints(feeds['position_ids']!)).toEqual([3, 1]);
    expect(ints(feeds['attention_mask']!)).toEqual([1, 1, 1, 1, 0, 0, 1, 1]);
    expect(ints(feeds['seqlens_k']!)).toEqual([3, 1]);
    expect(ints(feeds['total_sequence_length']!)).toEqual([4]);
  });

  it('refuses unequal lengths without an attention mask, and unknown inputs without extraFeeds', () => {
    const kv = decoderSignature(loadModel(TINYLLAMA_KV));
    expect(() => sequenceFeeds(kv, [[1, 2], [3]])).toThrow(/attention_mask/);
    const odd = signatureModel(
      [
        ['input_ids', DataType.INT64, ['b', 's']],
        ['temperature', DataType.FLOAT, []],
      ],
      [['logits', DataType.FLOAT, ['b', 's', 10]]],
    );
    const s = decoderSignature(odd);
    expect(s.otherInputs).toEqual(['temperature']);
    expect(() => sequenceFeeds(s, [[1]])).toThrow(/extraFeeds/);
  });
});

describe('DecoderRunner on the real exports', () => {
  let cached: DecoderRunner;
  let uncached: DecoderRunner;
  beforeAll(async () => {
    [cached, uncached] = await Promise.all([DecoderRunner.create(loadModel(TINYLLAMA_KV)), DecoderRunner.create(loadModel(TINYLLAMA))]);
  });
  afterAll(async () => {
    await cached?.release();
    await uncached?.release();
  });

  it('prefill + 8 cached decode steps give the logits of one uncached run', async () => {
    expect(cached.cached).toBe(true);
    expect(uncached.cached).toBe(false);
    const prompt = [TEXT.slice(0, 20), TEXT.slice(30, 50)];
    const steps: Float32Array[][] = [];
    let r = await cached.prefill(prompt);
    expect(r.logits.dims).toEqual([2, 20, 256]);
    expect(r.outputs['present.0.key']!.dims).toEqual([2, 2, 20, 24]);
    steps.push(r.next);
    for (let k = 0; k < 8; k++) {
      r = await cached.step([TEXT[20 + k]!, TEXT[50 + k]!]);
      expect(r.logits.dims).toEqual([2, 1, 256]);
      steps.push(r.next);
    }
    expect(cached.length).toBe(28);
    expect(r.outputs['present.15.value']!.dims).toEqual([2, 2, 28, 24]);
    expect(cached.tokens).toEqual([TEXT.slice(0, 28), TEXT.slice(30, 58)]);

    const full = await uncached.prefill([TEXT.slice(0, 28), TEXT.slice(30, 58)]);
    expect(full.logits.dims).toEqual([2, 28, 256]);
    const L = floatData(full.logits);
    let maxErr = 0;
    for (let b = 0; b < 2; b++) {
      for (let k = 0; k <= 8; k++) {
        const at = (b * 28 + 19 + k) * 256;
        for (let v = 0; v < 256; v++) maxErr = Math.max(maxErr, Math.abs(L[at + v]! - steps[k]![b]![v]!));
      }
    }
    expect(maxErr).toBeLessThan(1e-4);

    // The KV export run uncached over the whole sequence agrees too.
    const once = await cached.prefill([TEXT.slice(0, 28), TEXT.slice(30, 58)]);
    const K = floatData(once.logits);
    let e2 = 0;
    for (let i = 0; i < K.length; i++) e2 = Math.max(e2, Math.abs(K[i]! - L[i]!));
    expect(e2).toBeLessThan(1e-4);
  });

  it('greedy decoding agrees with and without a cache', async () => {
    const prompt = bytes('The package ');
    const a = await cached.greedy(prompt, 12);
    const b = await uncached.greedy(prompt, 12);
    expect(a).toEqual(b);
    expect(a[0]).toHaveLength(12);
  });

  it('steps need a prefill and matching rows', async () => {
    cached.reset();
    await expect(cached.step(1)).rejects.toThrow(/prefill/);
    await cached.prefill([[1, 2], [3, 4]]);
    await expect(cached.step([1, 2, 3])).rejects.toThrow(/rows/);
  });
});
