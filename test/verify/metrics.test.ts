import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import {
  DiffAccumulator,
  LogitsAccumulator,
  argmaxOf,
  cosineSimilarity,
  klDivergence,
  logSoftmax,
  perplexity,
  quantile,
  toFloat64,
} from '../../src/verify/metrics.js';
import { numberToFloat16 } from '../../src/ir/tensor.js';

describe('metrics', () => {
  it('log softmax and KL match closed forms', () => {
    const ls = logSoftmax([0, Math.log(3)]);
    expect(Math.exp(ls[0]!)).toBeCloseTo(0.25, 12);
    expect(Math.exp(ls[1]!)).toBeCloseTo(0.75, 12);
    // KL([.25,.75] ‖ [.5,.5]) = .25 ln .5 + .75 ln 1.5
    expect(klDivergence([0, Math.log(3)], [1, 1])).toBeCloseTo(0.25 * Math.log(0.5) + 0.75 * Math.log(1.5), 12);
    expect(klDivergence([1, 2, 3], [1, 2, 3])).toBe(0);
    // Shifting logits does not change the distribution.
    expect(klDivergence([1, 2, 3], [11, 12, 13])).toBeLessThan(1e-12);
    expect(klDivergence([0, -Infinity], [0, 0])).toBeCloseTo(Math.log(2), 12);
  });

  it('quantile, argmax, cosine', () => {
    expect(quantile([1, 2, 3, 4, 5], 0.5)).toBe(3);
    expect(quantile([0, 10], 0.95)).toBeCloseTo(9.5, 12);
    expect(quantile([7], 0.95)).toBe(7);
    expect(argmaxOf([1, 5, 5, 2])).toBe(1);
    expect(argmaxOf([9, 1, 3, 2], 2, 2)).toBe(0);
    expect(cosineSimilarity([1, 0], [0, 1])).toBe(0);
    expect(cosineSimilarity([1, 2], [2, 4])).toBeCloseTo(1, 12);
  });

  it('DiffAccumulator: max abs, max rel with a floor, cosine over batches, NaN mismatches', () => {
    const d = new DiffAccumulator(1e-3);
    d.add([1, 2, 0], [1.5, 2, 0.0001]);
    d.add([-4, NaN], [-4, 1]);
    const r = d.result();
    expect(r.maxAbs).toBe(0.5);
    expect(r.maxRel).toBeCloseTo(0.5, 12);
    expect(r.elements).toBe(5);
    expect(r.nanMismatches).toBe(1);
    const dot = 1 * 1.5 + 4 + 16;
    expect(r.cosine).toBeCloseTo(dot / Math.sqrt((1 + 4 + 16) * (2.25 + 4 + 1e-8 + 16)), 12);
  });

  it('LogitsAccumulator skips padding and scores next tokens', () => {
    // B=2, S=3, V=2. Row 1's first position is padding.
    const a = [0, 0, 2, 0, 0, 2, /**/ 9, 9, 0, 1, 1, 0];
    const b = [0, 0, 2, 0, 0, 3, /**/ 5, 5, 1, 0, 1, 0];
    const acc = new LogitsAccumulator();
    acc.add(a, b, [2, 3, 2], { ids: [[0, 0, 1], [0, 1, 0]], mask: [[1, 1, 1], [0, 1, 1]] });
    const r = acc.result();
    expect(r.positions).toBe(5);
    const kls = [0, 0, klDivergence([0, 2], [0, 3]), klDivergence([0, 1], [1, 0]), 0];
    expect(r.klMean).toBeCloseTo(kls.reduce((x, y) => x + y) / 5, 12);
    expect(r.klMax).toBeCloseTo(Math.max(...kls), 12);
    expect(r.top1).toBeCloseTo(4 / 5, 12);
    // Scored: row 0 t=0→0, t=1→1; row 1 t=1→0 (t=0 is padding).
    expect(r.scoredTokens).toBe(3);
    const nllA = -logSoftmax([0, 0])[0]! - logSoftmax([2, 0])[1]! - logSoftmax([0, 1])[0]!;
    expect(r.perplexityA).toBeCloseTo(Math.exp(nllA / 3), 12);
    expect(r.perplexityRatio).toBeCloseTo(r.perplexityB! / r.perplexityA!, 12);
  });

  it('uniform logits have perplexity V; float16 tensors decode', () => {
    expect(perplexity(new Float32Array(2 * 4 * 8), [2, 4, 8], [[1, 2, 3, 4], [5, 6, 7, 0]])).toBeCloseTo(8, 10);
    const h = new ort.Tensor('float16', Uint16Array.from([1.5, -2, 0.25].map(numberToFloat16)), [3]);
    expect(Array.from(toFloat64(h))).toEqual([1.5, -2, 0.25]);
    expect(Array.from(toFloat64(new ort.Tensor('int64', BigInt64Array.from([3n, -1n]), [2])))).toEqual([3, -1]);
  });
});
