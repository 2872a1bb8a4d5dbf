import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { loadModel } from '../../../src/io/read-model.js';
import { BlockwiseSession } from '../../../src/runtime/blocks/blockwise-session.js';
import { residualBoundaries } from '../../../src/passes/measure/boundaries.js';
import { planSlices } from '../../../src/runtime/blocks/plan.js';
import { DecoderRunner, decoderSignature } from '../../../src/runtime/decoder-inputs.js';
import { TINYLLAMA_KV } from '../../helpers/paths.js';

describe('slices at the residual stream', () => {
  const model = loadModel(TINYLLAMA_KV);
  const boundaries = residualBoundaries(model);

  it('embedding, one slice per layer holding that layer only, head; side inputs recomputed from graph inputs', () => {
    const plan = planSlices(model, boundaries, model.graph.outputs.map((v) => v.name));
    expect(plan.slices).toHaveLength(16 + 2);
    const layer = plan.slices.slice(1, -1);
    for (const s of layer) {
      // Reads: the stream, graph inputs (ids for positions and mask, its own past): no other boundary.
      expect(s.inputs.filter((n) => boundaries.includes(n))).toEqual([s.start]);
      expect(s.inputs.filter((n) => !boundaries.includes(n)).every((n) => model.graph.inputs.some((v) => v.name === n))).toBe(true);
      expect(s.weightBytes).toBe(layer[0]!.weightBytes);
    }
    expect(layer[3]!.outputs).toEqual([boundaries[4], 'present.3.key', 'present.3.value']);
    const total = [...model.graph.initializers.values()].reduce((n, v) => n + v.initializer!.byteLength, 0);
    expect(layer[0]!.weightBytes).toBeLessThan(total / 12);
    // Layer work is never duplicated: every MatMul is in exactly one slice.
    const matmuls = plan.slices.flatMap((s) => s.nodes.filter((n) => n.opType === 'MatMul'));
    expect(new Set(matmuls).size).toBe(matmuls.length);
    expect(matmuls.length).toBe(model.graph.nodes.filter((n) => n.opType === 'MatMul').length);
  });

  it('a block-wise session decodes with the cache exactly like the whole model', async () => {
    const sig = decoderSignature(model);
    const whole = await DecoderRunner.create(model);
    const session = BlockwiseSession.create(model, { boundaries, residentBytes: 0 });
    const block = DecoderRunner.over(session, sig);
    try {
      const prompt = [
        [72, 101, 108, 108, 111],
        [84, 104, 101, 32, 99],
      ];
      const a = await whole.prefill(prompt);
      const b = await block.prefill(prompt);
      expect(Array.from(b.logits.data as Float32Array)).toEqual(Array.from(a.logits.data as Float32Array));
      const a2 = await whole.step([32, 33]);
      const b2 = await block.step([32, 33]);
      expect(Array.from(b2.logits.data as Float32Array)).toEqual(Array.from(a2.logits.data as Float32Array));
      expect(b2.logits.dims).toEqual([2, 1, 256]);
      expect((b2.outputs['present.15.value'] as ort.Tensor).dims[2]).toBe(6);
      // Two runs, each through every slice, each reopened (nothing kept resident).
      expect(session.sessionsOpened).toBe(2 * 18);
      expect(session.modelEquivalents).toBeCloseTo(2, 10);
    } finally {
      await whole.release();
      await session.release();
    }
  });
});
