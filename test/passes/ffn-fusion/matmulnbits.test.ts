import { describe, expect, it } from 'vitest';
import { makeGenaiModel } from '../../../src/fixtures/genai.js';
import { Attribute } from '../../../src/ir/attribute.js';
import type { Model } from '../../../src/ir/model.js';
import { Tensor } from '../../../src/ir/tensor.js';
import { verifyModel } from '../../../src/ir/verifier.js';
import { analyzeDecoder } from '../../../src/passes/analysis/analyze-decoder.js';
import { attnPrune } from '../../../src/passes/attn-prune/attn-prune.js';
import { ffnFuse } from '../../../src/passes/ffn-fusion/ffn-fuse.js';
import { decoderSignature, sequenceFeeds } from '../../../src/runtime/decoder-inputs.js';
import { copyModel } from '../../../src/runtime/probes.js';
import { ModelSession } from '../../../src/runtime/session.js';

const ctx = () => ({ log: () => {}, report: {}, services: {} });
const OPTS = { layers: 4, hidden: 64, heads: 4, kvHeads: 2, intermediate: 96, vocab: 64, kvCache: true, seed: 9, quant: 'int4' } as never;

async function logits(m: Model): Promise<Float32Array> {
  const s = await ModelSession.create(m);
  try {
    return (await s.run(sequenceFeeds(decoderSignature(m), [[5, 17, 3, 42, 8, 11]]).feeds)).logits!.data as Float32Array;
  } finally {
    await s.release();
  }
}

async function prunedInt4(sameGamma: boolean): Promise<Model> {
  const m = makeGenaiModel(OPTS);
  if (sameGamma) {
    // Give the FFN norms of layers 1 and 2 one scale, so exact fusion of packed weights is possible.
    const map = analyzeDecoder(m);
    const w1 = map.layers[1]!.ffn!.norm.weight!;
    const w2 = map.layers[2]!.ffn!.norm.weight!;
    m.graph.setInitializer(w2, Tensor.fromArray(w2.name, w1.initializer!.dtype, w1.initializer!.dims, w1.initializer!.toArray()));
  }
  await attnPrune({ layers: [2] }).run(m, ctx());
  return m;
}

describe('ffn-fuse on MatMulNBits (int4) FFNs: packed concatenation, no dequantization', () => {
  it('exact when the layers share a norm scale: equals the parallel form', async () => {
    const m = await prunedInt4(true);
    const ref = copyModel(m);
    const rmap = analyzeDecoder(ref);
    const x1 = rmap.layers[1]!.residualMid;
    const f2 = rmap.layers[2]!.ffn!;
    const norm = ref.graph.addNode({ opType: 'SimplifiedLayerNormalization', inputs: [x1, f2.norm.weight], outputs: ['reference_norm'], attributes: [Attribute.int('axis', -1), Attribute.float('epsilon', f2.norm.epsilon)], before: f2.input.uses[0]!.node });
    for (const u of [...f2.input.uses]) if (f2.nodes.includes(u.node)) u.node.setInput(u.index, norm.output(0));
    ref.graph.sortTopologically();

    await ffnFuse({ groups: [[1, 2]] }).run(m, ctx());
    expect(verifyModel(m)).toEqual([]);
    const fused = analyzeDecoder(m).layers.find((l) => l.index === 1)!.ffn!;
    expect(fused.gate!.kind).toBe('matmulnbits');
    if (fused.gate!.kind === 'matmulnbits' && fused.down.kind === 'matmulnbits') {
      expect([fused.gate!.n, fused.gate!.k]).toEqual([192, 64]);
      expect([fused.down.n, fused.down.k]).toEqual([64, 192]);
      expect(fused.gate!.weight.initializer!.dtype).toBe(2); // still packed uint8
    }
    const a = await logits(m);
    const b = await logits(ref);
    let err = 0;
    let scale = 0;
    for (let i = 0; i < a.length; i++) (err = Math.max(err, Math.abs(a[i]! - b[i]!))), (scale = Math.max(scale, Math.abs(b[i]!)));
    expect(err / scale).toBeLessThan(1e-5);
  });

  it('refuses different norm scales in exact mode, with the reason; paper mode fuses and runs', async () => {
    await expect(ffnFuse({ groups: [[1, 2]] }).run(await prunedInt4(false), ctx())).rejects.toThrow(/layer 2's norm scale differs from layer 1's, and MatMulNBits weights cannot absorb per-layer scales exactly.*mode=paper/);
    const m = await prunedInt4(false);
    await ffnFuse({ groups: [[1, 2]], mode: 'paper' }).run(m, ctx());
    expect((await logits(m)).every(Number.isFinite)).toBe(true);
  });
});
