import { describe, expect, it } from 'vitest';
import { makeLlamaModel } from '../../src/fixtures/llama.js';
import { registerBuiltinPasses } from '../../src/passes/builtin.js';
import { runPipeline } from '../../src/passes/pass-manager.js';
import { logitsOf, meanKl } from '../../src/passes/attn-prune/scores.js';
import { explore, pipelineText } from '../../src/report/explore.js';
import { copyModel } from '../../src/runtime/probes.js';
import { Rng } from '../../src/runtime/calibration/index.js';

registerBuiltinPasses();

function sequences(seed: number, n: number, len: number): number[][] {
  const r = new Rng(seed);
  return Array.from({ length: n }, () => Array.from({ length: len }, () => Math.floor(r.next() * 256)));
}

describe('explore', () => {
  // Layers 2 and 4 have their attention output scaled to ~0: removing them first costs almost nothing.
  const model = makeLlamaModel({ layers: 6, hidden: 32, heads: 4, kvHeads: 2, intermediate: 64, vocab: 256, seed: 11, kvCache: true, attnScale: { 2: 1e-4, 4: 1e-4 } });

  it('removes the planted redundant layers first, and each pipeline text rebuilds its configuration', async () => {
    const heldout = sequences(2, 2, 24);
    const r = await explore(model, { scoring: sequences(1, 2, 24), heldout, maxRemoved: 3 });
    const plain = r.configs.filter((c) => !c.groups.length);
    expect(plain.map((c) => c.removed)).toEqual([[], [expect.any(Number)], [2, 4], expect.arrayContaining([2, 4])]);
    expect([2, 4]).toContain(plain[1]!.removed[0]);
    expect(plain[2]!.kl).toBeLessThan(1e-4);
    expect(plain[3]!.kl).toBeGreaterThan(plain[2]!.kl * 10);
    // Pruning 3 of 6 leaves a run, so a fused variant exists and is priced like its pruned twin.
    const fused = r.configs.find((c) => c.groups.length);
    expect(fused).toBeDefined();
    expect(fused!.speedup).toBeCloseTo(r.configs.find((c) => !c.groups.length && c.removed.join() === fused!.removed.join())!.speedup, 2);
    expect(r.evaluations.heldout).toBe(r.configs.length + 1);

    const baseline = await logitsOf(model, { sequences: heldout });
    for (const c of [plain[3]!, fused!]) {
      const rebuilt = copyModel(model);
      await runPipeline(rebuilt, c.pipeline, { log: () => {} });
      expect(meanKl(baseline, await logitsOf(rebuilt, { sequences: heldout }))).toBeCloseTo(c.kl, 6);
    }
  });

  it('writes pipelines ready for --passes', () => {
    expect(pipelineText([], [])).toBe('');
    expect(pipelineText([3, 5], [[4, 6]])).toBe('attn-prune{layers=[3,5]},ffn-fuse{groups=[[4,6]]}');
  });
});
