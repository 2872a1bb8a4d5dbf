import { create, toBinary } from '@bufbuild/protobuf';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { TensorProtoSchema } from 'onnx-buf';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OnnxOptError } from '../../src/errors.js';
import { loadModel } from '../../src/io/read-model.js';
import { DataType } from '../../src/ir/dtype.js';
import { Model } from '../../src/ir/model.js';
import { tensorType } from '../../src/ir/types.js';
import {
  Rng,
  fromJsonl,
  fromTestDataSets,
  fromTextBytes,
  fromTextTokenizer,
  loadCalibration,
  runCalibration,
  sampleFromModel,
  specFromPath,
  tokenBatches,
} from '../../src/runtime/calibration/index.js';
import { residualBoundaries } from '../../src/passes/measure/boundaries.js';
import { DecoderRunner } from '../../src/runtime/decoder-inputs.js';
import { MODELS, TINYLLAMA_KV, tempDir } from '../helpers/paths.js';

const CALIB = join(MODELS, 'calib.txt');
const isUsage = (e: unknown) => e instanceof OnnxOptError && e.code === 'USAGE';

describe('file sources', () => {
  let dir: string;
  beforeAll(() => {
    dir = tempDir();
  });

  it('JSONL: arrays and objects, truncated, counted, checked against the vocabulary', () => {
    const path = join(dir, 'calib.jsonl');
    writeFileSync(path, ['[1, 2, 3, 4, 5]', '', '{"input_ids": [6, 7]}', '{"tokens": [8, 9, 10]}', '[11]'].join('\n'));
    const d = fromJsonl(path, { numSequences: 3, sequenceLength: 4 });
    expect(d.sequences).toEqual([[1, 2, 3, 4], [6, 7], [8, 9, 10]]);
    expect(d.source.kind).toBe('jsonl');
    expect(d.source.numSequences).toBe(3);
    expect(d.source.sequenceLength).toBe(4);
    expect(d.source.description).toMatch(/calib\.jsonl/);
    expect(() => fromJsonl(path, { vocabSize: 8 })).toThrow(/token id 8/);
    writeFileSync(join(dir, 'bad.jsonl'), '[1, 2]\n{"x": 1}\n');
    expect(() => fromJsonl(join(dir, 'bad.jsonl'))).toThrow(/line 2/);
  });

  it('byte-level text: UTF-8 bytes in windows, sequential or seeded random', () => {
    const text = readFileSync(CALIB);
    const d = fromTextBytes(CALIB, { numSequences: 4, sequenceLength: 32 });
    expect(d.sequences).toEqual([0, 1, 2, 3].map((k) => Array.from(text.subarray(32 * k, 32 * (k + 1)))));
    expect(d.source).toMatchObject({ kind: 'text-bytes', numSequences: 4, sequenceLength: 32 });
    const r1 = fromTextBytes(CALIB, { numSequences: 4, sequenceLength: 32, sampling: 'random', seed: 3 });
    const r2 = fromTextBytes(CALIB, { numSequences: 4, sequenceLength: 32, sampling: 'random', seed: 3 });
    const r3 = fromTextBytes(CALIB, { numSequences: 4, sequenceLength: 32, sampling: 'random', seed: 4 });
    expect(r1.sequences).toEqual(r2.sequences);
    expect(r1.sequences).not.toEqual(r3.sequences);
    // Every random window is a real slice of the text.
    for (const s of r1.sequences) expect(text.includes(Buffer.from(s))).toBe(true);
    const small = join(dir, 'small.txt');
    writeFileSync(small, 'héllo');
    expect(fromTextBytes(small).sequences).toEqual([[0x68, 0xc3, 0xa9, 0x6c, 0x6c, 0x6f]]);
  });

  it('text with a tokenizer.json (a tiny BPE)', () => {
    const tok = join(dir, 'tokenizer.json');
    writeFileSync(
      tok,
      JSON.stringify({
        version: '1.0',
        truncation: null,
        padding: null,
        added_tokens: [{ id: 0, content: '[UNK]', single_word: false, lstrip: false, rstrip: false, normalized: false, special: true }],
        normalizer: null,
        pre_tokenizer: { type: 'Whitespace' },
        post_processor: null,
        decoder: null,
        model: {
          type: 'BPE',
          dropout: null,
          unk_token: '[UNK]',
          continuing_subword_prefix: null,
          end_of_word_suffix: null,
          fuse_unk: false,
          byte_fallback: false,
          vocab: { '[UNK]': 0, h: 1, e: 2, l: 3, o: 4, w: 5, r: 6, d: 7, he: 8, ll: 9, hell: 10, hello: 11, wo: 12, '.': 13 },
          merges: ['h e', 'l l', 'he ll', 'hell o', 'w o'],
        },
      }),
    );
    const txt = join(dir, 'hello.txt');
    writeFileSync(txt, 'hello world. hell low');
    const d = fromTextTokenizer(txt, tok, { sequenceLength: 4, numSequences: 8 });
    // hello | wo r l d | . | hell | l o w
    expect(d.sequences).toEqual([[11, 12, 6, 3], [7, 13, 10, 3]]);
    expect(d.source).toMatchObject({ kind: 'text-tokenizer', numSequences: 2, sequenceLength: 4 });
    expect(d.source.tokenizer).toBe(tok);
    expect(() => fromTextTokenizer(txt, tok, { vocabSize: 12 })).toThrow(/token id 12 is outside/);
  });

  it('ONNX test-data-set folders', () => {
    const root = join(dir, 'golden');
    for (const [k, rows] of [[0, [[1, 2, 3, 4, 5], [6, 7, 8, 9, 10]]], [1, [[11, 12, 13, 14, 15]]]] as const) {
      const set = join(root, `test_data_set_${k}`);
      mkdirSync(set, { recursive: true });
      const ids = BigInt64Array.from(rows.flat().map(BigInt));
      const t = create(TensorProtoSchema, {
        name: 'input_ids',
        dataType: DataType.INT64,
        dims: [BigInt(rows.length), 5n],
        rawData: new Uint8Array(ids.buffer),
      });
      writeFileSync(join(set, 'input_0.pb'), toBinary(TensorProtoSchema, t));
    }
    const d = fromTestDataSets(root, { sequenceLength: 4 });
    expect(d.sequences).toEqual([[1, 2, 3, 4], [6, 7, 8, 9], [11, 12, 13, 14]]);
    expect(d.source).toMatchObject({ kind: 'test-data', numSequences: 3 });
    expect(fromTestDataSets(join(root, 'test_data_set_1')).sequences).toEqual([[11, 12, 13, 14, 15]]);
    expect(specFromPath(root)).toEqual({ kind: 'test-data', path: root });
  });

  it('loadCalibration picks bytes for a byte-level model and refuses plain text for others', async () => {
    const kv = loadModel(TINYLLAMA_KV);
    const d = await loadCalibration(kv, specFromPath(CALIB), { numSequences: 2, sequenceLength: 16 });
    expect(d.source.kind).toBe('text-bytes');
    const big = new Model();
    big.graph.addInput('input_ids', tensorType(DataType.INT64, ['b', 's']));
    big.graph.addOutput(big.graph.createValue('logits', tensorType(DataType.FLOAT, ['b', 's', 32000])));
    await expect(loadCalibration(big, { kind: 'text', path: CALIB })).rejects.toSatisfy(isUsage);
  });
});

describe('Rng', () => {
  it('is deterministic per seed and stream', () => {
    const seq = (r: Rng) => Array.from({ length: 5 }, () => r.next());
    expect(seq(new Rng(7))).toEqual(seq(new Rng(7)));
    expect(seq(new Rng(7))).not.toEqual(seq(new Rng(8)));
    expect(seq(new Rng(7, 1))).not.toEqual(seq(new Rng(7, 2)));
    for (const x of seq(new Rng(1))) expect(x >= 0 && x < 1).toBe(true);
  });
});

describe('data-free sampling and batched runs', () => {
  const model = loadModel(TINYLLAMA_KV);
  let runner: DecoderRunner;
  beforeAll(async () => {
    runner = await DecoderRunner.create(model);
  });
  afterAll(async () => {
    await runner?.release();
  });

  it('same seed, same sequences; another seed, other sequences; independent of batch size', async () => {
    const opts = { numSequences: 3, sequenceLength: 10, temperature: 0.8, runner };
    const a = await sampleFromModel(model, { ...opts, seed: 1, batchSize: 3 });
    const b = await sampleFromModel(model, { ...opts, seed: 1, batchSize: 2 });
    const c = await sampleFromModel(model, { ...opts, seed: 2 });
    expect(a.sequences).toEqual(b.sequences);
    expect(a.sequences).not.toEqual(c.sequences);
    expect(a.sequences).toHaveLength(3);
    for (const s of a.sequences) {
      expect(s).toHaveLength(10);
      for (const t of s) expect(Number.isInteger(t) && t >= 0 && t < 256).toBe(true);
    }
    expect(a.source).toMatchObject({ kind: 'sampled', seed: 1, temperature: 0.8, start: 'random', numSequences: 3, sequenceLength: 10 });
  });

  it('block-wise sampling (one layer slice at a time, each with its own cache) gives the whole-model sequences', async () => {
    // The cuts come from the decoder's layers (the runtime cannot find them itself).
    const opts = { numSequences: 3, sequenceLength: 9, temperature: 0.8, seed: 4, batchSize: 2, boundaries: residualBoundaries(model) };
    const whole = await sampleFromModel(model, { ...opts, calibration: 'whole' });
    // residentBytes 0: every slice is reopened for every step, as for a model larger than memory.
    const block = await sampleFromModel(model, { ...opts, calibration: 'blockwise', residentBytes: 0 });
    const kept = await sampleFromModel(model, opts);
    expect(block.sequences).toEqual(whole.sequences);
    expect(kept.sequences).toEqual(whole.sequences);
    expect(new Set(whole.sequences.flat()).size).toBeGreaterThan(3);
  });

  it('temperature 0 from BOS is greedy decoding', async () => {
    const d = await sampleFromModel(model, { numSequences: 2, sequenceLength: 8, temperature: 0, start: 'bos', bosTokenId: 84, runner });
    const greedy = await runner.greedy([84], 7);
    expect(d.sequences).toEqual([[84, ...greedy[0]!], [84, ...greedy[0]!]]);
    await expect(sampleFromModel(model, { start: 'bos' })).rejects.toSatisfy(isUsage);
  });

  it('runCalibration runs bounded batches with probes', async () => {
    const seqs = fromTextBytes(CALIB, { numSequences: 5, sequenceLength: 12 }).sequences;
    const seen: { offset: number; rows: number; probe: readonly number[] }[] = [];
    const r = await runCalibration(model, seqs, { batchSize: 2, probes: ['/m/layers.2/Add_1_output_0'] }, (b) => {
      seen.push({ offset: b.offset, rows: b.ids.length, probe: b.outputs['/m/layers.2/Add_1_output_0']!.dims });
      expect(b.outputs['logits']!.dims).toEqual([b.ids.length, 12, 256]);
    });
    expect(r).toEqual({ batches: 3, sequences: 5 });
    expect(seen).toEqual([
      { offset: 0, rows: 2, probe: [2, 12, 96] },
      { offset: 2, rows: 2, probe: [2, 12, 96] },
      { offset: 4, rows: 1, probe: [1, 12, 96] },
    ]);
    // Without an attention mask, a batch never mixes lengths.
    expect([...tokenBatches([[1], [2], [3, 4], [5, 6], [7, 8]], 2, { equalLength: true })]).toEqual([[[1], [2]], [[3, 4], [5, 6]], [[7, 8]]]);
  });
});
