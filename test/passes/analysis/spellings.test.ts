import { describe, expect, it } from 'vitest';
import { makeGpt2PlainModel, SPELLINGS } from '../../../src/fixtures/index.js';
import { analyzeDecoder } from '../../../src/passes/analysis/analyze-decoder.js';

const SIZES = { layers: 3, hidden: 64, heads: 4, kvHeads: 2, intermediate: 96, vocab: 64, kvCache: true, seed: 1 };
const EXPECTED: Record<string, { spelling: string; attention: string; ffn: string; norm: string; kv: number; heads?: [number, number] }> = {
  llama: { spelling: 'torchscript', attention: 'decomposed', ffn: 'swiglu', norm: 'rms', kv: 2, heads: [4, 2] },
  dynamo: { spelling: 'dynamo', attention: 'decomposed', ffn: 'swiglu', norm: 'rms', kv: 2, heads: [4, 2] },
  genai: { spelling: 'genai', attention: 'com.microsoft::GroupQueryAttention', ffn: 'swiglu', norm: 'rms', kv: 2, heads: [4, 2] },
  'gpt2-ort': { spelling: 'layernorm', attention: 'com.microsoft::Attention', ffn: 'fastgelu-mlp', norm: 'layer', kv: 1, heads: [4, 4] },
  'gpt2-plain': { spelling: 'layernorm', attention: 'decomposed', ffn: 'gelu-mlp', norm: 'layer', kv: 2 },
  llama2c: { spelling: 'torchscript', attention: 'decomposed', ffn: 'swiglu', norm: 'rms', kv: 2, heads: [4, 2] },
};

describe('LayerMap across exporter spellings (every node name blank in one variant)', () => {
  for (const s of SPELLINGS) {
    for (const blankNames of [false, true]) {
      it(`${s.name}${blankNames ? ' (blank names)' : ''}`, () => {
        const e = EXPECTED[s.name]!;
        const map = analyzeDecoder(s.make({ ...SIZES, blankNames } as never));
        expect(map.unrecognized).toEqual([]);
        expect(map.spelling).toBe(e.spelling);
        expect(map.layers.map((l) => l.index)).toEqual([0, 1, 2]);
        for (const l of map.layers) {
          expect(l.attention?.op).toBe(e.attention);
          expect(l.ffn?.kind).toBe(e.ffn);
          expect(l.ffn?.norm.kind).toBe(e.norm);
          expect(l.attention?.cacheInputs).toHaveLength(e.kv);
          expect(l.attention?.cacheOutputs).toHaveLength(e.kv);
          if (e.heads) expect([l.attention?.heads, l.attention?.kvHeads]).toEqual(e.heads);
          if (e.ffn !== 'swiglu') expect(l.ffn?.upBias).toBeDefined();
          expect(l.parallel).toBe(false);
        }
        for (let i = 1; i < 3; i++) expect(map.layers[i]!.residualIn).toBe(map.layers[i - 1]!.residualOut);
      });
    }
  }

  it('recognizes parallel-residual blocks (Phi-2/GPT-J) and reports them', () => {
    const map = analyzeDecoder(makeGpt2PlainModel({ ...SIZES, kvHeads: 4, parallelResidual: true } as never));
    expect(map.unrecognized).toEqual([]);
    expect(map.layers.map((l) => l.parallel)).toEqual([true, true, true]);
    expect(map.layers.every((l) => l.attention && l.ffn)).toBe(true);
  });
});
