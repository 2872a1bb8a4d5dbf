import { describe, expect, it } from 'vitest';
import { makeLlamaModel } from '../../src/fixtures/llama.js';
import { withoutAttention } from '../../src/passes/attn-prune/scores.js';
import { decodeBytes, predictSpeedup, prefillFlops, rooflineCounts } from '../../src/report/roofline.js';

// Small GQA Llama: every count below is worked out by hand from these sizes.
const L = 4, H = 32, HEADS = 4, KV = 2, I = 48, V = 50;
const D = H / HEADS;
const opts = { layers: L, hidden: H, heads: HEADS, kvHeads: KV, intermediate: I, vocab: V };
const attnParams = H * H + 2 * H * KV * D + H * H;
const ffnParams = 3 * H * I;
const normParams = 2 * H;

describe('roofline counts', () => {
  for (const kvCache of [true, false]) {
    it(`reads one embedding row, the whole lm_head and every layer weight per decode step (kvCache ${kvCache})`, () => {
      const c = rooflineCounts(makeLlamaModel({ ...opts, kvCache }));
      const floats = H + L * (attnParams + ffnParams + normParams) + H + H * V;
      // Other initializers (rotary tables, shape constants) are small; they are bounded here.
      expect(c.weightBytesPerStep).toBeGreaterThanOrEqual(4 * floats);
      expect(c.weightBytesPerStep).toBeLessThan(4 * floats * 1.05);
      expect(c.kvBytesPerToken).toBe(L * 2 * KV * D * 4);
      expect(c.matmulFlopsPerToken).toBe(2 * (L * (attnParams + ffnParams) + H * V));
      expect(c.attentionWidth).toBe(L * H);
    });
  }

  it('predicts the speed-up of removing attention from the bytes and FLOPs removed', () => {
    const m = makeLlamaModel({ ...opts, kvCache: true });
    const before = rooflineCounts(m);
    const after = rooflineCounts(withoutAttention(m, [1, 2]));
    expect(before.weightBytesPerStep - after.weightBytesPerStep).toBeCloseTo(2 * 4 * (attnParams + H), -1);
    expect(after.kvBytesPerToken).toBe(before.kvBytesPerToken / 2);
    const p = predictSpeedup(before, after, [128, 2048], 512);
    expect(p.decode[0]!.speedup).toBeCloseTo(decodeBytes(before, 128) / decodeBytes(after, 128), 12);
    // The longer the context, the more the halved KV cache dominates: the speed-up tends to 2.
    expect(p.decode[1]!.speedup).toBeGreaterThan(p.decode[0]!.speedup);
    expect(p.decode[1]!.speedup).toBeLessThan(2);
    expect(p.prefill.speedup).toBeCloseTo(prefillFlops(before, 512) / prefillFlops(after, 512), 12);
    expect(prefillFlops(before, 512) - prefillFlops(after, 512)).toBe(2 * 2 * attnParams * 512 + 2 * 2 * 512 * 512 * H);
  });
});
