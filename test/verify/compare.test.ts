import type * as ort from 'onnxruntime-node';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadModel } from '../../src/io/read-model.js';
import { DataType } from '../../src/ir/dtype.js';
import type { Model } from '../../src/ir/model.js';
import { Tensor } from '../../src/ir/tensor.js';
import { fromTextBytes } from '../../src/runtime/calibration/index.js';
import { decoderSignature, sequenceFeeds } from '../../src/runtime/decoder-inputs.js';
import { copyModel } from '../../src/runtime/probes.js';
import { withSession } from '../../src/runtime/session.js';
import { compareModels, formatComparison } from '../../src/verify/compare.js';
import { MODELS, TINYLLAMA, TINYLLAMA_KV } from '../helpers/paths.js';

const V = 256;

/** A copy with layer `layer`'s down_proj weight scaled by `k`. */
function perturbed(model: Model, layer: number, k: number): Model {
  const m = copyModel(model);
  const mm = m.graph.findNode(`/m/layers.${layer}/mlp/down_proj/MatMul`)!;
  const w = mm.input(1)!;
  const data = Float32Array.from(w.initializer!.toArray() as Float32Array, (x) => x * k);
  m.graph.setInitializer(w, Tensor.fromArray(w.name, DataType.FLOAT, w.initializer!.dims, data));
  return m;
}

/** Raw logits of a model on equal-length sequences. */
async function logitsOf(model: Model, seqs: number[][]): Promise<Float32Array> {
  const feeds = sequenceFeeds(decoderSignature(model), seqs).feeds;
  return withSession(model, {}, async (s) => (await s.run(feeds))['logits']!.data as Float32Array);
}

describe('compareModels', () => {
  let model: Model;
  let seqs: number[][];
  beforeAll(() => {
    model = loadModel(TINYLLAMA);
    seqs = fromTextBytes(`${MODELS}/calib.txt`, { numSequences: 4, sequenceLength: 32 }).sequences;
  });

  it('identical models: KL 0, top-1 1, no error, passes', async () => {
    const data = fromTextBytes(`${MODELS}/calib.txt`, { numSequences: 4, sequenceLength: 32 });
    const r = await compareModels(model, copyModel(model), data, { batchSize: 2, thresholds: { maxKl: 0, minTop1: 1, maxAbs: 0 } });
    expect(r.runs).toBe(2);
    expect(r.outputs).toHaveLength(1);
    expect(r.outputs[0]).toMatchObject({ name: 'logits', maxAbs: 0, maxRel: 0, elements: 4 * 32 * V, nanMismatches: 0 });
    expect(r.outputs[0]!.cosine).toBeCloseTo(1, 12);
    expect(r.logits).toHaveLength(1);
    const l = r.logits[0]!;
    expect(l).toMatchObject({ output: 'logits', positions: 128, klMean: 0, klP95: 0, klMax: 0, top1: 1, scoredTokens: 4 * 31, perplexityRatio: 1 });
    expect(l.perplexityA).toBeGreaterThan(1);
    expect(l.perplexityA).toBeLessThan(V);
    expect(r.passed).toBe(true);
    expect(r.breaches).toEqual([]);
    expect(r.source?.kind).toBe('text-bytes');
    const text = formatComparison(r);
    expect(text).toMatch(/max abs/);
    expect(text).toMatch(/top-1 agreement\s+100\.00%/);
    expect(text).toMatch(/PASSED/);
  });

  it('a perturbed down_proj: KL > 0, equal to a hand computation from the raw logits', async () => {
    const b = perturbed(model, 7, 1.5);
    const r = await compareModels(model, b, seqs, { batchSize: 4, thresholds: { maxKl: 1e-9, minTop1: 1, maxAbs: 1e-6 }, labels: ['orig', 'opt'] });
    const [la, lb] = await Promise.all([logitsOf(model, seqs), logitsOf(b, seqs)]);

    // Independent hand computation: probabilities, KL = Σ p ln(p/q), argmax, NLL.
    const softmax = (x: Float32Array, off: number) => {
      let m = -Infinity;
      for (let i = 0; i < V; i++) m = Math.max(m, x[off + i]!);
      const e = Array.from({ length: V }, (_, i) => Math.exp(x[off + i]! - m));
      const s = e.reduce((u, v) => u + v, 0);
      return e.map((v) => v / s);
    };
    const kls: number[] = [];
    let agree = 0;
    let nllA = 0;
    let nllB = 0;
    let maxAbs = 0;
    for (let i = 0; i < la.length; i++) maxAbs = Math.max(maxAbs, Math.abs(la[i]! - lb[i]!));
    for (let row = 0; row < 4; row++) {
      for (let t = 0; t < 32; t++) {
        const off = (row * 32 + t) * V;
        const p = softmax(la, off);
        const q = softmax(lb, off);
        kls.push(p.reduce((s, pi, i) => s + (pi > 0 ? pi * Math.log(pi / q[i]!) : 0), 0));
        if (p.indexOf(Math.max(...p)) === q.indexOf(Math.max(...q))) agree++;
        if (t < 31) {
          nllA -= Math.log(p[seqs[row]![t + 1]!]!);
          nllB -= Math.log(q[seqs[row]![t + 1]!]!);
        }
      }
    }
    const mean = kls.reduce((s, k) => s + k, 0) / kls.length;
    const l = r.logits[0]!;
    expect(l.klMean).toBeGreaterThan(1e-4);
    expect(l.klMean).toBeCloseTo(mean, 9);
    expect(l.klMax).toBeCloseTo(Math.max(...kls), 9);
    const sorted = [...kls].sort((x, y) => x - y);
    expect(l.klP95).toBeGreaterThanOrEqual(sorted[Math.floor(0.95 * 127)]! - 1e-12);
    expect(l.klP95).toBeLessThanOrEqual(sorted[Math.ceil(0.95 * 127)]! + 1e-12);
    expect(l.top1).toBeCloseTo(agree / 128, 12);
    expect(l.perplexityA).toBeCloseTo(Math.exp(nllA / 124), 6);
    expect(l.perplexityB).toBeCloseTo(Math.exp(nllB / 124), 6);
    expect(r.outputs[0]!.maxAbs).toBeCloseTo(maxAbs, 6);
    expect(r.outputs[0]!.cosine).toBeLessThan(1);

    expect(r.passed).toBe(false);
    const metrics = r.breaches.map((x) => x.metric);
    expect(metrics).toContain('maxKl');
    expect(metrics).toContain('maxAbs');
    expect(metrics.includes('minTop1')).toBe(agree < 128);
    const text = formatComparison(r);
    expect(text).toMatch(/FAILED/);
    expect(text).toMatch(/mean KL/);
    expect(text).toMatch(/perplexity opt\/orig/);
  });

  it('compares feed records across signatures (KV export vs uncached export)', async () => {
    const kv = loadModel(TINYLLAMA_KV);
    const feeds: Record<string, ort.Tensor>[] = [sequenceFeeds(decoderSignature(kv), seqs.slice(0, 2)).feeds];
    const r = await compareModels(kv, model, feeds, { thresholds: { maxKl: 1e-6, minTop1: 1, maxAbs: 1e-3 } });
    expect(r.outputs.map((o) => o.name)).toEqual(['logits']);
    expect(r.onlyInA).toHaveLength(32);
    expect(r.onlyInB).toEqual([]);
    expect(r.logits[0]!.scoredTokens).toBe(62);
    expect(r.logits[0]!.perplexityRatio).toBeCloseTo(1, 4);
    expect(r.passed).toBe(true);
    expect(formatComparison(r)).toMatch(/only in a: present\.0\.key/);
  });
});
