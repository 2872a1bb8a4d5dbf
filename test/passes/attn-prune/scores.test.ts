import { describe, expect, it } from 'vitest';
import { SPELLINGS } from '../../../src/fixtures/index.js';
import { loadModel } from '../../../src/io/read-model.js';
import { analyzeDecoder } from '../../../src/passes/analysis/analyze-decoder.js';
import { cosineScores, klScores } from '../../../src/passes/attn-prune/scores.js';
import type { CalibrationStats } from '../../../src/runtime/blocks/trials.js';
import { TINYLLAMA_EXT } from '../../helpers/paths.js';

// Uneven lengths: the last batch is padded where the model has an attention_mask.
const SEQS = [
  [72, 101, 108, 108, 111, 32, 119, 111, 114, 108, 100, 33],
  [84, 104, 101, 32, 99, 97, 116, 32, 115, 97, 116, 46],
  [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12],
];
const stats = (): CalibrationStats => ({ modelEquivalents: 0, sessions: 0 });
const close = (a: { score: number }[], b: { score: number }[]) => a.forEach((x, i) => expect(Math.abs(x.score - b[i]!.score)).toBeLessThan(1e-6));

describe('block-wise scores equal whole-model scores on the same tokens', () => {
  it('the real model: cosine, KL and greedy re-scoring; KL costs about half in model-equivalents', async () => {
    const model = loadModel(TINYLLAMA_EXT);
    const map = analyzeDecoder(model);
    const o = { sequences: SEQS, batchSize: 2 };
    const [cw, cb] = [stats(), stats()];
    close(await cosineScores(model, map, { ...o, calibration: 'blockwise', stats: cb }), await cosineScores(model, map, { ...o, calibration: 'whole', stats: cw }));
    expect(cw.modelEquivalents).toBe(1);
    // The head is not needed for probes of the layers.
    expect(cb.modelEquivalents).toBeLessThanOrEqual(1);
    const pool = Array.from({ length: 14 }, (_, i) => i + 1);
    const [kw, kb] = [stats(), stats()];
    const whole = await klScores(model, pool, { ...o, calibration: 'whole', stats: kw });
    const block = await klScores(model, pool, { ...o, calibration: 'blockwise', stats: kb });
    close(block.scores, whole.scores);
    expect(whole.scores.some((s) => s.score > 1e-3)).toBe(true);
    expect(kw.modelEquivalents).toBe(15);
    // 1 baseline + Σ (16 − i)/16 for i = 1..14, plus the head per trial: ≈ 8.3 of 15.
    expect(kb.modelEquivalents).toBeLessThan(0.6 * kw.modelEquivalents);
    // Greedy round 2: relative to the model without layer 4, against the original's baseline.
    const g = { ...o, baseline: whole.baseline, alreadyRemoved: [4] };
    close((await klScores(model, [2, 9], { ...g, calibration: 'blockwise' })).scores, (await klScores(model, [2, 9], { ...g, calibration: 'whole' })).scores);
    // Without a given baseline, the original runs as one more trial.
    close((await klScores(model, [9], { ...o, alreadyRemoved: [4], calibration: 'blockwise' })).scores, (await klScores(model, [9], { ...o, alreadyRemoved: [4], calibration: 'whole' })).scores);
  });

  it.each(SPELLINGS.map((s) => [s.name, s] as const))('cosine and KL on the %s spelling', async (_, spelling) => {
    const model = spelling.make({ layers: 4, hidden: 64, heads: 4, kvHeads: 2, intermediate: 64, vocab: 64, seed: 3, attnScale: { 2: 0.01 } });
    const map = analyzeDecoder(model);
    expect(map.layers.length).toBe(4);
    const seqs = SEQS.map((s) => s.map((t) => t % 64));
    const o = { sequences: seqs, batchSize: 2 };
    close(await cosineScores(model, map, { ...o, calibration: 'blockwise' }), await cosineScores(model, map, { ...o, calibration: 'whole' }));
    close((await klScores(model, [1, 2], { ...o, calibration: 'blockwise' })).scores, (await klScores(model, [1, 2], { ...o, calibration: 'whole' })).scores);
  });
});
