import { createHash } from 'node:crypto';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { makeDynamoModel } from '../../../src/fixtures/dynamo.js';
import { GraphBuilder } from '../../../src/ir/builder.js';
import { DataType } from '../../../src/ir/dtype.js';
import { makeGenaiModel } from '../../../src/fixtures/genai.js';
import { makeLlamaModel } from '../../../src/fixtures/llama.js';
import { loadModel } from '../../../src/io/read-model.js';
import type { Model } from '../../../src/ir/model.js';
import { printModel } from '../../../src/ir/printer.js';
import { verifyModel } from '../../../src/ir/verifier.js';
import { analyzeDecoder } from '../../../src/passes/analysis/analyze-decoder.js';
import { blockParallel, type BlockParallelReport } from '../../../src/passes/block-parallel/block-parallel.js';
import { selectWindows } from '../../../src/passes/block-parallel/block-matrix.js';
import { parallelizeWindow } from '../../../src/passes/block-parallel/parallelize.js';
import { planSlices } from '../../../src/runtime/blocks/plan.js';
import { openSlice } from '../../../src/runtime/blocks/slice-session.js';
import { fromTextBytes } from '../../../src/runtime/calibration/index.js';
import { DecoderRunner, decoderSignature, sequenceFeeds } from '../../../src/runtime/decoder-inputs.js';
import { copyModel } from '../../../src/runtime/probes.js';
import { toFloat64 } from '../../../src/verify/metrics.js';
import { modelLogits as logits } from '../../helpers/ort.js';
import { MODELS, TINYLLAMA, TINYLLAMA_KV } from '../../helpers/paths.js';

const TOKENS = Array.from(Buffer.from('dpkg --configure -a finishes interrupted installs; '));
const calib = () => fromTextBytes(join(MODELS, 'calib.txt'), { numSequences: 4, sequenceLength: 48 });

async function parallelize(model: Model, options: Parameters<typeof blockParallel>[0], services: Record<string, unknown> = {}) {
  const m = copyModel(model);
  const ctx = { log: () => {}, report: {} as Record<string, unknown>, services };
  const result = await blockParallel(options).run(m, ctx);
  expect(verifyModel(m)).toEqual([]);
  return { model: m, result, report: ctx.report['block-parallel'] as BlockParallelReport };
}


/** Logits of a prefill then `steps` cached decode steps, concatenated. */
async function decodeLogits(model: Model, tokens: number[], steps: number): Promise<Float32Array> {
  const r = await DecoderRunner.create(model);
  try {
    const parts = [(await r.prefill(tokens.slice(0, tokens.length - steps))).next[0]!];
    for (let s = steps; s > 0; s--) parts.push((await r.step(tokens[tokens.length - s]!)).next[0]!);
    return Float32Array.from(parts.flatMap((p) => [...p]));
  } finally {
    await r.release();
  }
}

function maxAbs(a: Float32Array, b: Float32Array): number {
  expect(a.length).toBe(b.length);
  let e = 0;
  for (let i = 0; i < a.length; i++) e = Math.max(e, Math.abs(a[i]! - b[i]!));
  return e;
}

/**
 * The parallel form computed independently of the rewrite: the original model cut into one slice per
 * sublayer (block-wise calibration's slicer), each sublayer run by ORT on the stream the formula
 * says it reads: `x' = x + Σ_t (Attn_t slice(x) − x)`, `x'' = x' + Σ_t (FFN_t slice(x') − x')`.
 */
async function sliceReference(model: Model, window: [number, number], tokens: number[]): Promise<Float32Array> {
  const map = analyzeDecoder(model);
  const layers = map.layers.filter((l) => l.index >= window[0] && l.index <= window[1]);
  const cuts = [layers[0]!.residualIn.name, ...layers.flatMap((l) => [l.residualMid.name, l.residualOut.name])];
  const plan = planSlices(model, cuts, ['logits']);
  expect(plan.boundaries).toEqual(cuts);
  const feeds = sequenceFeeds(decoderSignature(model), [tokens]).feeds;
  const runSlice = async (index: number, stream: ort.Tensor | undefined): Promise<ort.Tensor> => {
    const slice = plan.slices[index]!;
    const s = await openSlice(plan, slice, slice.outputs, {});
    try {
      const input: Record<string, ort.Tensor> = {};
      for (const name of slice.inputs) input[name] = name === slice.start ? stream! : feeds[name]!;
      return (await s.run(input))[slice.end ?? 'logits']!;
    } finally {
      await s.release();
    }
  };
  const f32 = (t: ort.Tensor) => t.data as Float32Array;
  const tensor = (d: Float32Array, like: ort.Tensor) => new ort.Tensor('float32', d, like.dims);
  const x = await runSlice(0, undefined);
  const sumOfSublayers = async (stream: ort.Tensor, first: number) => {
    const out = Float32Array.from(f32(stream));
    for (let t = 0; t < layers.length; t++) {
      const y = f32(await runSlice(first + 2 * t, stream));
      for (let i = 0; i < out.length; i++) out[i] = out[i]! + (y[i]! - f32(stream)[i]!);
    }
    return tensor(out, stream);
  };
  const xMid = await sumOfSublayers(x, 1);
  const xOut = await sumOfSublayers(xMid, 2);
  return Float32Array.from(toFloat64(await runSlice(plan.slices.length - 1, xOut)));
}

function digest(model: Model): string {
  const h = createHash('sha256').update(printModel(model));
  for (const v of model.graph.initializers.values()) h.update(v.initializer!.bytes());
  return h.digest('hex');
}

describe('block-parallel on a generator model (torchscript spelling, GQA 4/2)', () => {
  const model = makeLlamaModel({ layers: 6, hidden: 48, heads: 4, kvHeads: 2, intermediate: 64, vocab: 256, seed: 21 });

  it('the unmerged parallel form is the formula (ORT slices of the original), and the wide layer equals it', async () => {
    const before = digest(model);
    const parallel = await parallelize(model, { windows: [[2, 4]], 'merge-heads': false, 'fuse-ffn': false });
    const wide = await parallelize(model, { windows: [[2, 4]] });
    expect(digest(model)).toBe(before);
    const ref = await sliceReference(model, [2, 4], TOKENS);
    const p = await logits(parallel.model, TOKENS);
    expect(maxAbs(p, ref)).toBeLessThan(1e-4);
    expect(maxAbs(await logits(wide.model, TOKENS), p)).toBeLessThan(1e-4);
    // and it is not the original model
    expect(maxAbs(await logits(model, TOKENS), p)).toBeGreaterThan(1e-3);
    expect(wide.report.windows).toEqual([{ window: [2, 4], heads: 12, kvHeads: 6, ffnFused: true }]);
    expect(wide.report.depthAfter).toBe(wide.report.depthBefore - 4);
    // One attention's projections and one FFN for layers 2-4: three fewer MatMuls per sublayer kind, minus nothing else.
    const matmuls = (m: Model) => m.graph.nodes.filter((n) => n.opType === 'MatMul' && n.inputs[1]?.initializer).length;
    expect(matmuls(model) - matmuls(wide.model)).toBe(2 * (4 + 3));
  });

  it('with a KV cache: one widened past/present pair, equal logits over prefill and decode steps', async () => {
    const kv = makeLlamaModel({ layers: 6, hidden: 48, heads: 4, kvHeads: 2, intermediate: 64, vocab: 256, seed: 21, kvCache: true });
    const parallel = await parallelize(kv, { windows: [[1, 2], [3, 4]], 'merge-heads': false, 'fuse-ffn': false });
    const wide = await parallelize(kv, { windows: [[1, 2], [3, 4]] });
    const p = await decodeLogits(parallel.model, TOKENS, 4);
    expect(maxAbs(await decodeLogits(wide.model, TOKENS, 4), p)).toBeLessThan(1e-4);
    // Cached decode agrees with the uncached parallel form too.
    const full = await logits(parallel.model, TOKENS);
    const vocab = 256;
    const lastRows = full.slice(full.length - 5 * vocab);
    expect(maxAbs(p, lastRows)).toBeLessThan(1e-4);
    const names = (vs: { name: string }[]) => vs.map((v) => v.name);
    expect(names(wide.model.graph.inputs).filter((n) => n.startsWith('past'))).toEqual(['past_key_values.0.key', 'past_key_values.0.value', 'past_key_values.1.key', 'past_key_values.1.value', 'past_key_values.3.key', 'past_key_values.3.value', 'past_key_values.5.key', 'past_key_values.5.value']);
    expect(wide.report.cache.removedInputs.sort()).toEqual(['past_key_values.2.key', 'past_key_values.2.value', 'past_key_values.4.key', 'past_key_values.4.value']);
    expect(wide.report.cache.removedOutputs.sort()).toEqual(['present.2.key', 'present.2.value', 'present.4.key', 'present.4.value']);
    const past1 = wide.model.graph.inputs.find((v) => v.name === 'past_key_values.1.key')!;
    expect(past1.type?.kind === 'tensor' && past1.type.shape?.[1]).toBe(4);
    expect(wide.report.cache.resized.map((r) => r.name).sort()).toEqual(['past_key_values.1.key', 'past_key_values.1.value', 'past_key_values.3.key', 'past_key_values.3.value', 'present.1.key', 'present.1.value', 'present.3.key', 'present.3.value']);
    // merge-heads=false keeps every layer's cache.
    expect(parallel.model.graph.inputs.length).toBe(kv.graph.inputs.length);
  });

  it('the dynamo spelling (view with -1, repeat_kv by Expand) merges too', async () => {
    const dyn = makeDynamoModel({ layers: 4, hidden: 48, heads: 4, kvHeads: 2, intermediate: 64, vocab: 256, seed: 5, kvCache: true });
    const parallel = await parallelize(dyn, { windows: [[1, 2]], 'merge-heads': false, 'fuse-ffn': false });
    const wide = await parallelize(dyn, { windows: [[1, 2]] });
    expect(maxAbs(await decodeLogits(wide.model, TOKENS, 3), await decodeLogits(parallel.model, TOKENS, 3))).toBeLessThan(1e-4);
  });
});

describe('block-parallel on the genai builder spelling (Skip-norm joins, GroupQueryAttention)', () => {
  // The genai fixture has the llama fixture's weights for one seed: their parallel forms must agree.
  const opts = { layers: 5, hidden: 64, heads: 4, kvHeads: 2, intermediate: 96, vocab: 256, seed: 4 };

  it('merge-heads=false: fused norms become plain norms of x and x\', the last Skip norm adds the sum; FFNs fuse', async () => {
    const llama = await parallelize(makeLlamaModel({ ...opts, kvCache: true }), { windows: [[1, 3]], 'merge-heads': false, 'fuse-ffn': false });
    const genai = makeGenaiModel({ ...opts, kvCache: true } as Parameters<typeof makeGenaiModel>[0]);
    const reference = await logits(llama.model, TOKENS);
    const decoded = await decodeLogits(llama.model, TOKENS, 3);
    for (const fuse of [false, true]) {
      const r = await parallelize(genai, { windows: [[1, 3]], 'merge-heads': false, 'fuse-ffn': fuse });
      expect(maxAbs(await logits(r.model, TOKENS), reference)).toBeLessThan(1e-4);
      expect(maxAbs(await decodeLogits(r.model, TOKENS, 3), decoded)).toBeLessThan(1e-4);
      expect(r.report.windows[0]).toEqual({ window: [1, 3], ffnFused: fuse });
      // Every layer keeps its cache: genai_config.json's uniform head count still holds.
      expect(r.model.graph.inputs.map((v) => v.name)).toEqual(genai.graph.inputs.map((v) => v.name));
    }
    // Scored: removing a whole block behind Skip-norm joins is measured too.
    const scored = await parallelize(genai, { count: 1, 'merge-heads': false }, { calibration: await calib() });
    expect(scored.report.scores.map((x) => x.window)).toEqual([[1, 2], [2, 3]]);
    expect(scored.report.windows.map((w) => w.window)).toEqual([selectWindows(scored.report.scores, 1)[0]!.window]);
  });
});

describe('block-parallel on committed real exports (optimum)', () => {
  const exported = (id: string) => loadModel(join(import.meta.dirname, '../../fixtures/exports', id, 'model.onnx'));
  const ids = [1, 17, 43, 99, 5, 71, 12, 8, 33];

  it('Llama and Qwen2 (Q/K/V biases) with KV cache: the wide layer decodes like the unmerged parallel form', async () => {
    for (const id of ['optimum/llama-kv', 'optimum/qwen2-kv']) {
      const model = exported(id);
      const side = await parallelize(model, { windows: [[1, 2]], 'merge-heads': false, 'fuse-ffn': false });
      const wide = await parallelize(model, { windows: [[1, 2]] });
      expect(wide.report.windows[0]).toMatchObject({ window: [1, 2], heads: 4, kvHeads: 2, ffnFused: true });
      expect(maxAbs(await decodeLogits(wide.model, ids, 3), await decodeLogits(side.model, ids, 3))).toBeLessThan(1e-4);
    }
  });

  it('refuses to merge Qwen3 (per-layer q_norm scales) and runs it side by side', async () => {
    const model = exported('optimum/qwen3');
    await expect(parallelize(model, { windows: [[1, 2]] })).rejects.toThrow(/layer 2's attention differs from layer 1's beyond its projections \(model\.layers\.2\.self_attn\.q_norm\.weight/);
    const side = await parallelize(model, { windows: [[1, 2]], 'merge-heads': false });
    expect(side.report.windows[0]).toEqual({ window: [1, 2], ffnFused: true });
  });
});

describe('block-parallel on the trained model', () => {
  it('no cache: the parallel form is the formula, the wide layer equals it', async () => {
    const model = loadModel(TINYLLAMA);
    const parallel = await parallelize(model, { windows: [[5, 6]], 'merge-heads': false, 'fuse-ffn': false });
    const wide = await parallelize(model, { windows: [[5, 6]] });
    const p = await logits(parallel.model, TOKENS);
    expect(maxAbs(p, await sliceReference(model, [5, 6], TOKENS))).toBeLessThan(1e-4);
    expect(maxAbs(await logits(wide.model, TOKENS), p)).toBeLessThan(1e-4);
  });

  it('with KV cache: two scored windows, chosen greedily by M_max, decode equal to the unmerged form', async () => {
    const model = loadModel(TINYLLAMA_KV);
    const services = { calibration: await calib() };
    const wide = await parallelize(model, { count: 2 }, services);
    const r = wide.report;
    // Every unprotected window of 2 was scored; the chosen ones are the greedy picks.
    expect(r.scores.map((s) => s.window)).toEqual(Array.from({ length: 13 }, (_, i) => [i + 1, i + 2]));
    expect(r.windows.map((w) => w.window)).toEqual(selectWindows(r.scores, 2).map((s) => s.window).sort((a, b) => a[0] - b[0]));
    expect(r.matrix!.evaluations).toBe(1 + 13);
    for (const w of r.windows) expect(w.mMax).toBeGreaterThan(0);
    const parallel = await parallelize(model, { windows: r.windows.map((w) => w.window), 'merge-heads': false, 'fuse-ffn': false });
    expect(maxAbs(await decodeLogits(wide.model, TOKENS, 4), await decodeLogits(parallel.model, TOKENS, 4))).toBeLessThan(1e-4);
    expect(wide.model.graph.outputs.length).toBe(model.graph.outputs.length - 4);
  });
});

describe('selection and refusals', () => {
  it('greedy by lowest M_max, ties by M_sum, overlapping windows dropped', () => {
    const s = (j: number, mMax: number, mSum: number) => ({ window: [j, j + 1] as [number, number], mMax, mSum });
    const picked = selectWindows([s(1, 0.3, 0.3), s(2, 0.1, 0.5), s(3, 0.1, 0.2), s(4, 0.2, 0.2), s(6, 0.25, 0.25)], 3);
    expect(picked.map((p) => p.window)).toEqual([[3, 4], [6, 7], [1, 2]]);
  });

  it('refuses overlapping windows, fused-join spellings and mismatched head ratios, naming the layer', async () => {
    const model = makeLlamaModel({ layers: 5, hidden: 32, heads: 4, kvHeads: 2, intermediate: 48, vocab: 256, seed: 3 });
    await expect(parallelize(model, { windows: [[1, 2], [2, 3]] })).rejects.toThrow(/windows \[1,2\] and \[2,3\] overlap/);
    const genai = makeGenaiModel({ layers: 4, hidden: 64, heads: 4, kvHeads: 2, intermediate: 96, vocab: 256, kvCache: true, seed: 4 } as Parameters<typeof makeGenaiModel>[0]);
    await expect(parallelize(genai, { windows: [[1, 2]] })).rejects.toThrow(/^block-parallel: window \[1,2\]: merge-heads: layer 1's attention is a fused com.microsoft::GroupQueryAttention op.*\(use merge-heads=false\)$/);
    await expect(parallelize(model, { windows: [[0, 0]] })).rejects.toThrow(/window \[0,0\] must span at least two layers/);
    // No decoder at all, and a spelling whose attention packs Q/K/V (GPT-2's c_attn): refused with the reason.
    const b = new GraphBuilder();
    b.output(b.op('Relu', [b.input('x', DataType.FLOAT, [2, 3])]), 'y');
    await expect(parallelize(b.build(), { windows: [[1, 2]] })).rejects.toThrow(/^block-parallel: no decoder layers recognized/);
    const gpt2 = loadModel(join(import.meta.dirname, '../../fixtures/exports/optimum/gpt2/model.onnx'));
    await expect(parallelize(gpt2, { windows: [[1, 2]] })).rejects.toThrow(/^block-parallel: window \[1,2\]: merge-heads: layer 1's Q, K and V are not separate projections \(packed QKV\) \(use merge-heads=false\)$/);
    // A layer with another query/KV ratio (as the analysis would report it) cannot share one repeat_kv.
    const m = copyModel(model);
    const map = analyzeDecoder(m);
    const odd = { ...map, layers: map.layers.map((l) => (l.index === 2 ? { ...l, attention: { ...l.attention!, kvHeads: 1 } } : l)) };
    expect(() => parallelizeWindow(m, odd, [1, 2], { mergeHeads: true, fuseFfn: true })).toThrow(/layers 1 and 2 have different query heads per KV head \(4\/2 vs 4\/1\)/);
  });
});
