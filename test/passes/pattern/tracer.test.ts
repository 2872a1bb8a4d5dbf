import { describe, expect, it } from 'vitest';
import { GraphBuilder } from '../../../src/ir/builder.js';
import { defineRule, explainRule } from '../../../src/passes/pattern/index.js';
import { float32Input, rmsNormGraph } from './graphs.js';
import { rmsNormTorchScript } from './rules.js';

const P = '/model/layers.0/input_layernorm/';

describe('explainRule', () => {
  it('names the best partial match and the input where it broke', () => {
    const { model } = rmsNormGraph({ eps: 'computed' });
    const e = explainRule(model, rmsNormTorchScript);
    expect(e.matches).toBe(0);
    expect(e.candidates).toBe(2);
    expect(e.best?.anchor.name).toBe(`${P}Mul_1`);
    expect(e.best?.matchedNodes).toBe(7);
    expect(e.best?.patternNodes).toBe(7);
    expect(e.text).toBe(
      'rule rmsnorm-torchscript matched nowhere (2 candidate Mul nodes)\n' +
        `best partial match at node ${P}Mul_1: matched 7 of 7 pattern nodes; ` +
        `broke at input 1 of Add (${P}Add): expected a constant (eps), found output of Sqrt (${P}eps_sqrt)`,
    );
  });

  it('reports an attribute mismatch with both values, counting the nodes matched before it', () => {
    const { model } = rmsNormGraph({ keepdims: 0 });
    const e = explainRule(model, rmsNormTorchScript);
    expect(e.best?.matchedNodes).toBe(5);
    expect(e.text).toContain(
      `matched 5 of 7 pattern nodes; broke at input 0 of Add (${P}Add): attribute keepdims of ReduceMean (${P}ReduceMean): expected 1, found 0`,
    );
  });

  it('reports a failed check with its reason and the value it is about', () => {
    const { model } = rmsNormGraph({ eps: 'two-elements' });
    expect(explainRule(model, rmsNormTorchScript).text).toContain(
      `matched 7 of 7 pattern nodes; broke at the rule check: epsilon must be a scalar constant (at output of Constant (${P}Constant_1))`,
    );
  });

  it('reports an intermediate read outside the match', () => {
    const b = new GraphBuilder();
    const s = b.op('Sigmoid', [float32Input('x', b)], {}, { name: 'sig' });
    b.output(b.op('Relu', [s], {}, { name: 'relu' }), 'y');
    b.output(b.op('Neg', [s], {}, { name: 'other' }), 'z');
    const rule = defineRule({ name: 'relu-sig', pattern: (op) => op.Relu(op.Sigmoid(op.var('x'))) });
    expect(explainRule(b.build(), rule).text).toBe(
      'rule relu-sig matched nowhere (1 candidate Relu node)\n' +
        'best partial match at node relu: matched 2 of 2 pattern nodes; broke at the use check: ' +
        'output of Sigmoid (sig) is also read outside the match, by Neg (other) (allowExternalUses permits this)',
    );
  });

  it('says when the root op is missing, and counts matches when there are some', () => {
    const b = new GraphBuilder();
    b.output(b.op('Relu', [float32Input('x', b)], {}, { name: 'r' }), 'y');
    expect(explainRule(b.build(), rmsNormTorchScript).text).toBe(
      "rule rmsnorm-torchscript matched nowhere: the graph has no Mul node (the pattern's root)",
    );
    const ok = explainRule(rmsNormGraph().model, rmsNormTorchScript);
    expect(ok.matches).toBe(1);
    expect(ok.text.split('\n')[0]).toBe('rule rmsnorm-torchscript matched 1 of 2 candidate Mul nodes');
    expect(ok.best?.anchor.name).toBe(`${P}Mul`);
  });

  it('an absent input and a wrong op are described in words', () => {
    const b = new GraphBuilder();
    const x = float32Input('x', b);
    b.output(b.op('Clip', [x, undefined, b.floats('hi', [6], [])], {}, { name: 'clip' }), 'y');
    const rule = defineRule({ name: 'clip', pattern: (op) => op.Clip(op.var('x'), op.Relu(op.var('lo')), op.var('hi')) });
    expect(explainRule(b.build(), rule).best?.reason).toBe('expected Relu, found nothing (the input is absent)');
  });
});
