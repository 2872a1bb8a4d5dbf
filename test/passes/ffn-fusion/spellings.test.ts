import { describe, expect, it } from 'vitest';
import { SPELLINGS } from '../../../src/fixtures/index.js';
import { Attribute } from '../../../src/ir/attribute.js';
import type { Model } from '../../../src/ir/model.js';
import { verifyModel } from '../../../src/ir/verifier.js';
import { analyzeDecoder } from '../../../src/passes/analysis/analyze-decoder.js';
import { attnPrune } from '../../../src/passes/attn-prune/attn-prune.js';
import { ffnFuse } from '../../../src/passes/ffn-fusion/ffn-fuse.js';
import { decoderSignature, sequenceFeeds } from '../../../src/runtime/decoder-inputs.js';
import { copyModel } from '../../../src/runtime/probes.js';
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
 * The parallel form of group [j, k] built independently of ffn-fuse: FFN t (t > j) reads a plain
 * norm of x_j with its own layer's γ, β and ε, while the residual chain still adds every FFN's
 * output (and any bias a fused Skip norm adds with it).
 */
function parallelReference(model: Model, j: number, k: number): Model {
  const ref = copyModel(model);
  const map = analyzeDecoder(ref);
  const g = ref.graph;
  const xj = map.layers.find((l) => l.index === j)!.residualMid;
  for (let t = j + 1; t <= k; t++) {
    const f = map.layers.find((l) => l.index === t)!.ffn!;
    const n = f.norm;
    const layer = n.kind === 'layer';
    const node = g.addNode({
      opType: layer ? 'LayerNormalization' : 'SimplifiedLayerNormalization',
      inputs: layer ? [xj, n.weight, n.bias] : [xj, n.weight],
      outputs: [`reference_norm_${t}`],
      attributes: [Attribute.int('axis', -1), Attribute.float('epsilon', n.epsilon)],
      before: f.input.uses[0]!.node,
    });
    for (const u of [...f.input.uses]) if (f.nodes.includes(u.node)) u.node.setInput(u.index, node.output(0));
  }
  g.sortTopologically();
  return ref;
}

describe('ffn-fuse is exact for the parallel form in every spelling', () => {
  for (const s of SPELLINGS) {
    it(s.name, async () => {
      const m = s.make({ layers: 4, hidden: 64, heads: 4, kvHeads: s.gqa ? 2 : 4, intermediate: 96, vocab: 64, kvCache: true, seed: 3 } as never);
      await attnPrune({ layers: [2] }).run(m, ctx());
      const reference = parallelReference(m, 1, 2);
      await ffnFuse({ groups: [[1, 2]] }).run(m, ctx());
      expect(verifyModel(m)).toEqual([]);
      expect(analyzeDecoder(m).layers.map((l) => l.span ?? l.index)).toEqual([0, [1, 2], 3]);
      const a = await logits(m);
      const b = await logits(reference);
      let err = 0;
      let scale = 0;
      for (let i = 0; i < a.length; i++) {
        err = Math.max(err, Math.abs(a[i]! - b[i]!));
        scale = Math.max(scale, Math.abs(b[i]!));
      }
      expect(err / scale).toBeLessThan(1e-5);
    });
  }
});
