import { describe, expect, it } from 'vitest';
import { SPELLINGS } from '../../../src/fixtures/index.js';
import type { Model } from '../../../src/ir/model.js';
import { verifyModel } from '../../../src/ir/verifier.js';
import { analyzeDecoder } from '../../../src/passes/analysis/analyze-decoder.js';
import { attnPrune } from '../../../src/passes/attn-prune/attn-prune.js';
import { ffnFuse } from '../../../src/passes/ffn-fusion/ffn-fuse.js';
import { decoderSignature, sequenceFeeds } from '../../../src/runtime/decoder-inputs.js';
import { ModelSession } from '../../../src/runtime/session.js';

const ctx = () => ({ log: () => {}, report: {}, services: {} });

async function logits(m: Model): Promise<Float32Array> {
  const s = await ModelSession.create(m);
  try {
    return (await s.run(sequenceFeeds(decoderSignature(m), [[5, 17, 3, 42, 8, 11]]).feeds)).logits!.data as Float32Array;
  } finally {
    await s.release();
  }
}

/**
 * What torch.onnx 1.13 does with tied or deduplicated parameters: every weight reaches its readers
 * through `Identity` nodes (two hops here) instead of being read directly.
 */
function behindIdentities(model: Model): number {
  const g = model.graph;
  let n = 0;
  for (const v of [...g.initializers.values()]) {
    const t = v.initializer!;
    if (t.size < 2 || v.uses.length === 0) continue;
    const uses = [...v.uses];
    const first = g.addNode({ opType: 'Identity', inputs: [v], outputs: [`${v.name}.dedup0`], before: g.nodes[0] });
    const second = g.addNode({ opType: 'Identity', inputs: [first.output(0)], outputs: [`${v.name}.dedup1`], before: g.nodes[1] });
    for (const u of uses) u.node.setInput(u.index, second.output(0));
    n++;
  }
  return n;
}

describe('constants seen through Identity chains (deduplicated weights)', () => {
  for (const s of SPELLINGS) {
    it(s.name, async () => {
      const opts = { layers: 4, hidden: 64, heads: 4, kvHeads: s.gqa ? 2 : 4, intermediate: 96, vocab: 64, kvCache: true, seed: 3 } as never;
      const plain = s.make(opts);
      const chained = s.make(opts);
      expect(behindIdentities(chained)).toBeGreaterThan(10);
      const map = analyzeDecoder(chained);
      expect(map.unrecognized).toEqual([]);
      expect(map.layers.map((l) => [l.index, !!l.attention, !!l.ffn])).toEqual(analyzeDecoder(plain).layers.map((l) => [l.index, !!l.attention, !!l.ffn]));
      for (const m of [plain, chained]) {
        await attnPrune({ layers: [2] }).run(m, ctx());
        await ffnFuse({ groups: [[1, 2]] }).run(m, ctx());
        expect(verifyModel(m)).toEqual([]);
      }
      expect(analyzeDecoder(chained).layers.map((l) => l.span ?? l.index)).toEqual([0, [1, 2], 3]);
      const [a, b] = [await logits(chained), await logits(plain)];
      for (let i = 0; i < a.length; i++) expect(Math.abs(a[i]! - b[i]!)).toBeLessThan(1e-5);
    });
  }
});
