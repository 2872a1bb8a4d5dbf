import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { makeLlamaModel } from '../../../src/fixtures/llama.js';
import { loadModel } from '../../../src/io/read-model.js';
import type { Model } from '../../../src/ir/model.js';
import { verifyModel } from '../../../src/ir/verifier.js';
import { analyzeDecoder } from '../../../src/passes/analysis/analyze-decoder.js';
import { attnPrune } from '../../../src/passes/attn-prune/attn-prune.js';
import { candidateRuns } from '../../../src/passes/ffn-fusion/candidates.js';
import { ffnFuse, type FfnFuseReport } from '../../../src/passes/ffn-fusion/ffn-fuse.js';
import { fromTextBytes } from '../../../src/runtime/calibration/index.js';
import { copyModel } from '../../../src/runtime/probes.js';
import { DecoderRunner } from '../../../src/runtime/decoder-inputs.js';
import { compareModels } from '../../../src/verify/compare.js';
import { modelLogits as logits } from '../../helpers/ort.js';
import { MODELS, TINYLLAMA, TINYLLAMA_KV } from '../../helpers/paths.js';

const calib = () => fromTextBytes(join(MODELS, 'calib.txt'), { numSequences: 4, sequenceLength: 48 });
const heldout = () => fromTextBytes(join(MODELS, 'heldout.txt'), { numSequences: 4, sequenceLength: 64 });

async function run(model: Model, pass: ReturnType<typeof ffnFuse> | ReturnType<typeof attnPrune>, services: Record<string, unknown> = {}) {
  const ctx = { log: () => {}, report: {} as Record<string, unknown>, services: { calibration: await calib(), ...services } };
  const r = await pass.run(model, ctx);
  expect(verifyModel(model)).toEqual([]);
  return { result: r, report: ctx.report };
}


/** The un-fused "parallel" form of group j..k: every FFN of the group reads its own norm of x_j. */
function parallelReference(model: Model, j: number, k: number): Model {
  const ref = copyModel(model);
  const map = analyzeDecoder(ref);
  const xj = map.layers.find((l) => l.index === j)!.residualMid;
  for (let t = j + 1; t <= k; t++) {
    const norm = map.layers.find((l) => l.index === t)!.ffn!.norm;
    const nodes = new Set(norm.nodes);
    for (const u of [...norm.input.uses]) if (nodes.has(u.node)) u.node.setInput(u.index, xj);
  }
  return ref;
}

function maxRel(a: Float32Array, b: Float32Array): number {
  let err = 0;
  let scale = 0;
  for (let i = 0; i < a.length; i++) {
    err = Math.max(err, Math.abs(a[i]! - b[i]!));
    scale = Math.max(scale, Math.abs(b[i]!));
  }
  return err / scale;
}

const TOKENS = Array.from(Buffer.from('Configuration files under /etc are preserved on upgrade.'), Number);

describe('ffn-fuse', () => {
  it('theorem: the fused FFN equals the sum of the FFNs reading the same input (exact norm fold), fp32', async () => {
    const model = makeLlamaModel({ layers: 6, hidden: 48, heads: 4, kvHeads: 2, intermediate: 80, vocab: 256, seed: 11 });
    await run(model, attnPrune({ layers: [2, 3, 4] }));
    const reference = parallelReference(model, 1, 4);
    const { report } = await run(model, ffnFuse({ groups: [[1, 4]] }));
    expect((report['ffn-fuse'] as FfnFuseReport).groups).toEqual([[1, 4]]);
    const map = analyzeDecoder(model);
    expect(map.layers.map((l) => [l.index, l.span])).toEqual([[0, undefined], [1, [1, 4]], [5, undefined]]);
    // The fused gate weight stacks four [48, 80] blocks along the output axis.
    const fusedGate = map.layers.find((l) => l.index === 1)!.ffn!.gate!.weight;
    expect(fusedGate.initializer!.dims).toEqual([48, 320]);
    expect(maxRel(await logits(model, TOKENS), await logits(reference, TOKENS))).toBeLessThan(1e-5);
  });

  it('theorem holds in fp16, with weights concatenated in fp16', async () => {
    const model = makeLlamaModel({ layers: 4, hidden: 32, heads: 4, kvHeads: 2, intermediate: 48, vocab: 256, seed: 12, dtype: 'float16' });
    await run(model, attnPrune({ layers: [2] }));
    const reference = parallelReference(model, 1, 2);
    await run(model, ffnFuse({ groups: [[1, 2]] }));
    const gate = analyzeDecoder(model).layers.find((l) => l.index === 1)!.ffn!.gate!.weight.initializer!;
    expect(gate.dtype).toBe(10);
    const a = await logits(model, TOKENS);
    const b = await logits(reference, TOKENS);
    // One fp16 rounding of γ·W per weight: far below fp16 activation noise.
    expect(maxRel(a, b)).toBeLessThan(5e-3);
  });

  it('planted ground truth: the matrix is near zero exactly on the orthogonal run, and selection picks it', async () => {
    const model = makeLlamaModel({
      layers: 10, hidden: 64, heads: 4, kvHeads: 2, intermediate: 128, vocab: 256, seed: 7,
      attnScale: { 3: 1e-3, 4: 1e-3, 5: 1e-3, 7: 1e-3, 8: 1e-3 },
      ffnOrthogonal: [[2, 5]],
    });
    await run(model, attnPrune({ count: 5 }));
    const { report } = await run(model, ffnFuse({ threshold: 0.01 }));
    const r = report['ffn-fuse'] as FfnFuseReport;
    expect(r.candidateRuns).toEqual([[2, 3, 4, 5], [6, 7, 8]]);
    const at = (i: number, j: number) => r.matrix!.values[r.matrix!.layers.indexOf(i)]![r.matrix!.layers.indexOf(j)]!;
    for (const [i, j] of [[2, 3], [2, 4], [2, 5], [3, 4], [3, 5], [4, 5]]) expect(at(i!, j!)).toBeLessThan(1e-4);
    for (const [i, j] of [[6, 7], [6, 8], [7, 8]]) expect(at(i!, j!)).toBeGreaterThan(1e-2);
    // keep-last leaves layer 5 out of the planted run; the dependent run is not fused.
    expect(r.groups).toEqual([[2, 4]]);
  });

  it('refuses explicit groups that are not legal runs, with the reason', async () => {
    const model = loadModel(TINYLLAMA);
    await expect(run(model, ffnFuse({ groups: [[4, 7]] }))).rejects.toThrow(/layer 5 still has its attention/);
    await expect(run(model, ffnFuse({ groups: [[4, 4]] }))).rejects.toThrow(/at least two layers/);
  });

  it('the real model after attn-prune{count=6}: matrix in n+1 runs, fused groups, runs with and without cache; exact beats paper', async () => {
    const pruned = loadModel(TINYLLAMA_KV);
    const { report: pr } = await run(pruned, attnPrune({ count: 6 }));
    const removed = (pr['attn-prune'] as { removed: number[] }).removed;
    const map = analyzeDecoder(pruned);
    const runs = candidateRuns(map);
    expect(runs.length).toBeGreaterThan(0);
    const exact = copyModel(pruned);
    const { report } = await run(exact, ffnFuse({ 'keep-last': false, threshold: 1 }));
    const r = report['ffn-fuse'] as FfnFuseReport;
    const n = runs.reduce((s, run) => s + run.length - 1, 0);
    expect(r.evaluations).toBe(n + 1);
    expect(r.groups.length).toBeGreaterThan(0);
    expect(r.ffnStepsAfter).toBeLessThan(r.ffnStepsBefore);
    expect(r.depthAfter).toBeLessThan(r.depthBefore);
    for (let i = 0; i < r.matrix!.layers.length; i++) for (let j = 0; j <= i; j++) expect(r.matrix!.values[i]![j]).toBeNull();

    // Same groups, paper mode (last layer's norm for all).
    const paper = copyModel(pruned);
    await run(paper, ffnFuse({ groups: r.groups, mode: 'paper' }));
    const data = await heldout();
    const original = loadModel(TINYLLAMA_KV);
    const klExact = (await compareModels(original, exact, data)).logits[0]!.klMean;
    const klPaper = (await compareModels(original, paper, data)).logits[0]!.klMean;
    const klPruned = (await compareModels(original, pruned, data)).logits[0]!.klMean;
    console.log(`tinyllama: removed ${removed}; groups ${JSON.stringify(r.groups)}; FFN steps ${r.ffnStepsBefore}→${r.ffnStepsAfter}; KL pruned ${klPruned.toFixed(4)}, +fused exact ${klExact.toFixed(4)}, paper ${klPaper.toFixed(4)}`);
    expect(klExact).toBeLessThan(klPaper);

    // Cached decode of the fused model equals its uncached run.
    const runner = await DecoderRunner.create(exact);
    let step = await runner.prefill(TOKENS.slice(0, 16));
    const cached = [step.next[0]!];
    for (let t = 16; t < 22; t++) cached.push((step = await runner.step(TOKENS[t]!)).next[0]!);
    await runner.release();
    const full = await logits(exact, TOKENS.slice(0, 22));
    cached.forEach((c, k) => {
      const ref = full.subarray((15 + k) * 256, (16 + k) * 256);
      let err = 0;
      for (let i = 0; i < 256; i++) err = Math.max(err, Math.abs(ref[i]! - c[i]!));
      expect(err).toBeLessThan(1e-4);
    });

    // The uncached export fuses the same groups and runs.
    const plain = loadModel(TINYLLAMA);
    await run(plain, attnPrune({ layers: removed }));
    await run(plain, ffnFuse({ groups: r.groups }));
    expect((await logits(plain, TOKENS)).every(Number.isFinite)).toBe(true);
  });
});
