import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { makeLlamaModel } from '../../../src/fixtures/llama.js';
import { loadModel } from '../../../src/io/read-model.js';
import type { Model } from '../../../src/ir/model.js';
import { Tensor } from '../../../src/ir/tensor.js';
import { verifyModel } from '../../../src/ir/verifier.js';
import { analyzeDecoder } from '../../../src/passes/analysis/analyze-decoder.js';
import type { AttnPruneReport } from '../../../src/passes/attn-prune/attn-prune.js';
import { attnPrune } from '../../../src/passes/attn-prune/attn-prune.js';
import { fromTextBytes } from '../../../src/runtime/calibration/index.js';
import { DecoderRunner, decoderSignature, sequenceFeeds } from '../../../src/runtime/decoder-inputs.js';
import { ModelSession } from '../../../src/runtime/session.js';
import { compareModels } from '../../../src/verify/compare.js';
import { MODELS, TINYLLAMA, TINYLLAMA_KV, tempDir } from '../../helpers/paths.js';

const calib = () => fromTextBytes(join(MODELS, 'calib.txt'), { numSequences: 4, sequenceLength: 48 });
const heldout = () => fromTextBytes(join(MODELS, 'heldout.txt'), { numSequences: 4, sequenceLength: 64 });

async function prune(model: Model, options: Parameters<typeof attnPrune>[0], services: Record<string, unknown> = {}) {
  const ctx = { log: () => {}, report: {} as Record<string, unknown>, services: { calibration: await calib(), ...services } };
  const r = await attnPrune(options).run(model, ctx);
  expect(verifyModel(model)).toEqual([]);
  return { result: r, report: ctx.report['attn-prune'] as AttnPruneReport };
}

async function logits(model: Model, text: string): Promise<Float32Array> {
  const s = await ModelSession.create(model);
  try {
    const { feeds } = sequenceFeeds(decoderSignature(model), [Array.from(Buffer.from(text), Number)]);
    return (await s.run(feeds)).logits!.data as Float32Array;
  } finally {
    await s.release();
  }
}

describe('attn-prune', () => {
  it('cosine scoring finds exactly the planted redundant layers', async () => {
    const model = makeLlamaModel({ layers: 8, hidden: 48, heads: 4, kvHeads: 2, intermediate: 96, vocab: 256, seed: 3, attnScale: { 2: 1e-3, 5: 1e-3 } });
    const { report } = await prune(model, { count: 2 });
    expect(report.removed).toEqual([2, 5]);
    expect(report.method).toBe('cosine');
    const byScore = [...report.scores].sort((a, b) => a.score - b.score).map((s) => s.layer);
    expect(byScore.slice(0, 2).sort()).toEqual([2, 5]);
    expect(analyzeDecoder(model).layers.filter((l) => !l.attention).map((l) => l.index)).toEqual([2, 5]);
  });

  it('removing an attention whose o_proj is all zeros gives bit-identical logits', async () => {
    const zeroed = loadModel(TINYLLAMA);
    const o = analyzeDecoder(zeroed).layers[5]!.attention!.o!.weight;
    zeroed.graph.setInitializer(o, Tensor.fromArray(o.name, o.initializer!.dtype, o.initializer!.dims, new Float32Array(o.initializer!.size)));
    const pruned = loadModel(TINYLLAMA);
    await prune(pruned, { layers: [5] });
    const text = 'Debian packages are built from source packages.';
    expect(Buffer.from((await logits(pruned, text)).buffer).equals(Buffer.from((await logits(zeroed, text)).buffer))).toBe(true);
    // Removing nothing is the identity too.
    const untouched = loadModel(TINYLLAMA);
    const { result } = await prune(untouched, { layers: [] });
    expect(result.modified).toBe(false);
  });

  it('the real cached export: prune 4 of 16, right signature, cached decode equals the uncached run', async () => {
    const model = loadModel(TINYLLAMA_KV);
    const { report } = await prune(model, { count: 4 });
    expect(report.removed).toHaveLength(4);
    expect(report.removed).not.toContain(0);
    expect(report.removed).not.toContain(15);
    const names = model.graph.inputs.map((v) => v.name);
    for (const l of report.removed) {
      expect(names).not.toContain(`past_key_values.${l}.key`);
      expect(model.graph.outputs.map((v) => v.name)).not.toContain(`present.${l}.value`);
    }
    expect(names.filter((n) => n.startsWith('past_key_values.'))).toHaveLength(24);
    expect(report.kvBytesPerTokenAfter / report.kvBytesPerTokenBefore).toBeCloseTo(12 / 16, 6);
    expect(report.parametersAfter).toBeLessThan(report.parametersBefore);

    const tokens = Array.from(Buffer.from('The maintainer scripts run as root during installation.'), Number);
    const runner = await DecoderRunner.create(model);
    let step = await runner.prefill(tokens.slice(0, 20));
    const cached: Float32Array[] = [step.next[0]!];
    for (let k = 20; k < 28; k++) {
      step = await runner.step(tokens[k]!);
      cached.push(step.next[0]!);
    }
    await runner.release();
    const full = await logits(model, Buffer.from(tokens.slice(0, 28)).toString('latin1'));
    for (let k = 0; k < cached.length; k++) {
      const pos = 19 + k;
      const ref = full.subarray(pos * 256, (pos + 1) * 256);
      let err = 0;
      for (let i = 0; i < 256; i++) err = Math.max(err, Math.abs(ref[i]! - cached[k]![i]!));
      expect(err).toBeLessThan(1e-4);
    }

    // KL on held-out text, reported.
    const cmp = await compareModels(loadModel(TINYLLAMA_KV), model, await heldout());
    expect(cmp.logits[0]!.klMean).toBeGreaterThan(0);
    expect(cmp.logits[0]!.klMean).toBeLessThan(0.5);
    console.log(`attn-prune count=4 on tinyllama-16l-kv: removed ${report.removed}, held-out KL ${cmp.logits[0]!.klMean.toFixed(4)}, top-1 ${(cmp.logits[0]!.top1 * 100).toFixed(1)}%`);
  });

  it('the real uncached export prunes the same layers and still runs', async () => {
    const model = loadModel(TINYLLAMA);
    const { report } = await prune(model, { count: 4 });
    const kv = loadModel(TINYLLAMA_KV);
    const { report: kvReport } = await prune(kv, { count: 4 });
    expect(report.removed).toEqual(kvReport.removed);
    const l = await logits(model, 'hello world');
    expect(l.every(Number.isFinite)).toBe(true);
  });

  it('keep-cache-io keeps the signature, with the removed layers passing their cache through', async () => {
    const model = loadModel(TINYLLAMA_KV);
    const before = { in: model.graph.inputs.map((v) => v.name), out: model.graph.outputs.map((v) => v.name) };
    await prune(model, { layers: [3], 'keep-cache-io': true });
    expect(model.graph.inputs.map((v) => v.name)).toEqual(before.in);
    expect(model.graph.outputs.map((v) => v.name)).toEqual(before.out);
    const present = model.graph.outputs.find((v) => v.name === 'present.3.key')!;
    expect(present.producer?.opType).toBe('Identity');
    expect(present.producer?.inputs[0]?.name).toBe('past_key_values.3.key');
    const s = await ModelSession.create(model);
    const feeds = sequenceFeeds(decoderSignature(model), [[72, 105]]).feeds;
    const past = new ort.Tensor('float32', Float32Array.from({ length: 2 * 5 * 24 }, (_, i) => i / 7), [1, 2, 5, 24]);
    feeds['past_key_values.3.key'] = past;
    const out = await s.run(feeds);
    await s.release();
    expect(out['present.3.key']!.dims).toEqual([1, 2, 5, 24]);
    expect(Array.from(out['present.3.key']!.data as Float32Array)).toEqual(Array.from(past.data as Float32Array));
  });

  it('scores computed elsewhere drive the rewrite without running the model', async () => {
    const dir = tempDir();
    const file = join(dir, 'scores.json');
    writeFileSync(file, JSON.stringify({ 'attn-prune': { scores: Array.from({ length: 16 }, (_, i) => ({ layer: i, score: i === 9 || i === 4 ? 0.001 : 0.5 })) } }));
    const model = loadModel(TINYLLAMA);
    const ctx = { log: () => {}, report: {} as Record<string, unknown>, services: {} };
    await attnPrune({ count: 2, scores: file }).run(model, ctx);
    const report = ctx.report['attn-prune'] as AttnPruneReport;
    expect(report.removed).toEqual([4, 9]);
    expect(report.method).toBe('given');
    expect(report.evaluations).toBe(0);
  });

  it('kl scoring and max-kl', async () => {
    const model = makeLlamaModel({ layers: 5, hidden: 32, heads: 4, kvHeads: 2, intermediate: 64, vocab: 256, seed: 5, attnScale: { 2: 1e-3 } });
    const { report } = await prune(model, { method: 'kl', count: 1 });
    expect(report.removed).toEqual([2]);
    expect(report.evaluations).toBe(4); // baseline + 3 unprotected layers
    const m2 = makeLlamaModel({ layers: 5, hidden: 32, heads: 4, kvHeads: 2, intermediate: 64, vocab: 256, seed: 5, attnScale: { 2: 1e-3 } });
    const { report: r2 } = await prune(m2, { count: 3, 'max-kl': 1e-4 });
    expect(r2.removed).toEqual([2]);
    expect(r2.maxKl!.reached).toBeLessThanOrEqual(1e-4);
  });

  it('greedy-kl removes the best layer, re-scores, repeats', async () => {
    const model = makeLlamaModel({ layers: 6, hidden: 32, heads: 4, kvHeads: 2, intermediate: 64, vocab: 256, seed: 8, attnScale: { 1: 1e-3, 3: 1e-3 } });
    const { report } = await prune(model, { method: 'greedy-kl', count: 2 });
    expect(report.removed).toEqual([1, 3]);
    expect(report.evaluations).toBe(1 + 4 + 3);
  });

  it('a cache input whose Shape gives the past length is pruned exactly: the Shape reads a kept cache', async () => {
    // torch.onnx computes the rotary offset from Shape(past_key_values.0.key): every cache has that length.
    const zeroed = loadModel(TINYLLAMA_KV);
    const o = analyzeDecoder(zeroed).layers[0]!.attention!.o!.weight;
    zeroed.graph.setInitializer(o, Tensor.fromArray(o.name, o.initializer!.dtype, o.initializer!.dims, new Float32Array(o.initializer!.size)));
    const pruned = loadModel(TINYLLAMA_KV);
    await prune(pruned, { layers: [0, 1], protect: [] });
    expect(pruned.graph.inputs.map((v) => v.name)).not.toContain('past_key_values.0.key');
    const shapes = pruned.graph.nodes.filter((n) => n.opType === 'Shape' && n.inputs[0]?.name.startsWith('past_'));
    expect(shapes.length).toBeGreaterThan(0);
    for (const n of shapes) expect(n.inputs[0]!.name).toMatch(/^past_key_values\.([2-9]|1[0-5])\./);
    const tokens = Array.from(Buffer.from('Configuration files are kept on upgrade.'), Number);
    const decode = async (m: Model) => {
      const runner = await DecoderRunner.create(m);
      const out: Float32Array[] = [(await runner.prefill(tokens.slice(0, 12))).next[0]!];
      for (let k = 12; k < 20; k++) out.push((await runner.step(tokens[k]!)).next[0]!);
      await runner.release();
      return out;
    };
    // Layer 1 stays in the reference; zeroing it too is what pruning [0, 1] means.
    const o1 = analyzeDecoder(zeroed).layers[1]!.attention!.o!.weight;
    zeroed.graph.setInitializer(o1, Tensor.fromArray(o1.name, o1.initializer!.dtype, o1.initializer!.dims, new Float32Array(o1.initializer!.size)));
    const [a, b] = [await decode(pruned), await decode(zeroed)];
    for (let k = 0; k < a.length; k++) for (let i = 0; i < 256; i++) expect(Math.abs(a[k]![i]! - b[k]![i]!)).toBeLessThan(1e-4);
    // With every other cache pruned too, nothing can stand in: refused with the reason.
    const all = Array.from({ length: 16 }, (_, i) => i);
    await expect(prune(loadModel(TINYLLAMA_KV), { layers: all, protect: [] })).rejects.toThrow(/past_key_values\.0\.key is also read by \/m\/Shape_1 for the rest of the model/);
  });

  it('refuses what it cannot do, with the reason', async () => {
    await expect(prune(loadModel(TINYLLAMA), { count: 20 })).rejects.toThrow(/only 14 are not protected/);
    await expect(prune(loadModel(TINYLLAMA), { count: 2, ratio: 0.5 })).rejects.toThrow(/only one of/);
  });
});
