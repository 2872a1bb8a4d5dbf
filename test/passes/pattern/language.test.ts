import { describe, expect, it } from 'vitest';
import { GraphBuilder } from '../../../src/ir/builder.js';
import { DataType } from '../../../src/ir/dtype.js';
import { anyOf, defaultsTo, defineRule, findMatches, ok, type AttrConstraint } from '../../../src/passes/pattern/index.js';
import { constantNode, float32Input, rmsNormGraph } from './graphs.js';
import { rmsNormTorchScript } from './rules.js';

const names = (vs: Record<string, { name: string } | undefined>) => Object.fromEntries(Object.entries(vs).map(([k, v]) => [k, v?.name]));

describe('commutative inputs', () => {
  const addOfRelu = (commutative?: boolean) =>
    defineRule({
      name: 'add-relu',
      pattern: (op) => op.Add(op.var('a'), op.Relu(op.var('b')), commutative === undefined ? {} : { commutative }),
    });

  function graph(reluFirst: boolean) {
    const b = new GraphBuilder();
    const x = float32Input('x', b);
    const z = float32Input('z', b);
    const r = b.op('Relu', [z], {}, { name: 'relu' });
    b.output(b.op('Add', reluFirst ? [r, x] : [x, r], {}, { name: 'add' }), 'y');
    return b.build();
  }

  it('Add matches with the operands in either order, binding the same variables', () => {
    for (const reluFirst of [false, true]) {
      const ms = findMatches(graph(reluFirst), addOfRelu());
      expect(ms).toHaveLength(1);
      expect(names(ms[0]!.bindings)).toEqual({ a: 'x', b: 'z' });
    }
  });

  it('commutative: false matches only the written order', () => {
    expect(findMatches(graph(false), addOfRelu(false))).toHaveLength(1);
    expect(findMatches(graph(true), addOfRelu(false))).toHaveLength(0);
  });

  it('the RMSNorm weight may be either input of the last Mul', () => {
    for (const weightFirst of [true, false]) {
      const { model } = rmsNormGraph({ weightFirst });
      const ms = findMatches(model, rmsNormTorchScript);
      expect(ms).toHaveLength(1);
      expect(ms[0]!.bindings.w.name).toBe('model.layers.0.input_layernorm.weight');
      expect(ms[0]!.bindings.x.name).toBe('x');
      expect(ms[0]!.nodes).toHaveLength(7);
    }
  });

  it('a variable used twice must bind one value', () => {
    const square = defineRule({ name: 'square', vars: ['x'], pattern: (op, x) => op.Mul(x, x) });
    const b = new GraphBuilder();
    const x = float32Input('x', b);
    const z = float32Input('z', b);
    b.output(b.op('Mul', [x, x], {}, { name: 'sq' }), 'y1');
    b.output(b.op('Mul', [x, z], {}, { name: 'xz' }), 'y2');
    const ms = findMatches(b.build(), square);
    expect(ms.map((m) => m.root.name)).toEqual(['sq']);
  });
});

describe('optional nodes', () => {
  const negOfMaybeCast = defineRule({
    name: 'neg-cast',
    pattern: (op) => op.Neg(op.optional(op.Cast(op.var('x'), { attrs: { to: DataType.FLOAT } }))),
  });

  it('matches with the Cast, binding its input and covering the Cast node', () => {
    const b = new GraphBuilder();
    const x = b.input('x', DataType.FLOAT16, [2]);
    const c = b.op('Cast', [x], { to: DataType.FLOAT }, { name: 'cast' });
    b.output(b.op('Neg', [c], {}, { name: 'neg' }), 'y');
    const [m, ...rest] = findMatches(b.build(), negOfMaybeCast);
    expect(rest).toHaveLength(0);
    expect(m!.bindings.x).toBe(x);
    expect(m!.nodes.map((n) => n.name)).toEqual(['neg', 'cast']);
  });

  it('matches without the Cast, binding the Neg input itself', () => {
    const b = new GraphBuilder();
    const x = float32Input('x', b);
    b.output(b.op('Neg', [x], {}, { name: 'neg' }), 'y');
    const [m] = findMatches(b.build(), negOfMaybeCast);
    expect(m!.bindings.x).toBe(x);
    expect(m!.nodes.map((n) => n.name)).toEqual(['neg']);
  });

  it('a Cast that fails its constraints is skipped: the variable binds the Cast output', () => {
    const b = new GraphBuilder();
    const x = float32Input('x', b);
    const c = b.op('Cast', [x], { to: DataType.FLOAT16 }, { name: 'cast' });
    b.output(b.op('Neg', [c], {}, { name: 'neg' }), 'y');
    const [m] = findMatches(b.build(), negOfMaybeCast);
    expect(m!.bindings.x).toBe(c);
    expect(m!.nodes.map((n) => n.name)).toEqual(['neg']);
  });
});

describe('alternatives', () => {
  const reluOfAddOrSub = defineRule({
    name: 'relu-add-or-sub',
    pattern: (op) => op.Relu(op.oneOf(op.Add(op.var('a'), op.var('b')), op.Sub(op.var('a'), op.var('c')))),
  });

  function graph(opType: string) {
    const b = new GraphBuilder();
    const s = b.op(opType, [float32Input('p', b), float32Input('q', b)], {}, { name: 'inner' });
    b.output(b.op('Relu', [s], {}, { name: 'relu' }), 'y');
    return b.build();
  }

  it('matches either alternative and binds that alternative\'s variables', () => {
    const [add] = findMatches(graph('Add'), reluOfAddOrSub);
    expect(names(add!.bindings)).toEqual({ a: 'p', b: 'q' });
    const [sub] = findMatches(graph('Sub'), reluOfAddOrSub);
    expect(names(sub!.bindings)).toEqual({ a: 'p', c: 'q' });
    expect(findMatches(graph('Mul'), reluOfAddOrSub)).toHaveLength(0);
  });

  it('a oneOf at the root anchors on every alternative\'s op', () => {
    const rule = defineRule({ name: 'act', pattern: (op) => op.oneOf(op.Relu(op.var('x')), op.Sigmoid(op.var('x'))) });
    expect([...rule.anchorOps].sort()).toEqual(['::Relu', '::Sigmoid']);
    const b = new GraphBuilder();
    const x = float32Input('x', b);
    b.output(b.op('Relu', [x], {}, { name: 'r' }), 'y1');
    b.output(b.op('Sigmoid', [x], {}, { name: 's' }), 'y2');
    b.output(b.op('Tanh', [x], {}, { name: 't' }), 'y3');
    expect(findMatches(b.build(), rule).map((m) => m.root.name)).toEqual(['r', 's']);
  });
});

describe('custom domains, input counts and multi-output nodes', () => {
  function gqaGraph(domain: string, extraInput = false) {
    const b = new GraphBuilder();
    const ins = ['q', 'k', 'v', 'past_key_values.0.key', 'past_key_values.0.value', 'seqlens_k', 'total_seq_len'].map((n) => float32Input(n, b));
    const cos = float32Input('cos_cache', b);
    const [out, pk, pv] = b.opMulti('GroupQueryAttention', [...ins, extraInput ? cos : undefined], ['attn_out', 'present.0.key', 'present.0.value'], { num_heads: 4, kv_num_heads: 2 }, { domain, name: '/model/layers.0/attn/GroupQueryAttention' });
    b.output(out!);
    b.output(pk!);
    b.output(pv!);
    return b.build();
  }

  const gqa = defineRule({
    name: 'gqa',
    pattern: (op) => {
      const node = op.call(
        'GroupQueryAttention',
        [op.var('q'), op.var('k'), op.var('v'), op.var('pastKey'), op.var('pastValue'), op.any(), op.any()],
        { domain: 'com.microsoft', attrs: { num_heads: 4 } },
      );
      return [node, node.output(1, 'presentKey'), node.output(2, 'presentValue')] as const;
    },
  });

  it('matches a com.microsoft op and binds outputs 1 and 2', () => {
    const ms = findMatches(gqaGraph('com.microsoft'), gqa);
    expect(ms).toHaveLength(1);
    const b = ms[0]!.bindings;
    expect(b.pastKey.name).toBe('past_key_values.0.key');
    expect(b.presentKey.name).toBe('present.0.key');
    expect(b.presentValue.name).toBe('present.0.value');
    expect(ms[0]!.outputs.map((v) => v.name)).toEqual(['attn_out', 'present.0.key', 'present.0.value']);
  });

  it('does not match the same op name in another domain, nor a default-domain pattern a contrib node', () => {
    expect(findMatches(gqaGraph(''), gqa)).toHaveLength(0);
    const plain = defineRule({ name: 'plain', pattern: (op) => op.call('GroupQueryAttention', [op.var('q')], { allowOtherInputs: true, allowExternalUses: true }) });
    expect(findMatches(gqaGraph('com.microsoft'), plain)).toHaveLength(0);
    expect(findMatches(gqaGraph(''), plain)).toHaveLength(1);
  });

  it('checks the domain of inner nodes too (ONNX 23 and com.microsoft both have a RotaryEmbedding)', () => {
    const graph = (domain: string) => {
      const b = new GraphBuilder();
      const [x, pos, cos, sin] = ['x', 'pos', 'cos', 'sin'].map((n) => float32Input(n, b));
      const rot = b.op('RotaryEmbedding', [x!, pos!, cos!, sin!], {}, { domain, name: 'rope' });
      b.output(b.op('MatMul', [rot, x!], {}, { name: 'scores' }), 'y');
      return b.build();
    };
    const rule = defineRule({
      name: 'rope-matmul',
      pattern: (op) => op.MatMul(op.RotaryEmbedding(op.var('x'), op.var('pos'), op.var('cos'), op.var('sin'), { domain: 'com.microsoft' }), op.var('k')),
    });
    expect(findMatches(graph('com.microsoft'), rule)).toHaveLength(1);
    expect(findMatches(graph(''), rule)).toHaveLength(0);
  });

  it('a present input beyond the pattern\'s rejects unless allowOtherInputs', () => {
    expect(findMatches(gqaGraph('com.microsoft', true), gqa)).toHaveLength(0);
    const lenient = defineRule({
      name: 'gqa-lenient',
      pattern: (op) => {
        const node = op.call('GroupQueryAttention', [op.var('q')], { domain: 'com.microsoft', allowOtherInputs: true });
        return [node, node.output(1), node.output(2)] as const;
      },
    });
    expect(findMatches(gqaGraph('com.microsoft', true), lenient)).toHaveLength(1);
  });

  it('binds output 3 of SkipSimplifiedLayerNormalization, and an output index must agree', () => {
    const b = new GraphBuilder();
    const [x, skip] = [float32Input('x', b), float32Input('skip', b)];
    const w = b.floats('w', [1, 1, 1]);
    const [normed, , , residual] = b.opMulti('SkipSimplifiedLayerNormalization', [x, skip, w], ['normed', '', '', 'residual'], { epsilon: 1e-5 }, { domain: 'com.microsoft', name: 'ssln' });
    b.output(b.op('MatMul', [normed!, w], {}, { name: 'proj' }), 'y');
    b.output(b.op('Add', [residual!, x], {}, { name: 'res_add' }), 'z');
    const model = b.build();
    const residualAdd = defineRule({
      name: 'residual-add',
      pattern: (op) =>
        op.Add(
          op.call('SkipSimplifiedLayerNormalization', [op.var('x'), op.var('skip'), op.var('w')], { domain: 'com.microsoft', allowExternalUses: true }).output(3, 'residual'),
          op.var('other'),
        ),
    });
    const [m] = findMatches(model, residualAdd);
    expect(m!.root.name).toBe('res_add');
    expect(m!.bindings.residual).toBe(residual);
    expect(m!.bindings.skip.name).toBe('skip');
    // Output 0 of the pattern node is not output 3 of the graph node.
    const wrongIndex = defineRule({
      name: 'wrong-index',
      pattern: (op) => op.Add(op.call('SkipSimplifiedLayerNormalization', [op.var('x'), op.var('skip'), op.var('w')], { domain: 'com.microsoft', allowExternalUses: true }), op.var('other')),
    });
    expect(findMatches(model, wrongIndex)).toHaveLength(0);
  });
});

describe('attribute constraints', () => {
  function reduceGraph(attrs: Record<string, number | number[]>) {
    const b = new GraphBuilder();
    b.output(b.op('ReduceMean', [float32Input('x', b)], attrs, { name: 'rm' }), 'y');
    return b.build();
  }
  const rule = (attrs: Record<string, AttrConstraint>) => defineRule({ name: 'rm', pattern: (op) => op.ReduceMean(op.var('x'), { attrs }) });

  it('an exact value accepts the same value and rejects another or a missing attribute', () => {
    expect(findMatches(reduceGraph({ keepdims: 1, axes: [-1] }), rule({ keepdims: 1, axes: [-1] }))).toHaveLength(1);
    expect(findMatches(reduceGraph({ keepdims: 0, axes: [-1] }), rule({ keepdims: 1 }))).toHaveLength(0);
    expect(findMatches(reduceGraph({ keepdims: 1, axes: [0] }), rule({ axes: [-1] }))).toHaveLength(0);
    expect(findMatches(reduceGraph({ axes: [-1] }), rule({ keepdims: 1 }))).toHaveLength(0);
  });

  it('predicates, defaultsTo and anyOf', () => {
    expect(findMatches(reduceGraph({ axes: [-1] }), rule({ keepdims: defaultsTo(1) }))).toHaveLength(1);
    expect(findMatches(reduceGraph({ keepdims: 0 }), rule({ keepdims: defaultsTo(1) }))).toHaveLength(0);
    expect(findMatches(reduceGraph({ keepdims: 1, axes: [2] }), rule({ axes: anyOf([-1], [2]) }))).toHaveLength(1);
    const lastAxis = (v: unknown) => Array.isArray(v) && v.length === 1 && (v[0] === -1 || v[0] === 2);
    expect(findMatches(reduceGraph({ axes: [2] }), rule({ axes: lastAxis }))).toHaveLength(1);
    expect(findMatches(reduceGraph({ axes: [1] }), rule({ axes: lastAxis }))).toHaveLength(0);
  });

  it('float attributes compare at float32 precision', () => {
    const b = new GraphBuilder();
    const x = float32Input('x', b);
    b.output(b.op('LeakyRelu', [x], { alpha: Math.fround(0.01) }, { name: 'lr', floatAttrs: ['alpha'] }), 'y');
    const model = b.build();
    expect(findMatches(model, defineRule({ name: 'a', pattern: (op) => op.LeakyRelu(op.var('x'), { attrs: { alpha: 0.01 } }) }))).toHaveLength(1);
    expect(findMatches(model, defineRule({ name: 'b', pattern: (op) => op.LeakyRelu(op.var('x'), { attrs: { alpha: 0.02 } }) }))).toHaveLength(0);
  });
});

describe('constants', () => {
  it('a constant variable binds a Constant node output or an initializer, not a computed value', () => {
    expect(findMatches(rmsNormGraph({ eps: 'constant-node' }).model, rmsNormTorchScript)).toHaveLength(1);
    expect(findMatches(rmsNormGraph({ eps: 'initializer' }).model, rmsNormTorchScript)).toHaveLength(1);
    expect(findMatches(rmsNormGraph({ eps: 'computed' }).model, rmsNormTorchScript)).toHaveLength(0);
  });

  it('a graph input with an initializer default is not a constant', () => {
    const { model } = rmsNormGraph({ eps: 'initializer' });
    const eps = model.graph.initializers.get('eps')!;
    model.graph.inputs.push(eps);
    expect(findMatches(model, rmsNormTorchScript)).toHaveLength(0);
  });

  it('op.const (and a number input) compares the elements, for Constant nodes and initializers', () => {
    const powOf = (k: number) => defineRule({ name: `pow${k}`, pattern: (op) => op.Pow(op.var('x'), k) });
    const b = new GraphBuilder();
    const x = float32Input('x', b);
    b.output(b.op('Pow', [x, constantNode(b, 'two', [2])], {}, { name: 'p_node' }), 'y1');
    b.output(b.op('Pow', [x, b.floats('two_init', [2], [1])], {}, { name: 'p_init' }), 'y2');
    b.output(b.op('Pow', [x, constantNode(b, 'three', [3])], {}, { name: 'p_three' }), 'y3');
    b.output(b.op('Pow', [x, b.floats('twos', [2, 2])], {}, { name: 'p_vector' }), 'y4');
    b.output(b.op('Pow', [x, float32Input('e', b, [])], {}, { name: 'p_input' }), 'y5');
    const model = b.build();
    expect(findMatches(model, powOf(2)).map((m) => m.root.name)).toEqual(['p_node', 'p_init']);
    expect(findMatches(model, powOf(3)).map((m) => m.root.name)).toEqual(['p_three']);
    const pair = defineRule({ name: 'pair', pattern: (op) => op.Pow(op.var('x'), op.const([2, 2])) });
    expect(findMatches(model, pair).map((m) => m.root.name)).toEqual(['p_vector']);
    // The Constant node is reported with the match (a rewrite removes it once dead).
    expect(findMatches(model, powOf(2))[0]!.constantNodes.map((n) => n.name)).toEqual(['two']);
  });
});

describe('uses outside the match', () => {
  function graph(extraUse: 'none' | 'node' | 'graph-output') {
    const b = new GraphBuilder();
    const x = float32Input('x', b);
    const s = b.op('Sigmoid', [x], {}, { name: 'sig' });
    b.output(b.op('Relu', [s], {}, { name: 'relu' }), 'y');
    if (extraUse === 'node') b.output(b.op('Neg', [s], {}, { name: 'other' }), 'z');
    if (extraUse === 'graph-output') b.output(s);
    return b.build();
  }
  const strict = defineRule({ name: 'strict', pattern: (op) => op.Relu(op.Sigmoid(op.var('x'))) });
  const nodeAllows = defineRule({ name: 'node-allows', pattern: (op) => op.Relu(op.Sigmoid(op.var('x'), { allowExternalUses: true })) });
  const ruleAllows = defineRule({ name: 'rule-allows', allowExternalUses: true, pattern: (op) => op.Relu(op.Sigmoid(op.var('x'))) });

  it('an intermediate value read outside the match rejects it by default', () => {
    expect(findMatches(graph('none'), strict)).toHaveLength(1);
    expect(findMatches(graph('node'), strict)).toHaveLength(0);
    expect(findMatches(graph('graph-output'), strict)).toHaveLength(0);
  });

  it('allowExternalUses on the pattern node or on the rule accepts it', () => {
    for (const g of ['node', 'graph-output'] as const) {
      expect(findMatches(graph(g), nodeAllows)).toHaveLength(1);
      expect(findMatches(graph(g), ruleAllows)).toHaveLength(1);
    }
  });

  it('the root value itself may have any number of uses', () => {
    const b = new GraphBuilder();
    const r = b.op('Relu', [b.op('Sigmoid', [float32Input('x', b)])], {}, { name: 'relu' });
    b.output(b.op('Neg', [r]), 'a');
    b.output(b.op('Abs', [r]), 'c');
    b.output(r);
    expect(findMatches(b.build(), strict)).toHaveLength(1);
  });
});

describe('shared sub-patterns, `as` bindings and checks', () => {
  it('a pattern node used twice must be one graph node', () => {
    const rule = defineRule({
      name: 'sig-times-neg-sig',
      pattern: (op) => {
        const s = op.Sigmoid(op.var('x'));
        return op.Mul(s, op.Neg(s));
      },
    });
    expect(rule.patternNodes).toBe(3);
    const graph = (shared: boolean) => {
      const b = new GraphBuilder();
      const x = float32Input('x', b);
      const s1 = b.op('Sigmoid', [x], {}, { name: 's1' });
      const s2 = shared ? s1 : b.op('Sigmoid', [x], {}, { name: 's2' });
      b.output(b.op('Mul', [s1, b.op('Neg', [s2], {}, { name: 'neg' })], {}, { name: 'mul' }), 'y');
      return b.build();
    };
    const [m] = findMatches(graph(true), rule);
    expect(m!.nodes.map((n) => n.name)).toEqual(['mul', 's1', 'neg']);
    expect(findMatches(graph(false), rule)).toHaveLength(0);
  });

  it('`as` binds an intermediate value as a variable', () => {
    const rule = defineRule({ name: 'as', pattern: (op) => op.Relu(op.Sigmoid(op.var('x'), { as: 'gate' })) });
    const b = new GraphBuilder();
    const s = b.op('Sigmoid', [float32Input('x', b)], {}, { name: 'sig' });
    b.output(b.op('Relu', [s]), 'y');
    expect(findMatches(b.build(), rule)[0]!.bindings.gate).toBe(s);
  });

  it('a failing check makes the matcher try the other operand order before giving up', () => {
    // Mul(a, b) with a check that wants `w` to be the initializer: only the swapped order passes.
    const rule = defineRule({
      name: 'checked',
      vars: ['w', 'x'],
      pattern: (op, w, x) => op.Mul(w, x),
      check: (ctx, { w }) => (ctx.constant(w) ? ok() : ctx.fail('w must be constant', w)),
    });
    const b = new GraphBuilder();
    const x = float32Input('x', b);
    const w = b.floats('W', [1, 2, 3]);
    b.output(b.op('Mul', [x, w], {}, { name: 'm' }), 'y');
    b.output(b.op('Mul', [x, x], {}, { name: 'sq' }), 'y2');
    const ms = findMatches(b.build(), rule);
    expect(ms.map((m) => m.root.name)).toEqual(['m']);
    expect(ms[0]!.bindings.w).toBe(w);
  });

  it('declared variables must be used, and a variable cannot be both constant and not', () => {
    expect(() => defineRule({ name: 'unused', vars: ['x', 'y'], pattern: (op, x) => op.Relu(x) })).toThrow(/never uses/);
    expect(() => defineRule({ name: 'mixed', pattern: (op) => op.Add(op.var('a'), op.var('a', { constant: true })) })).toThrow(/constant/);
    expect(() => defineRule({ name: 'bad-root', pattern: (op) => op.var('a') })).toThrow(/root/);
  });
});
