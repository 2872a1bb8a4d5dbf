import { describe, expect, it } from 'vitest';
import { makeLlamaModel } from '../../../src/fixtures/llama.js';
import { loadModel } from '../../../src/io/read-model.js';
import { analyzeDecoder } from '../../../src/passes/analysis/analyze-decoder.js';
import type { LayerMap } from '../../../src/passes/analysis/layer-map.js';
import { runWithProbes } from '../../../src/runtime/probes.js';
import { decoderSignature, sequenceFeeds } from '../../../src/runtime/decoder-inputs.js';
import { TINYLLAMA, TINYLLAMA_KV } from '../../helpers/paths.js';

function expectLlamaLayers(map: LayerMap, n: number, heads: number, kvHeads: number) {
  expect(map.unrecognized).toEqual([]);
  expect(map.layers.map((l) => l.index)).toEqual([...Array(n).keys()]);
  for (const l of map.layers) {
    expect(l.parallel).toBe(false);
    expect(l.ffn?.kind).toBe('swiglu');
    expect(l.ffn?.norm.kind).toBe('rms');
    expect(l.attention?.norm.kind).toBe('rms');
    expect(l.attention?.op).toBe('decomposed');
    expect([l.attention?.heads, l.attention?.kvHeads]).toEqual([heads, kvHeads]);
    for (const w of [l.attention?.q, l.attention?.k, l.attention?.v, l.attention?.o, l.ffn?.gate, l.ffn?.up, l.ffn?.down]) expect(w?.weight.constant).toBeDefined();
    expect(l.ffn!.norm.epsilon).toBeCloseTo(1e-5, 9);
  }
  // The stream is continuous: each layer starts where the previous ended.
  for (let i = 1; i < map.layers.length; i++) expect(map.layers[i]!.residualIn).toBe(map.layers[i - 1]!.residualOut);
}

describe('analyzeDecoder on the real torch.onnx exports', () => {
  it('maps the no-cache export to 16 SwiGLU/RMSNorm layers with Q/K/V/O weights and head counts', () => {
    const map = analyzeDecoder(loadModel(TINYLLAMA));
    expect(map.spelling).toBe('torchscript');
    expectLlamaLayers(map, 16, 4, 2);
    expect(map.hiddenSize).toBe(96);
    expect(map.layers.every((l) => l.attention!.cacheInputs.length === 0 && l.attention!.cacheOutputs.length === 0)).toBe(true);
    // q_proj is [96, 96], k/v are [96, 48] (2 KV heads of 24), gate [96, 256].
    const l0 = map.layers[0]!;
    expect(l0.attention!.q!.weight.constant!.dims).toEqual([96, 96]);
    expect(l0.attention!.k!.weight.constant!.dims).toEqual([96, 48]);
    expect(l0.ffn!.gate!.weight.constant!.dims).toEqual([96, 256]);
  });

  it('pairs KV inputs and outputs with the right layers in the cached export', () => {
    const map = analyzeDecoder(loadModel(TINYLLAMA_KV));
    expectLlamaLayers(map, 16, 4, 2);
    for (const l of map.layers) {
      const a = l.attention!;
      expect(a.cacheInputs.map((v) => v.name).sort()).toEqual([`past_key_values.${l.index}.key`, `past_key_values.${l.index}.value`]);
      expect(a.cacheOutputs.map((v) => v.name).sort()).toEqual([`present.${l.index}.key`, `present.${l.index}.value`]);
    }
  });

  it('recognizes the fixture generator with every node name blank', () => {
    const model = makeLlamaModel({ layers: 3, hidden: 32, heads: 4, kvHeads: 2, intermediate: 48, vocab: 40, kvCache: true, blankNames: true });
    expect(model.graph.nodes.every((n) => n.name === '')).toBe(true);
    const map = analyzeDecoder(model);
    expectLlamaLayers(map, 3, 4, 2);
    expect(map.layers[2]!.attention!.cacheOutputs.map((v) => v.name).sort()).toEqual(['present.2.key', 'present.2.value']);
  });

  it('recognizes fp16 exports (Casts around the norm)', () => {
    const map = analyzeDecoder(makeLlamaModel({ layers: 2, hidden: 32, heads: 4, kvHeads: 2, intermediate: 48, vocab: 40, dtype: 'float16' }));
    expectLlamaLayers(map, 2, 4, 2);
    expect(map.layers[0]!.ffn!.norm.castToFloat).toBe(true);
  });

  it('describes the real dataflow: residual_out = residual_in + attention + FFN, exactly, in ORT', async () => {
    const model = loadModel(TINYLLAMA);
    const map = analyzeDecoder(model);
    const probes = map.layers.flatMap((l) => [l.residualIn.name, l.residualMid.name, l.residualOut.name, l.attention!.output.name, l.ffn!.output.name]);
    const tokens = Array.from(Buffer.from('The package manager keeps track of files.'), Number);
    const { feeds } = sequenceFeeds(decoderSignature(model), [tokens]);
    const out = await runWithProbes(model, feeds, probes);
    for (const l of map.layers) {
      const x = out[l.residualIn.name]!.data as Float32Array;
      const mid = out[l.residualMid.name]!.data as Float32Array;
      const y = out[l.residualOut.name]!.data as Float32Array;
      const a = out[l.attention!.output.name]!.data as Float32Array;
      const f = out[l.ffn!.output.name]!.data as Float32Array;
      let maxErr = 0;
      for (let i = 0; i < x.length; i++) {
        maxErr = Math.max(maxErr, Math.abs(Math.fround(x[i]! + a[i]!) - mid[i]!), Math.abs(Math.fround(mid[i]! + f[i]!) - y[i]!));
      }
      expect(maxErr, `layer ${l.index}`).toBe(0);
    }
  });
});
