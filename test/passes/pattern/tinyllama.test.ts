import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { saveModel } from '../../../src/io/write-model.js';
import { loadModel } from '../../../src/io/read-model.js';
import type { Model } from '../../../src/ir/model.js';
import { verifyModel } from '../../../src/ir/verifier.js';
import { applyRules, defineRule, explainRule, findMatches, RULE_METADATA_KEY } from '../../../src/passes/pattern/index.js';
import { runFile, tokens } from '../../helpers/ort.js';
import { TINYLLAMA, tempDir } from '../../helpers/paths.js';
import { rmsNormToReciprocal, rmsNormTorchScript } from './rules.js';

const count = (m: Model, op: string) => m.graph.nodes.filter((n) => n.opType === op).length;

describe('RMSNorm rules on the real torch.onnx export (tinyllama-16l)', () => {
  let model: Model;
  beforeAll(() => {
    model = loadModel(TINYLLAMA);
  });

  it('finds exactly the 33 RMSNorms: two per layer for 16 layers, plus the final norm', () => {
    // Independent count: every RMSNorm has one Pow, one ReduceMean and one Sqrt, and nothing else does.
    expect([count(model, 'Pow'), count(model, 'ReduceMean'), count(model, 'Sqrt')]).toEqual([33, 33, 33]);
    const matches = findMatches(model, rmsNormTorchScript);
    expect(matches).toHaveLength(33);
    const expected = [
      ...Array.from({ length: 16 }, (_, i) => [`/m/layers.${i}/input_layernorm/`, `/m/layers.${i}/post_attention_layernorm/`]).flat(),
      '/m/norm/',
    ];
    expect(matches.map((m) => m.root.name)).toEqual(expected.map((p) => `${p}Mul_1`));
    for (const [i, m] of matches.entries()) {
      const scope = expected[i]!;
      expect(m.nodes).toHaveLength(7);
      expect(m.nodes.every((n) => n.name.startsWith(scope))).toBe(true);
      expect(m.bindings.w.name).toBe(`${scope.slice(1, -1).replaceAll('/', '.')}.weight`);
      expect(m.bindings.w.constant?.dims).toEqual([96]);
      expect(m.bindings.eps.producer?.opType).toBe('Constant');
    }
    // x is the embedding Gather for layer 0, then the residual Adds.
    expect(matches[0]!.bindings.x.producer?.name).toBe('/m/embed_tokens/Gather');
    expect(matches.slice(1).every((m) => m.bindings.x.producer?.opType === 'Add')).toBe(true);
  });

  it('explains a rule that matches nowhere, in plain words', () => {
    const wrongKeepdims = defineRule({
      name: 'rmsnorm-keepdims-0',
      vars: ['x', 'w'],
      pattern: (op, x, w) =>
        op.Mul(w, op.Mul(x, op.Div(1, op.Sqrt(op.Add(op.ReduceMean(op.Pow(x, 2), { attrs: { keepdims: 0 } }), op.var('eps', { constant: true })))))),
    });
    const e = explainRule(model, wrongKeepdims);
    expect(e.matches).toBe(0);
    expect(e.text).toBe(
      'rule rmsnorm-keepdims-0 matched nowhere (195 candidate Mul nodes)\n' +
        'best partial match at node /m/layers.0/input_layernorm/Mul_1: matched 5 of 7 pattern nodes; ' +
        'broke at input 0 of Add (/m/layers.0/input_layernorm/Add): ' +
        'attribute keepdims of ReduceMean (/m/layers.0/input_layernorm/ReduceMean): expected 0, found 1',
    );
  });

  it('rewrites all 33 to an equivalent opset-17 form; ONNX Runtime logits agree within 1e-4', async () => {
    const rewritten = loadModel(TINYLLAMA);
    const before = rewritten.graph.nodes.length;
    const r = applyRules(rewritten, [rmsNormToReciprocal]);
    expect(r.byRule).toEqual({ 'rmsnorm-to-reciprocal': 33 });
    expect(r.iterations).toBe(2);
    expect([count(rewritten, 'Pow'), count(rewritten, 'Reciprocal'), count(rewritten, 'Sqrt')]).toEqual([0, 33, 33]);
    // Per norm: 7 nodes and the Constants 2 and 1 out (eps is reused), 7 nodes in.
    expect(rewritten.graph.nodes.length).toBe(before - 33 * 2);
    const tagged = rewritten.graph.nodes.filter((n) => n.getMetadata(RULE_METADATA_KEY) === 'rmsnorm-to-reciprocal');
    expect(tagged).toHaveLength(33 * 7);
    expect(tagged[1]!.outputs[0]!.name).toBe(`${tagged[1]!.name}_output_0`);
    expect(tagged[0]!.name.startsWith('/m/layers.0/input_layernorm/')).toBe(true);
    expect(verifyModel(rewritten, { structuralOnly: true })).toEqual([]);
    expect(findMatches(rewritten, rmsNormTorchScript)).toHaveLength(0);

    const out = join(tempDir(), 'rewritten.onnx');
    saveModel(rewritten, out);
    // Provenance survives into the file.
    expect(loadModel(out).graph.nodes.filter((n) => n.getMetadata(RULE_METADATA_KEY) === 'rmsnorm-to-reciprocal')).toHaveLength(33 * 7);
    const feeds = { input_ids: tokens('The package manager keeps track of installed files and their dependencies.', 48) };
    const [a, b] = [await runFile(TINYLLAMA, feeds), await runFile(out, feeds)];
    const x = a.logits!.data as Float32Array;
    const y = b.logits!.data as Float32Array;
    expect(y.length).toBe(x.length);
    let maxDiff = 0;
    for (let i = 0; i < x.length; i++) maxDiff = Math.max(maxDiff, Math.abs(x[i]! - y[i]!));
    expect(maxDiff).toBeLessThan(1e-4);
    // The rewrite really changed the computation path (not a no-op that trivially agrees).
    expect(maxDiff).toBeGreaterThan(0);
  });
});
