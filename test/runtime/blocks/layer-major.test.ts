import type * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { loadModel } from '../../../src/io/read-model.js';
import { cloneModel } from '../../../src/ir/clone.js';
import { DataType } from '../../../src/ir/dtype.js';
import { Tensor } from '../../../src/ir/tensor.js';
import type { Model } from '../../../src/ir/model.js';
import { residualBoundaries } from '../../../src/passes/measure/boundaries.js';
import { runLayerMajor } from '../../../src/runtime/blocks/layer-major.js';
import { decoderSignature, sequenceFeeds } from '../../../src/runtime/decoder-inputs.js';
import { withSession } from '../../../src/runtime/session.js';
import { TINYLLAMA } from '../../helpers/paths.js';

/** A clone with the o_proj weight of `layer` scaled by 0.5 (a new inline tensor). */
function scaledAttention(model: Model, layer: number): Model {
  const c = cloneModel(model);
  const v = c.graph.nodes.find((n) => n.name === `/m/layers.${layer}/self_attn/o_proj/MatMul`)!.inputs[1]!;
  const data = (v.initializer!.toArray() as Float32Array).map((x) => x * 0.5);
  c.graph.setInitializer(v, Tensor.fromArray(v.name, DataType.FLOAT, v.initializer!.dims, data));
  return c;
}

describe('runLayerMajor', () => {
  const model = loadModel(TINYLLAMA);
  const sig = decoderSignature(model);
  const batches = [sequenceFeeds(sig, [[1, 2, 3, 4, 5, 6]]).feeds, sequenceFeeds(sig, [[7, 8, 9, 10, 11, 12]]).feeds];

  it('a variant re-runs only from its change on, and its values are those of its own whole-model run', async () => {
    const variant = scaledAttention(model, 12);
    const same = cloneModel(model);
    const got = new Map<string, ort.Tensor>();
    const r = await runLayerMajor(
      [
        { model, wanted: ['logits'] },
        { model: variant, wanted: ['logits'] },
        { model: same, wanted: ['logits'] },
      ],
      { boundaries: residualBoundaries(model), batches, onValue: (t, b, name, v) => void got.set(`${t}/${b}/${name}`, v) },
    );
    expect(got.size).toBe(6);
    for (const [t, m] of [[0, model], [1, variant]] as const) {
      for (let b = 0; b < 2; b++) {
        const want = await withSession(m, {}, (s) => s.run(batches[b]!));
        const a = got.get(`${t}/${b}/logits`)!.data as Float32Array;
        const w = want.logits!.data as Float32Array;
        let d = 0;
        for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i]! - w[i]!));
        expect(d).toBeLessThan(1e-5);
      }
    }
    // An unchanged clone costs nothing and gets the base's values.
    expect(got.get('2/0/logits')).toBe(got.get('0/0/logits'));
    // Base: 1; variant: layers 12..15 and the head.
    const layer = 1 / 16.25;
    expect(r.modelEquivalents).toBeGreaterThan(1 + 3 * layer);
    expect(r.modelEquivalents).toBeLessThan(1 + 5 * layer);
    // Slices after the changed one run in the base's sessions: one extra session only.
    expect(r.sessions).toBe(18 + 1);
  });
});
