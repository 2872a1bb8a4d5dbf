import { describe, expect, it } from 'vitest';
import { GraphBuilder } from '../../../src/ir/builder.js';
import { verifyModel } from '../../../src/ir/verifier.js';
import type { Model } from '../../../src/ir/model.js';
import { applyMatch, applyRules, constantScalar, defineRule, findMatches, rewritePass, RULE_METADATA_KEY } from '../../../src/passes/pattern/index.js';
import type { PassContext } from '../../../src/passes/pass.js';
import { float32Input, rmsNormGraph } from './graphs.js';
import { rmsNormTorchScript } from './rules.js';

const ops = (m: Model) => m.graph.nodes.map((n) => n.qualifiedOp);

/** Use lists agree with node inputs (the verifier checks the rest). */
function expectConsistent(m: Model) {
  expect(verifyModel(m, { structuralOnly: true })).toEqual([]);
}

/** Fuses the torch.onnx RMSNorm into com.microsoft::SkipSimplifiedLayerNormalization with a zero skip. */
const toSimplifiedLn = defineRule({
  name: 'rmsnorm-to-contrib',
  vars: ['x', 'w'],
  pattern: (op, x, w) =>
    op.Mul(w, op.Mul(x, op.Div(1, op.Sqrt(op.Add(op.ReduceMean(op.Pow(x, 2), { attrs: { keepdims: 1 } }), op.var('eps', { constant: true })))))),
  check: (ctx, { eps }) => ctx.scalar(eps) !== undefined,
  rewrite: (op, { x, w, eps }) =>
    op.SkipSimplifiedLayerNormalization(x, op.constant(0), w, {
      domain: 'com.microsoft',
      attrs: { epsilon: constantScalar(eps)! },
      floatAttrs: ['epsilon'],
    }),
});

describe('rewriting one match', () => {
  it('replaces the root, removes the dead matched nodes and Constants, and tags new nodes with the rule name', () => {
    const { model, x, w } = rmsNormGraph();
    const [m] = findMatches(model, toSimplifiedLn);
    const { created, removed } = applyMatch(m!, toSimplifiedLn, model);
    expect(removed.map((n) => n.opType).sort()).toEqual(['Add', 'Constant', 'Constant', 'Constant', 'Div', 'Mul', 'Mul', 'Pow', 'ReduceMean', 'Sqrt']);
    expect(ops(model)).toEqual(['com.microsoft::SkipSimplifiedLayerNormalization']);
    const [n] = created;
    expect(n!.getMetadata(RULE_METADATA_KEY)).toBe('rmsnorm-to-contrib');
    expect(RULE_METADATA_KEY).toBe('onnx-opt.rule');
    // Named in the anchor's scope, inputs wired, graph output keeps its name and type.
    expect(n!.name).toBe('/model/layers.0/input_layernorm/SkipSimplifiedLayerNormalization');
    expect(n!.inputs[0]).toBe(x);
    expect(n!.inputs[2]).toBe(w);
    expect(model.graph.outputs[0]!.name).toBe('y');
    expect(model.graph.outputs[0]!.producer).toBe(n);
    expect(model.graph.outputs[0]!.type).toBeDefined();
    expect(model.opset('com.microsoft')).toBe(1);
    expect(x.uses.map((u) => u.node)).toEqual([n]);
    expectConsistent(model);
  });

  it('keeps matched nodes that are still read elsewhere (allowExternalUses)', () => {
    const b = new GraphBuilder();
    const x = float32Input('x', b);
    const s = b.op('Sigmoid', [x], {}, { name: 'sig' });
    b.output(b.op('Mul', [x, s], {}, { name: 'silu' }), 'y');
    b.output(b.op('Neg', [s], {}, { name: 'other' }), 'z');
    const model = b.build();
    const silu = defineRule({
      name: 'silu',
      vars: ['x'],
      pattern: (op, x) => op.Mul(x, op.Sigmoid(x, { allowExternalUses: true })),
      rewrite: (op, { x }) => op.call('QuickGelu', [x], { domain: 'com.microsoft', attrs: { alpha: 1 }, floatAttrs: ['alpha'] }),
    });
    expect(applyRules(model, [silu]).rewrites).toBe(1);
    expect(ops(model).sort()).toEqual(['Neg', 'Sigmoid', 'com.microsoft::QuickGelu']);
    expectConsistent(model);
  });

  it('a rewrite may return an existing value; a graph output then goes through an Identity', () => {
    const b = new GraphBuilder();
    const x = float32Input('x', b);
    b.output(b.op('Neg', [b.op('Neg', [x], {}, { name: 'n1' })], {}, { name: 'n2' }), 'y');
    const model = b.build();
    const doubleNeg = defineRule({ name: 'double-neg', vars: ['x'], pattern: (op, x) => op.Neg(op.Neg(x)), rewrite: (_op, { x }) => x });
    applyRules(model, [doubleNeg]);
    expect(ops(model)).toEqual(['Identity']);
    expect(model.graph.outputs[0]!.name).toBe('y');
    expectConsistent(model);
  });

  it('multi-root rules replace every root; outside readers of an inner root move to its replacement', () => {
    // sum = Add(a, b) read by the norm and by the next residual; fuse both into one 2-output node.
    const b = new GraphBuilder();
    const [a, c] = [float32Input('a', b), float32Input('c', b)];
    const w = b.floats('w', [1, 2, 3]);
    const sum = b.op('Add', [a, c], {}, { name: '/layers.1/add' });
    const normed = b.op('Mul', [sum, w], {}, { name: '/layers.1/norm' });
    b.output(b.op('MatMul', [normed, w], {}, { name: 'proj' }), 'y');
    b.output(b.op('Add', [sum, a], {}, { name: 'next_residual' }), 'z');
    const model = b.build();
    const fuse = defineRule({
      name: 'skip-norm',
      pattern: (op) => {
        const norm = op.Mul(op.Add(op.var('a'), op.var('b'), { as: 'sum' }), op.var('w'));
        return [norm, op.var('sum')] as const;
      },
      rewrite: (op, { a, b, w }) => {
        const n = op.node('SkipSimplifiedLayerNormalization', [a, b, w], { domain: 'com.microsoft', outputs: 4, attrs: { epsilon: 1e-6 } });
        return [n.output(0), n.output(3)];
      },
    });
    expect(applyRules(model, [fuse]).rewrites).toBe(1);
    const fused = model.graph.nodes.find((n) => n.opType === 'SkipSimplifiedLayerNormalization')!;
    expect(model.graph.findNode('next_residual')!.inputs[0]).toBe(fused.output(3));
    expect(model.graph.findNode('proj')!.inputs[0]).toBe(fused.output(0));
    expect(ops(model)).toEqual(['com.microsoft::SkipSimplifiedLayerNormalization', 'MatMul', 'Add']);
    expectConsistent(model);
  });

  it('refuses match-only rules and rewrites that return the wrong number of values', () => {
    const { model } = rmsNormGraph();
    expect(() => applyRules(model, [rmsNormTorchScript])).toThrow(/match-only/);
    const wrong = defineRule({
      name: 'wrong',
      vars: ['x'],
      pattern: (op, x) => op.Pow(x, 2),
      rewrite: ((_op: unknown, b: { x: unknown }) => [b.x, b.x]) as never,
    });
    expect(() => applyRules(model, [wrong])).toThrow(/1 value/);
  });
});

describe('the rewrite driver', () => {
  function negChain(n: number) {
    const b = new GraphBuilder();
    let v = float32Input('x', b);
    for (let i = 1; i <= n; i++) v = b.op('Neg', [v], {}, { name: `n${i}` });
    b.output(v, 'y');
    return b.build();
  }
  const doubleNeg = defineRule({ name: 'double-neg', vars: ['x'], pattern: (op, x) => op.Neg(op.Neg(x)), rewrite: (_op, { x }) => x });

  it('match-only returns overlapping matches; rewriting never reuses a node an earlier rewrite removed', () => {
    expect(findMatches(negChain(4), doubleNeg).map((m) => m.root.name)).toEqual(['n2', 'n3', 'n4']);
    const model = negChain(4);
    const r = applyRules(model, [doubleNeg]);
    expect(r.rewrites).toBe(2);
    expect(r.byRule).toEqual({ 'double-neg': 2 });
    expect(ops(model)).toEqual(['Identity']);
    expectConsistent(model);
  });

  it('iterates to a fixpoint over new nodes, bounded by maxIterations', () => {
    // Neg(Neg(x)) → Abs(x), and Abs(Abs(x)) → Abs(x), listed first: it can only fire in a later sweep.
    const b = new GraphBuilder();
    let v = float32Input('x', b);
    for (let i = 0; i < 8; i++) v = b.op('Neg', [v]);
    b.output(v, 'y');
    const model = b.build();
    const negNegToAbs = defineRule({ name: 'nn', vars: ['x'], pattern: (op, x) => op.Neg(op.Neg(x)), rewrite: (op, { x }) => op.Abs(x) });
    const absAbs = defineRule({ name: 'aa', vars: ['x'], pattern: (op, x) => op.Abs(op.Abs(x)), rewrite: (op, { x }) => op.Abs(x) });
    const once = applyRules(model, [absAbs, negNegToAbs], { maxIterations: 1 });
    expect(once.iterations).toBe(1);
    expect(once.byRule).toEqual({ aa: 0, nn: 4 });
    expect(ops(model)).toEqual(['Abs', 'Abs', 'Abs', 'Abs']);
    const rest = applyRules(model, [absAbs, negNegToAbs]);
    expect(ops(model)).toEqual(['Abs']);
    expect(rest.byRule).toEqual({ aa: 3, nn: 0 });
    expect(rest.iterations).toBe(2);
    expectConsistent(model);
  });

  it('rewritePass wraps rules as a pass with per-rule stats', async () => {
    const pass = rewritePass('fuse-rmsnorm', 'fuse RMSNorm', [toSimplifiedLn])();
    expect(pass.name).toBe('fuse-rmsnorm');
    expect(pass.options['max-iterations']?.default).toBe(10);
    const logs: string[] = [];
    const ctx: PassContext = { log: (m) => logs.push(m), report: {}, services: {} };
    const { model } = rmsNormGraph();
    const r = await pass.run(model, ctx);
    expect(r.modified).toBe(true);
    expect(r.stats).toEqual({ rewrites: 1, 'rmsnorm-to-contrib rewrites': 1 });
    expect(logs).toEqual(['fuse-rmsnorm: rule rmsnorm-to-contrib rewrote 1 match']);
    expect((await pass.run(model, ctx)).modified).toBe(false);
  });
});
