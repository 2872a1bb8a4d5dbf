import { describe, expect, it } from 'vitest';
import { GraphBuilder } from '../../../src/ir/builder.js';
import { DataType } from '../../../src/ir/dtype.js';
import { Graph } from '../../../src/ir/graph.js';
import { Tensor } from '../../../src/ir/tensor.js';
import { eliminateIdentity } from '../../../src/passes/canonicalize/eliminate-identity.js';
import { expectSameTensor, ops, runOrt, runPass } from './helpers.js';

const xData = () => Tensor.fromArray('x', DataType.FLOAT, [2, 3], Float32Array.from([1, -2, 3, -4, 5, -6]));

describe('eliminate-identity', () => {
  it('removes Identity chains and keeps the graph output name', async () => {
    const b = new GraphBuilder();
    const x = b.input('x', DataType.FLOAT, [2, 3]);
    const r = b.op('Relu', [x], {}, { name: 'relu' });
    const i1 = b.op('Identity', [r], {}, { name: 'id1' });
    const i2 = b.op('Identity', [i1], {}, { name: 'id2' });
    b.output(b.op('Neg', [i2], {}, { name: 'neg' }), 'n');
    b.output(b.op('Identity', [i2], {}, { name: 'id3' }), 'y');
    const model = b.build();
    const before = await runOrt(model, { x: xData() });
    const res = await runPass(eliminateIdentity(), model);
    expect(res.modified).toBe(true);
    expect(res.stats).toEqual({ 'Identity removed': 3 });
    expect(ops(model)).toEqual(['Relu', 'Neg']);
    // The Relu output took over the graph output's name.
    expect(model.graph.outputs.map((o) => o.name)).toEqual(['n', 'y']);
    expect(model.graph.outputs[1]!.producer?.opType).toBe('Relu');
    const after = await runOrt(model, { x: xData() });
    expectSameTensor(after.y, before.y);
    expectSameTensor(after.n, before.n);
  });

  it('keeps an Identity from a graph input to a graph output (removing it would only add another)', async () => {
    const b = new GraphBuilder();
    const x = b.input('x', DataType.FLOAT, [2]);
    b.output(b.op('Identity', [x]), 'y');
    const model = b.build();
    const res = await runPass(eliminateIdentity(), model);
    expect(res.modified).toBe(false);
    expect(ops(model)).toEqual(['Identity']);
    // A second output that duplicates the first stays too.
    const b2 = new GraphBuilder();
    const r = b2.op('Relu', [b2.input('x', DataType.FLOAT, [2])]);
    b2.output(r, 'a');
    b2.output(b2.op('Identity', [r]), 'b');
    const m2 = b2.build();
    expect((await runPass(eliminateIdentity(), m2)).modified).toBe(false);
  });

  it('removes a Cast to the type the input already has, and only that', async () => {
    const b = new GraphBuilder();
    const x = b.input('x', DataType.FLOAT, [2, 3]);
    const same = b.op('Cast', [x], { to: DataType.FLOAT }, { name: 'same' });
    const other = b.op('Cast', [same], { to: DataType.DOUBLE }, { name: 'other' });
    const untyped = b.op('Relu', [x]);
    const unknown = b.op('Cast', [untyped], { to: DataType.FLOAT }, { name: 'unknown' });
    const like = b.op('CastLike', [x, x], {}, { name: 'like' });
    b.output(other, 'y');
    b.output(b.op('Add', [unknown, like]), 'z');
    const model = b.build();
    const res = await runPass(eliminateIdentity(), model);
    expect(res.stats).toEqual({ 'Cast removed': 1, 'CastLike removed': 1 });
    expect(model.graph.nodes.map((n) => n.name || n.opType)).toEqual(['other', 'Relu', 'unknown', 'Add']);
    expect(model.graph.findNode('other')!.input(0)).toBe(x);
  });

  it('removes Reshape to the same static shape (0 and -1 included), not others', async () => {
    const b = new GraphBuilder();
    const x = b.input('x', DataType.FLOAT, [2, 3]);
    const s1 = b.op('Reshape', [x, b.ints('s1', [2, 3])], {}, { name: 'r1' });
    const s2 = b.op('Reshape', [s1, b.ints('s2', [0, -1])], {}, { name: 'r2' });
    const s3 = b.op('Reshape', [s2, b.ints('s3', [3, 2])], {}, { name: 'r3' });
    b.output(s3, 'y');
    const model = b.build();
    const before = await runOrt(model, { x: xData() });
    const res = await runPass(eliminateIdentity(), model);
    expect(res.stats).toEqual({ 'Reshape removed': 2 });
    expect(model.graph.nodes.map((n) => n.name)).toEqual(['r3']);
    expect(model.graph.findNode('r3')!.input(0)).toBe(x);
    expectSameTensor((await runOrt(model, { x: xData() })).y, before.y);
  });

  it('honours allowzero: a literal 0 must match the input dim', async () => {
    const b = new GraphBuilder(undefined, [{ domain: '', version: 14 }]);
    const x = b.setType(b.op('Relu', [b.input('x', DataType.FLOAT, [0, 3])]), DataType.FLOAT, [0, 3]);
    b.output(b.op('Reshape', [x, b.ints('s', [0, 3])], { allowzero: 1 }, { name: 'same' }), 'y');
    const z = b.setType(b.op('Relu', [b.input('z', DataType.FLOAT, [2, 0])]), DataType.FLOAT, [2, 0]);
    b.output(b.op('Reshape', [z, b.ints('t', [0, 0])], { allowzero: 1 }, { name: 'zeroed' }), 'w');
    const model = b.build();
    const res = await runPass(eliminateIdentity(), model);
    expect(res.stats).toEqual({ 'Reshape removed': 1 });
    expect(model.graph.nodes.map((n) => n.name || n.opType)).toEqual(['Relu', 'Relu', 'zeroed']);
  });

  it('keeps Reshape when the input shape is not static', async () => {
    const b = new GraphBuilder();
    const x = b.input('x', DataType.FLOAT, ['B', 3]);
    b.output(b.op('Reshape', [x, b.ints('s', [0, 3])]), 'y');
    const model = b.build();
    expect((await runPass(eliminateIdentity(), model)).modified).toBe(false);
  });

  it('removes Transpose with the identity permutation only', async () => {
    const b = new GraphBuilder();
    const x = b.input('x', DataType.FLOAT, [2, 3]);
    const t1 = b.op('Transpose', [x], { perm: [0, 1] }, { name: 't1' });
    const t2 = b.op('Transpose', [t1], { perm: [1, 0] }, { name: 't2' });
    const t3 = b.op('Transpose', [t2], {}, { name: 't3' }); // default perm reverses: not a no-op at rank 2
    const v = b.input('v', DataType.FLOAT, [4]);
    const t4 = b.op('Transpose', [b.op('Relu', [v], {}, { name: 'relu' })], {}, { name: 't4' }); // rank 1: no-op
    b.setType(b.graph.findNode('relu')!.output(), DataType.FLOAT, [4]);
    b.output(t3, 'y');
    b.output(t4, 'w');
    const model = b.build();
    const res = await runPass(eliminateIdentity(), model);
    expect(res.stats).toEqual({ 'Transpose removed': 2 });
    expect(model.graph.nodes.map((n) => n.name)).toEqual(['t2', 't3', 'relu']);
    expect(model.graph.outputs.map((o) => o.name)).toEqual(['y', 'w']);
    expect(model.graph.outputs[1]!.producer?.name).toBe('relu');
  });

  it('removes inference-mode Dropout whose mask is unused', async () => {
    const b = new GraphBuilder(undefined, [{ domain: '', version: 13 }]);
    const x = b.input('x', DataType.FLOAT, [2, 3]);
    const f = b.init('f', DataType.BOOL, [], Uint8Array.of(0));
    const t = b.init('t', DataType.BOOL, [], Uint8Array.of(1));
    const r = b.op('Relu', [x]);
    const d1 = b.op('Dropout', [r], {}, { name: 'd1' });
    const d2 = b.node('Dropout', [d1, undefined, f], {}, { name: 'd2', outputs: ['d2_out', ''] }).output(0);
    const [d3, mask] = b.opMulti('Dropout', [d2], ['d3_out', 'd3_mask'], {}, { name: 'd3' });
    const d4 = b.op('Dropout', [d3!, b.floats('ratio', [0.5], []), t], {}, { name: 'd4' });
    const training = b.input('training', DataType.BOOL, []);
    const d5 = b.op('Dropout', [d4, undefined, training], {}, { name: 'd5' });
    b.output(d5, 'y');
    b.output(mask!, 'mask');
    const model = b.build();
    const res = await runPass(eliminateIdentity(), model);
    expect(res.stats).toEqual({ 'Dropout removed': 2 });
    expect(model.graph.nodes.map((n) => n.name || n.opType)).toEqual(['Relu', 'd3', 'd4', 'd5']);
    expect(model.graph.findNode('d3')!.input(0)!.producer?.opType).toBe('Relu');
  });

  it('works inside subgraphs', async () => {
    const b = new GraphBuilder();
    const x = b.input('x', DataType.FLOAT, [2]);
    const c = b.input('c', DataType.BOOL, []);
    const mkBranch = (name: string, op: string) => {
      const g = new Graph(name, { parent: b.graph });
      const inner = new GraphBuilder(g);
      const id = inner.op('Identity', [x], {}, { name: `${name}_id` });
      g.addOutput(inner.op(op, [id], {}, { name: `${name}_op` }));
      return g;
    };
    const y = b.op('If', [c], { then_branch: mkBranch('then', 'Relu'), else_branch: mkBranch('else', 'Neg') });
    b.output(y, 'y');
    const model = b.build();
    const before = await runOrt(model, { x: Tensor.fromArray('x', DataType.FLOAT, [2], Float32Array.of(-1, 2)), c: Tensor.fromArray('c', DataType.BOOL, [], Uint8Array.of(0)) });
    const res = await runPass(eliminateIdentity(), model);
    expect(res.stats).toEqual({ 'Identity removed': 2 });
    const then = model.graph.nodes[0]!.subgraphs[0]!;
    expect(then.nodes.map((n) => n.opType)).toEqual(['Relu']);
    expect(then.nodes[0]!.input(0)).toBe(x);
    const after = await runOrt(model, { x: Tensor.fromArray('x', DataType.FLOAT, [2], Float32Array.of(-1, 2)), c: Tensor.fromArray('c', DataType.BOOL, [], Uint8Array.of(0)) });
    expectSameTensor(after.y, before.y);
  });
});
