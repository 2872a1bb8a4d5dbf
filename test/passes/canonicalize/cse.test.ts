import { describe, expect, it } from 'vitest';
import { Attribute } from '../../../src/ir/attribute.js';
import { GraphBuilder } from '../../../src/ir/builder.js';
import { DataType } from '../../../src/ir/dtype.js';
import { Graph } from '../../../src/ir/graph.js';
import { Tensor } from '../../../src/ir/tensor.js';
import { cse } from '../../../src/passes/canonicalize/cse.js';
import { expectSameTensor, ops, runOrt, runPass } from './helpers.js';

const xData = () => Tensor.fromArray('x', DataType.FLOAT, [2, 3], Float32Array.from([1, -2, 3, -4, 5, -6]));

describe('cse', () => {
  it('merges identical nodes, transitively, and keeps graph output names', async () => {
    const b = new GraphBuilder();
    const x = b.input('x', DataType.FLOAT, [2, 3]);
    const y = b.input('y', DataType.FLOAT, [2, 3]);
    const a1 = b.op('Add', [x, y], {}, { name: 'a1' });
    const a2 = b.op('Add', [x, y], {}, { name: 'a2' });
    const r1 = b.op('Relu', [a1], {}, { name: 'r1' });
    const r2 = b.op('Relu', [a2], {}, { name: 'r2' });
    const s = b.op('Sub', [y, x], {}, { name: 'sub' }); // operands swapped: different
    b.output(b.op('Mul', [r1, s], {}, { name: 'm' }), 'p');
    b.output(r2, 'q');
    const model = b.build();
    const feeds = { x: xData(), y: xData() };
    const before = await runOrt(model, feeds);
    const res = await runPass(cse(), model);
    expect(res.stats).toEqual({ 'nodes merged': 2, 'constants merged': 0 });
    expect(model.graph.nodes.map((n) => n.name)).toEqual(['a1', 'r1', 'sub', 'm']);
    // r1's output took the name of the graph output q.
    expect(model.graph.outputs.map((o) => o.name)).toEqual(['p', 'q']);
    expect(model.graph.outputs[1]!.producer?.name).toBe('r1');
    const after = await runOrt(model, feeds);
    expectSameTensor(after.p, before.p);
    expectSameTensor(after.q, before.q);
  });

  it('compares attributes by value', async () => {
    const b = new GraphBuilder();
    const x = b.input('x', DataType.FLOAT, [2, 3, 4]);
    const t1 = b.op('Transpose', [x], { perm: [0, 2, 1] }, { name: 't1' });
    const t2 = b.op('Transpose', [x], { perm: [0, 2, 1] }, { name: 't2' });
    const t3 = b.op('Transpose', [x], { perm: [1, 0, 2] }, { name: 't3' });
    const l1 = b.op('LeakyRelu', [x], { alpha: 0 }, { name: 'l1', floatAttrs: ['alpha'] });
    const l2 = b.op('LeakyRelu', [x], { alpha: -0 }, { name: 'l2', floatAttrs: ['alpha'] });
    const l3 = b.op('LeakyRelu', [x], { alpha: 0 }, { name: 'l3', floatAttrs: ['alpha'] });
    const shape = b.ints('shape', [2]);
    const c1 = b.op('ConstantOfShape', [shape], { value: Tensor.fromArray('v', DataType.FLOAT, [1], Float32Array.of(1)) }, { name: 'c1' });
    const c2 = b.op('ConstantOfShape', [shape], { value: Tensor.fromArray('other_name', DataType.FLOAT, [1], Float32Array.of(1)) }, { name: 'c2' });
    const c3 = b.op('ConstantOfShape', [shape], { value: Tensor.fromArray('v', DataType.FLOAT, [1], Float32Array.of(2)) }, { name: 'c3' });
    const c4 = b.op('ConstantOfShape', [shape], { value: Tensor.fromArray('v', DataType.DOUBLE, [1], Float64Array.of(1)) }, { name: 'c4' });
    for (const [i, v] of [t1, t2, t3, l1, l2, l3, c1, c2, c3, c4].entries()) b.output(v, `o${i}`);
    const model = b.build();
    const res = await runPass(cse(), model);
    expect(res.stats!['nodes merged']).toBe(3);
    const remaining = model.graph.nodes.filter((n) => n.opType !== 'Identity').map((n) => n.name);
    expect(remaining).toEqual(['t1', 't3', 'l1', 'l2', 'c1', 'c3', 'c4']);
    // Graph outputs of merged nodes read the survivor through an Identity that keeps their names.
    expect(model.graph.outputs.map((o) => o.name)).toEqual(['o0', 'o1', 'o2', 'o3', 'o4', 'o5', 'o6', 'o7', 'o8', 'o9']);
    const ids = model.graph.nodes.filter((n) => n.opType === 'Identity').map((n) => n.input(0)!.producer!.name);
    expect(ids).toEqual(['t1', 'l1', 'c1']);
  });

  it('never merges random ops, Dropout, or nodes with subgraphs', async () => {
    const b = new GraphBuilder();
    const x = b.input('x', DataType.FLOAT, [2, 3]);
    const c = b.input('c', DataType.BOOL, []);
    const r1 = b.op('RandomUniformLike', [x], { seed: 1 }, { name: 'r1', floatAttrs: ['seed'] });
    const r2 = b.op('RandomUniformLike', [x], { seed: 1 }, { name: 'r2', floatAttrs: ['seed'] });
    const d1 = b.op('Dropout', [x], {}, { name: 'd1' });
    const d2 = b.op('Dropout', [x], {}, { name: 'd2' });
    const branch = (name: string) => {
      const g = new Graph(name, { parent: b.graph });
      g.addOutput(new GraphBuilder(g).op('Neg', [x], {}, { name: `${name}_neg` }));
      return g;
    };
    const i1 = b.op('If', [c], { then_branch: branch('a1'), else_branch: branch('b1') }, { name: 'if1' });
    const i2 = b.op('If', [c], { then_branch: branch('a2'), else_branch: branch('b2') }, { name: 'if2' });
    b.output(b.op('Sum', [r1, r2, d1, d2, i1, i2]), 'y');
    const model = b.build();
    expect((await runPass(cse(), model)).modified).toBe(false);
    expect(ops(model)).toEqual(['RandomUniformLike', 'RandomUniformLike', 'Dropout', 'Dropout', 'If', 'If', 'Sum']);
  });

  it('merges inside subgraphs', async () => {
    const b = new GraphBuilder();
    const x = b.input('x', DataType.FLOAT, [2]);
    const c = b.input('c', DataType.BOOL, []);
    const g = new Graph('then', { parent: b.graph });
    const inner = new GraphBuilder(g);
    g.addOutput(inner.op('Add', [inner.op('Neg', [x], {}, { name: 'n1' }), inner.op('Neg', [x], {}, { name: 'n2' })], {}, { name: 'add' }));
    const e = new Graph('else', { parent: b.graph });
    e.addOutput(new GraphBuilder(e).op('Identity', [x]));
    b.output(b.op('If', [c], { then_branch: g, else_branch: e }), 'y');
    const model = b.build();
    const feeds = { x: Tensor.fromArray('x', DataType.FLOAT, [2], Float32Array.of(1, -3)), c: Tensor.fromArray('c', DataType.BOOL, [], Uint8Array.of(1)) };
    const before = await runOrt(model, feeds);
    expect((await runPass(cse(), model)).stats).toEqual({ 'nodes merged': 1, 'constants merged': 0 });
    expect(g.nodes.map((n) => n.name)).toEqual(['n1', 'add']);
    expect(g.nodes[1]!.inputs.map((v) => v!.producer!.name)).toEqual(['n1', 'n1']);
    expectSameTensor((await runOrt(model, feeds)).y, before.y);
  });

  it('merges identical constants, then the nodes that read them', async () => {
    const b = new GraphBuilder();
    const x = b.input('x', DataType.FLOAT, [2, 3]);
    const w1 = b.floats('w1', [1, 2, 3]);
    const w2 = b.floats('w2', [1, 2, 3]);
    const w3 = b.floats('w3', [1, 2, 4]);
    const s1 = b.ints('s1', [3]);
    const s2 = b.init('s2', DataType.INT32, [1], Int32Array.of(3)); // the same number, but another type: not merged
    const m1 = b.op('Mul', [x, w1], {}, { name: 'm1' });
    const m2 = b.op('Mul', [x, w2], {}, { name: 'm2' });
    const m3 = b.op('Mul', [x, w3], {}, { name: 'm3' });
    b.output(b.op('Sum', [m1, m2, m3], {}, { name: 'sum' }), 'y');
    b.output(b.op('Cast', [s1], { to: DataType.INT32 }), 'a');
    b.output(b.op('Identity', [s2]), 'b');
    const model = b.build();
    const before = await runOrt(model, { x: xData() });
    const res = await runPass(cse(), model);
    expect(res.stats).toEqual({ 'nodes merged': 1, 'constants merged': 1 });
    expect(model.graph.initializers.has('w2')).toBe(false);
    expect([...model.graph.initializers.keys()]).toEqual(['w1', 'w3', 's1', 's2']);
    expect(model.graph.findNode('sum')!.inputs.map((v) => v!.producer!.name)).toEqual(['m1', 'm1', 'm3']);
    const after = await runOrt(model, { x: xData() });
    expectSameTensor(after.y, before.y);
  });

  it('treats attribute order and trailing absent inputs as irrelevant', async () => {
    const b = new GraphBuilder();
    const x = b.input('x', DataType.FLOAT, [1, 2, 4, 4]);
    const p1 = b.node('AveragePool', [x], {}, { name: 'p1' });
    p1.attributes = [Attribute.ints('kernel_shape', [2, 2]), Attribute.ints('strides', [2, 2])];
    const p2 = b.node('AveragePool', [x], {}, { name: 'p2' });
    p2.attributes = [Attribute.ints('strides', [2, 2]), Attribute.ints('kernel_shape', [2, 2])];
    const c1 = b.op('Clip', [x, undefined, undefined], {}, { name: 'c1' });
    const c2 = b.op('Clip', [x], {}, { name: 'c2' });
    b.output(b.op('Add', [p1.output(), p2.output()]), 'y');
    b.output(b.op('Add', [c1, c2]), 'z');
    const model = b.build();
    expect((await runPass(cse(), model)).stats!['nodes merged']).toBe(2);
  });
});
