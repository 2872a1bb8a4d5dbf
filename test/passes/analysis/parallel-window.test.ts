import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { planDecoder } from '../../../src/codegen/ts-runner/decoder.js';
import { blockParallel as blockParallelApi, originalLayerCount as originalLayerCountApi } from '../../../src/index.js';
import { loadModel } from '../../../src/io/read-model.js';
import type { Model } from '../../../src/ir/model.js';
import { analyzeDecoder } from '../../../src/passes/analysis/analyze-decoder.js';
import { formatLayerTable, layerRows } from '../../../src/passes/analysis/format.js';
import { hasAttention, originalLayerCount } from '../../../src/passes/analysis/layer-map.js';
import { attnPrune, kvBytesPerToken, type AttnPruneReport } from '../../../src/passes/attn-prune/attn-prune.js';
import { blockParallel } from '../../../src/passes/block-parallel/block-parallel.js';
import { candidateRuns } from '../../../src/passes/ffn-fusion/candidates.js';
import { depth } from '../../../src/passes/ffn-fusion/ffn-fuse.js';
import { changedSegments } from '../../../src/passes/heal/segments.js';
import { copyModel } from '../../../src/runtime/probes.js';
import { TINYLLAMA, tempDir } from '../../helpers/paths.js';

const EXPORTS = join(import.meta.dirname, '../../fixtures/exports');

async function parallelized(model: Model, options: Record<string, unknown>): Promise<Model> {
  const m = copyModel(model);
  await blockParallel(options as Parameters<typeof blockParallel>[0]).run(m, { log: () => {}, report: {}, services: {} });
  return m;
}

describe('the layer map of a block-parallel window with separate attentions (merge-heads=false)', () => {
  for (const [spelling, path] of [
    ['optimum', 'optimum/llama-kv/model.onnx'],
    ['genai', 'genai/llama/model.onnx'],
  ] as const) {
    it(`${spelling}: one entry for layers 1-2 with both attentions, each reading the window input and owning its own cache`, async () => {
      const base = await loadModel(join(EXPORTS, path));
      const before = analyzeDecoder(base);
      const model = await parallelized(base, { windows: [[1, 2]], 'merge-heads': false });
      const map = analyzeDecoder(model);
      expect(map.unrecognized).toEqual([]);
      expect(map.layers.map((l) => l.index)).toEqual([0, 1, 3]);
      const w = map.layers[1]!;
      expect(w.span).toEqual([1, 2]);
      expect(w.attention).toBeUndefined();
      expect(w.parallel).toBe(false);
      expect(hasAttention(w)).toBe(true);
      expect(w.attentions).toHaveLength(2);
      for (const [t, a] of w.attentions!.entries()) {
        // The window input is layer 1's input stream of the original model (the rewrite keeps it).
        expect(a.join?.stream).toBe(w.residualIn);
        const own = before.layers[1 + t]!.attention!;
        const weights = (x: typeof a) => [x.q, x.k, x.v, x.o, x.qkv].map((r) => r?.weight.name);
        expect(weights(a)).toEqual(weights(own));
        expect(a.o).toBeDefined();
        expect([a.heads, a.kvHeads, a.op]).toEqual([own.heads, own.kvHeads, own.op]);
        expect(a.cacheInputs.map((v) => v.name).sort()).toEqual([`past_key_values.${1 + t}.key`, `past_key_values.${1 + t}.value`]);
        expect(a.cacheOutputs.map((v) => v.name).sort()).toEqual([`present.${1 + t}.key`, `present.${1 + t}.value`]);
      }
      expect(w.attentions![0]!.join!.parallel).toBe(false);
      expect(w.attentions![1]!.join!.parallel).toBe(true);
      // One attention step and one FFN step for the window, as block-parallel reports.
      expect(depth(map)).toBe(depth(before) - 2);
      expect(originalLayerCount(map)).toBe(4);
      expect(kvBytesPerToken(model, map)).toBe(kvBytesPerToken(base, before));
      // Not an attention-free run for ffn-fuse.
      expect(candidateRuns(map)).toEqual([]);
      // inspect --layers
      const row = layerRows(map)[1]!;
      expect(row.parallelAttentions).toBe(2);
      expect(row.kv).toHaveLength(8);
      expect(formatLayerTable(map)).toMatch(/\n1-2 .*×2 parallel/);
      // The generated runner still knows which layer owns each cache pair.
      const plan = planDecoder(model).plan!;
      expect(plan.cache.map((c) => c.layer)).toEqual(plan.cache.map((c) => Number(/\.(\d+)\./.exec(c.past)![1])));
      expect(plan.layersWithoutCache).toEqual([]);
      // heal compares with the input model: no attention is missing; the window's fused FFN is the one changed sublayer.
      const segments = changedSegments(before, map);
      expect(typeof segments).not.toBe('string');
      expect((segments as Exclude<typeof segments, string>).map((s) => ({ kind: s.kind, layer: s.layer, part: s.part, removed: s.removedAttention }))).toEqual([{ kind: 'fused-ffn', layer: 1, part: 'ffn', removed: [] }]);
    });
  }

  it('attn-prune leaves the window alone: an explicit layer in it is refused naming the window, scores skip it', async () => {
    const model = await parallelized(await loadModel(join(EXPORTS, 'optimum/llama-kv/model.onnx')), { windows: [[1, 2]], 'merge-heads': false });
    const logs: string[] = [];
    const ctx = { log: (s: string) => logs.push(s), report: {} as Record<string, unknown>, services: {} };
    await expect(attnPrune({ layers: [2], protect: [] }).run(copyModel(model), ctx)).rejects.toThrow(/^attn-prune: layer 2: layers 1-2 run their attentions in parallel \(block-parallel with merge-heads=false\); attn-prune leaves such a window alone$/);
    expect(logs).toContain('layers 1-2 run their attentions in parallel (block-parallel with merge-heads=false): left alone');
    // block-parallel again over the window says so.
    await expect(blockParallel({ windows: [[2, 3]] }).run(copyModel(model), ctx)).rejects.toThrow(/^block-parallel: window \[2,3\]: layers 1-2 run their attentions in parallel \(block-parallel with merge-heads=false\): already parallel$/);
    await expect(blockParallel({ windows: [[1, 3]], 'merge-heads': false }).run(copyModel(model), ctx)).rejects.toThrow(/^block-parallel: window \[1,3\]: layers 1-2 run their attentions in parallel \(block-parallel with merge-heads=false\): already parallel$/);
  });
});

describe('block-parallel windows with fuse-ffn=false (FFNs side by side) are reported unrecognized, not misread', () => {
  for (const mergeHeads of [false, true]) {
    it(`merge-heads=${mergeHeads}: layers 1 and 2 are unrecognized with the reason; 0 and 3 are as before`, async () => {
      const model = await parallelized(await loadModel(join(EXPORTS, 'optimum/llama-kv/model.onnx')), { windows: [[1, 2]], 'merge-heads': mergeHeads, 'fuse-ffn': false });
      const map = analyzeDecoder(model);
      expect(map.layers.map((l) => l.index)).toEqual([0, 3]);
      expect(map.unrecognized.map((u) => u.index)).toEqual([1, 2]);
      for (const u of map.unrecognized) expect(u.reason).toMatch(/side by side \(block-parallel with fuse-ffn=false\)/);
      expect(originalLayerCount(map)).toBe(4);
    });
  }
});

describe('-1 in protect means the last layer of the model, by original index', () => {
  it('attn-prune after block-parallel on the 16-layer trained model protects layer 15 (the map has 14 entries)', async () => {
    const model = await parallelized(await loadModel(TINYLLAMA), { windows: [[4, 5], [8, 9]] });
    const map = analyzeDecoder(model);
    expect(map.layers).toHaveLength(14);
    expect(originalLayerCount(map)).toBe(16);
    // Layer 15 scores lowest, layer 13 next: with -1 resolved to 15, count=1 removes 13.
    const scores = [...Array(16).keys()].map((layer) => ({ layer, score: layer === 15 ? 0.001 : layer === 13 ? 0.002 : 0.5 + layer / 100 }));
    const file = join(tempDir(), 'scores.json');
    writeFileSync(file, JSON.stringify({ 'attn-prune': { scores } }));
    const ctx = { log: () => {}, report: {} as Record<string, unknown>, services: {} };
    await attnPrune({ count: 1, scores: file }).run(model, ctx);
    const r = ctx.report['attn-prune'] as AttnPruneReport;
    expect(r.removed).toEqual([13]);
    expect(r.scores.find((s) => s.layer === 15)!.protected).toBe(true);
    // A window layer has no single attention to score, so it is not among the scores.
    expect(r.scores.map((s) => s.layer)).not.toContain(5);
  });

  it('block-parallel resolves its windows and protect the same way, and is exported from the API', async () => {
    expect(blockParallelApi).toBe(blockParallel);
    expect(originalLayerCountApi).toBe(originalLayerCount);
    const once = await parallelized(await loadModel(TINYLLAMA), { windows: [[4, 5], [8, 9]] });
    // [-2,-1] is layers 14-15, not 12-13 (which the 14-entry map would give).
    const ctx = { log: () => {}, report: {} as Record<string, unknown>, services: {} };
    await blockParallel({ windows: [[-2, -1]] }).run(once, ctx);
    expect((ctx.report['block-parallel'] as { windows: { window: number[] }[] }).windows.map((w) => w.window)).toEqual([[14, 15]]);
    expect(analyzeDecoder(once).layers.map((l) => l.span ?? l.index)).toEqual([0, 1, 2, 3, [4, 5], 6, 7, [8, 9], 10, 11, 12, 13, [14, 15]]);
  });
});
