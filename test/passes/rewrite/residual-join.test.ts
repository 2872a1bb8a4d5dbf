import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { loadModel } from '../../../src/io/read-model.js';
import { serializeModel } from '../../../src/io/write-model.js';
import { removeDeadNodes } from '../../../src/ir/dead-code.js';
import type { Model } from '../../../src/ir/model.js';
import { verifyModel } from '../../../src/ir/verifier.js';
import { analyzeDecoder } from '../../../src/passes/analysis/analyze-decoder.js';
import type { LayerInfo } from '../../../src/passes/analysis/layer-map.js';
import { sameStream } from '../../../src/passes/analysis/stream-casts.js';
import { removeAttention } from '../../../src/passes/attn-prune/remove-attention.js';
import { bypassSublayer, joinIn, rejoin } from '../../../src/passes/rewrite/residual-join.js';
import { cloneModel } from '../../../src/ir/clone.js';
import { toOrtTensor } from '../../../src/runtime/tensors.js';
import { listTestDataSets, readTestDataSet } from '../../../src/verify/golden.js';

/**
 * bypassSublayer and rejoin on real exports, one per join spelling: a plain Add (optimum), ORT's
 * fused SkipSimplifiedLayerNormalization (genai builder), Granite's scaled add and parallel blocks.
 * Each edit is run with onnxruntime against the references computed in torch on the same weights
 * (test/fixtures/exports/README.md): `attn-prune-L1` (layer 1's o_proj zeroed) and
 * `parallel-ffn-1-2` (layer 2's o_proj zeroed, h + FFN_1(N_1(h)) + FFN_2(N_2(h))).
 */

const ROOT = resolve(import.meta.dirname, '../../fixtures/exports');
const manifest = JSON.parse(readFileSync(join(ROOT, 'manifest.json'), 'utf8')) as { exports: { id: string; status?: string }[] };
const tolerance = (id: string) => (manifest.exports.find((e) => e.id === id)!.status === 'close' ? 2e-3 : 1e-3);
const load = (id: string) => loadModel(join(ROOT, id, 'model.onnx'));
const layer = (m: Model, i: number): LayerInfo => analyzeDecoder(m).layers.find((l) => l.index === i)!;

/** The worst max-abs logits error of `model` against each data set of reference `name`. */
async function logitsError(id: string, model: Model, name: string): Promise<number> {
  expect(verifyModel(model)).toEqual([]);
  const s = await ort.InferenceSession.create(serializeModel(model), { intraOpNumThreads: 1, interOpNumThreads: 1 });
  let worst = 0;
  try {
    for (const dir of listTestDataSets(join(ROOT, id, 'references', name))) {
      const data = readTestDataSet(dir);
      const feeds = Object.fromEntries(data.inputs.filter((t) => s.inputNames.includes(t.name)).map((t) => [t.name, toOrtTensor(t)]));
      const got = (await s.run(feeds)).logits!.data as Float32Array;
      const want = data.outputs.find((t) => t.name === 'logits')!.toArray() as Float32Array;
      expect(got.length).toBe(want.length);
      for (let i = 0; i < got.length; i++) worst = Math.max(worst, Math.abs(got[i]! - want[i]!));
    }
  } finally {
    await s.release();
  }
  return worst;
}

/**
 * `h + FFN_1(N_1(h)) + FFN_2(N_2(h))` with layer 2's attention removed, then the joins alone, the
 * way ffn-fuse rejoins a group: layer 2's FFN join adds `f_1 + f_2` to h, then layer 1's FFN join
 * is bypassed, so N_2 reads h.
 */
function parallelFfns(m: Model): void {
  // attn-prune's removal (bypassSublayer, then the KV outputs go and the sweep): with its cache
  // outputs kept, the attention's norm would still read f_1 (genai: Skip(h, f_1) twice).
  removeAttention(m, layer(m, 2));
  const [l1, l2] = [layer(m, 1), layer(m, 2)];
  const j1 = l1.ffn!.join!;
  const j2 = l2.ffn!.join!;
  const sum = m.graph.addNode({ opType: 'Add', inputs: [j1.contribution, j2.contribution], outputs: ['ffn_1_plus_2'], before: j2.at.node });
  rejoin(m, j2, { contribution: sum.output(0), stream: j1.stream, name: 'test' });
  bypassSublayer(m, j1);
  removeDeadNodes(m);
}

describe('plain Add joins (optimum llama)', () => {
  const id = 'optimum/llama';

  it('the LayerMap describes each join as an Add of the contribution to the stream', () => {
    for (const l of analyzeDecoder(load(id)).layers) {
      for (const j of [l.attention!.join!, l.ffn!.join!]) {
        expect(j.at.node.opType).toBe('Add');
        expect(j.at.fusedNorm).toBeUndefined();
        expect(j.at.node.inputs[j.slot]).toBe(j.contribution);
        expect(j.at.node.inputs[1 - j.slot]).toBe(j.stream);
        expect(j.parallel).toBe(false);
      }
      // The FFN norm may read the stream through a no-op Cast.
      expect(sameStream(l.attention!.join!.out!, l.residualMid)).toBe(true);
      expect(l.ffn!.join!.out).toBe(l.residualOut);
    }
  });

  it("bypassing layer 1's attention equals the model with its o_proj zeroed", async () => {
    const m = load(id);
    bypassSublayer(m, layer(m, 1).attention!.join!);
    removeDeadNodes(m);
    expect(await logitsError(id, m, 'attn-prune-L1')).toBeLessThan(tolerance(id));
    // The reference is far from the unedited model: the comparison can fail.
    expect(await logitsError(id, load(id), 'attn-prune-L1')).toBeGreaterThan(100 * tolerance(id));
  });

  it('keepJoin adds zeros instead, in a copy, keeping every value name', async () => {
    const m = load(id);
    const names = new Set([...m.graph.values()].map((v) => v.name));
    const copy = cloneModel(m);
    bypassSublayer(copy, joinIn(copy, m, layer(m, 1).attention!.join!), { keepJoin: true, name: 'removed' });
    const kept = new Set([...copy.graph.values()].map((v) => v.name));
    expect([...names].filter((n) => !kept.has(n))).toEqual([]);
    expect(await logitsError(id, copy, 'attn-prune-L1')).toBeLessThan(tolerance(id));
    // The original is untouched.
    expect(await logitsError(id, m, 'original')).toBeLessThan(tolerance(id));
  });

  it('rejoining layer 2 to h with f_1 + f_2 and bypassing f_1 gives the torch parallel form', async () => {
    const m = load(id);
    parallelFfns(m);
    expect(await logitsError(id, m, 'parallel-ffn-1-2')).toBeLessThan(tolerance(id));
    expect(await logitsError(id, load(id), 'parallel-ffn-1-2')).toBeGreaterThan(100 * tolerance(id));
  });
});

describe('fused Skip norm joins (genai llama)', () => {
  const id = 'genai/llama';

  it('the LayerMap describes each join as a Skip norm whose output 3 is the stream', () => {
    const layers = analyzeDecoder(load(id)).layers;
    for (const l of layers) {
      for (const j of [l.attention!.join!, l.ffn!.join!]) {
        expect(j.at.node.opType).toBe('SkipSimplifiedLayerNormalization');
        expect(j.at.fusedNorm?.unfused.opType).toBe('SimplifiedLayerNormalization');
        expect(j.at.sum).toBe(j.at.node.outputs[3]);
        expect(j.at.node.inputs[1 - j.slot]).toBe(j.stream);
      }
    }
    // The last FFN joins in the final norm, whose sum nobody reads.
    expect(layers[layers.length - 1]!.ffn!.join!.out).toBeUndefined();
  });

  it("bypassing layer 1's attention (the FFN norm takes over the previous residual add) equals the zeroed o_proj", async () => {
    const m = load(id);
    bypassSublayer(m, layer(m, 1).attention!.join!);
    removeDeadNodes(m);
    expect(m.graph.nodes.filter((n) => n.opType === 'SimplifiedLayerNormalization' && n.getMetadata('onnx-opt.rule'))).toEqual([]);
    expect(await logitsError(id, m, 'attn-prune-L1')).toBeLessThan(tolerance(id));
    expect(await logitsError(id, load(id), 'attn-prune-L1')).toBeGreaterThan(100 * tolerance(id));
  });

  it("bypassing layer 0's attention turns its FFN norm into a plain norm of the embeddings", async () => {
    const m = load(id);
    const before = m.graph.nodes.filter((n) => n.opType === 'SimplifiedLayerNormalization').length;
    bypassSublayer(m, layer(m, 0).attention!.join!, { rule: 'test' });
    removeDeadNodes(m);
    expect(m.graph.nodes.filter((n) => n.opType === 'SimplifiedLayerNormalization')).toHaveLength(before + 1);
    const l0 = layer(m, 0);
    expect(l0.attention).toBeUndefined();
    expect(l0.ffn!.norm.nodes[0]!.getMetadata('onnx-opt.rule')).toBe('test');
  });

  it('rejoining layer 2 to h with f_1 + f_2 and bypassing f_1 gives the torch parallel form', async () => {
    const m = load(id);
    parallelFfns(m);
    expect(await logitsError(id, m, 'parallel-ffn-1-2')).toBeLessThan(tolerance(id));
  });
});

describe("Granite's scaled add (optimum granite)", () => {
  const id = 'optimum/granite';

  it('records the residual multiplier; rejoin and bypass work on the scaled contributions', async () => {
    const m = load(id);
    const j = layer(m, 1).ffn!.join!;
    expect(j.scale?.factor).toBeGreaterThan(0);
    expect(j.scale!.node.output(0)).toBe(j.contribution);
    expect(layer(m, 1).attention!.join!.scale?.factor).toBe(j.scale!.factor);
    parallelFfns(m);
    expect(await logitsError(id, m, 'parallel-ffn-1-2')).toBeLessThan(tolerance(id));
  });
});

describe('parallel blocks', () => {
  it.each(['optimum/phi', 'genai/phi'])("%s: bypassing layer 1's attention in x + a + f equals the zeroed o_proj", async (id) => {
    const m = load(id);
    const j = layer(m, 1).attention!.join!;
    expect(j.parallel).toBe(true);
    expect(layer(m, 1).ffn!.join!.parallel).toBe(true);
    bypassSublayer(m, j);
    removeDeadNodes(m);
    expect(await logitsError(id, m, 'attn-prune-L1')).toBeLessThan(tolerance(id));
  });
});
