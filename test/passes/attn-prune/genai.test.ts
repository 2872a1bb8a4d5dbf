import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { saveModel } from '../../../src/io/write-model.js';
import { makeGenaiModel, writeGenaiConfig, type GenaiFixtureOptions } from '../../../src/fixtures/genai.js';
import { loadModel } from '../../../src/io/read-model.js';
import type { Model } from '../../../src/ir/model.js';
import { verifyModel } from '../../../src/ir/verifier.js';
import { analyzeDecoder } from '../../../src/passes/analysis/analyze-decoder.js';
import { attnPrune } from '../../../src/passes/attn-prune/attn-prune.js';
import { ffnFuse } from '../../../src/passes/ffn-fusion/ffn-fuse.js';
import { decoderSignature, sequenceFeeds } from '../../../src/runtime/decoder-inputs.js';
import { ModelSession } from '../../../src/runtime/session.js';
import { runCli } from '../../helpers/cli.js';
import { tempDir } from '../../helpers/paths.js';

const OPTS: GenaiFixtureOptions = { layers: 5, hidden: 64, heads: 4, kvHeads: 2, intermediate: 96, vocab: 256, kvCache: true, seed: 4 } as GenaiFixtureOptions;
const ctx = () => ({ log: () => {}, report: {} as Record<string, unknown>, services: {} });
const TOKENS = Array.from(Buffer.from('apt-get update && apt-get upgrade'));

async function logits(model: Model): Promise<Float32Array> {
  const s = await ModelSession.create(model);
  try {
    return (await s.run(sequenceFeeds(decoderSignature(model), [TOKENS]).feeds)).logits!.data as Float32Array;
  } finally {
    await s.release();
  }
}

describe('genai builder spelling (SkipSimplifiedLayerNormalization chains, GroupQueryAttention)', () => {
  it('LayerMap sees every layer with fused norms, GQA and per-layer caches', () => {
    const map = analyzeDecoder(makeGenaiModel(OPTS));
    expect(map.spelling).toBe('genai');
    expect(map.unrecognized).toEqual([]);
    expect(map.layers).toHaveLength(5);
    for (const l of map.layers) {
      expect(l.attention!.op).toBe('com.microsoft::GroupQueryAttention');
      expect([l.attention!.heads, l.attention!.kvHeads]).toEqual([4, 2]);
      expect(l.attention!.cacheInputs.map((v) => v.name).sort()).toEqual([`past_key_values.${l.index}.key`, `past_key_values.${l.index}.value`]);
      expect(l.ffn!.norm.fused).toBeDefined();
    }
  });

  it('removing a zeroed attention keeps the SkipSimplifiedLayerNormalization chain exact (bit-identical logits)', async () => {
    const zeroed = makeGenaiModel({ ...OPTS, attnScale: { 2: 0 } });
    const before = await logits(zeroed);
    await attnPrune({ layers: [2] }).run(zeroed, ctx());
    expect(verifyModel(zeroed)).toEqual([]);
    expect(Buffer.from((await logits(zeroed)).buffer).equals(Buffer.from(before.buffer))).toBe(true);
    // Removing nothing is the identity.
    const m = makeGenaiModel(OPTS);
    const r = await attnPrune({ layers: [] }).run(m, ctx());
    expect(r.modified).toBe(false);
  });

  it('a genai folder: pruned and fused, genai_config.json renumbered densely, runs in ORT', async () => {
    const dir = tempDir();
    const src = join(dir, 'in');
    saveModel(makeGenaiModel(OPTS), join(src, 'model.onnx'));
    writeGenaiConfig(src, OPTS);
    const out = join(dir, 'out');
    const r = runCli([src, '-o', out, '--passes=attn-prune{layers=[1,3]},ffn-fuse{groups=[[0,1]]}', '--quiet']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const cfg = JSON.parse(readFileSync(join(out, 'genai_config.json'), 'utf8'));
    expect(cfg.model.decoder.num_hidden_layers).toBe(3);
    expect(cfg.model.decoder.filename).toBe('model.onnx');
    const model = loadModel(join(out, 'model.onnx'));
    const names = model.graph.inputs.map((v) => v.name).filter((n) => n.startsWith('past_key_values.'));
    expect(names.sort()).toEqual(['0.key', '0.value', '1.key', '1.value', '2.key', '2.value'].map((s) => `past_key_values.${s}`));
    expect(model.graph.outputs.map((v) => v.name).filter((n) => n.startsWith('present.')).length).toBe(6);
    const map = analyzeDecoder(model);
    expect(map.layers.map((l) => l.span ?? l.index)).toEqual([[0, 1], 2, 3, 4]);
    expect((await logits(model)).every(Number.isFinite)).toBe(true);
  });
});
