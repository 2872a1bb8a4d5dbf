import { describe, expect, it } from 'vitest';
import { GraphBuilder } from '../../../src/ir/builder.js';
import { DataType } from '../../../src/ir/dtype.js';
import { Graph } from '../../../src/ir/graph.js';
import { Tensor } from '../../../src/ir/tensor.js';
import { foldConstants } from '../../../src/passes/canonicalize/fold-constants.js';
import { expectSameTensor, ops, runOrt, runPass, values } from './helpers.js';

const f32 = (name: string, dims: number[], fn: (i: number) => number) =>
  Tensor.fromArray(name, DataType.FLOAT, dims, Float32Array.from({ length: dims.reduce((a, b) => a * b, 1) }, (_, i) => fn(i)));

describe('fold-constants', () => {
  it('folds a node of constants into an initializer named after its output', async () => {
    const b = new GraphBuilder();
    const x = b.input('x', DataType.FLOAT, [3]);
    const a = b.floats('a', [1, 2, 3]);
    const c = b.floats('c', [0.5, 0.25, 0.125]);
    const s = b.op('Add', [a, c], {}, { name: 'add' });
    b.output(b.op('Mul', [x, s], {}, { name: 'mul' }), 'y');
    const model = b.build();
    const feeds = { x: f32('x', [3], (i) => i - 1) };
    const before = await runOrt(model, feeds);
    const res = await runPass(foldConstants(), model);
    expect(res.stats!['nodes folded']).toBe(1);
    expect(res.stats!['folded by onnxruntime']).toBe(0);
    expect(ops(model)).toEqual(['Mul']);
    const folded = model.graph.findNode('mul')!.input(1)!;
    expect(folded.name).toBe('add_output_0');
    expect(values(folded.constant)).toEqual([1.5, 2.25, 3.125]);
    expectSameTensor((await runOrt(model, feeds)).y, before.y);
  });

  it('folds shape arithmetic on static shapes down to a constant Reshape target', async () => {
    const b = new GraphBuilder();
    const x = b.input('x', DataType.FLOAT, [2, 3, 4]);
    const shape = b.op('Shape', [x]);
    const d0 = b.op('Gather', [shape, b.ints('zero', [0], true)], { axis: 0 });
    const u = b.op('Unsqueeze', [d0, b.ints('axes', [0])]);
    const target = b.op('Concat', [u, b.ints('minus1', [-1])], { axis: 0 });
    b.output(b.op('Reshape', [x, target], {}, { name: 'reshape' }), 'y');
    const model = b.build();
    const feeds = { x: f32('x', [2, 3, 4], (i) => i) };
    const before = await runOrt(model, feeds);
    const res = await runPass(foldConstants(), model);
    expect(res.stats).toMatchObject({ 'shapes folded': 1, 'nodes folded': 3, 'folded by onnxruntime': 0 });
    expect(ops(model)).toEqual(['Reshape']);
    expect(values(model.graph.findNode('reshape')!.input(1)!.constant)).toEqual([2, -1]);
    expectSameTensor((await runOrt(model, feeds)).y, before.y);
  });

  it('folds Shape only over static dims; Size only for fully static shapes', async () => {
    const b = new GraphBuilder(undefined, [{ domain: '', version: 17 }]);
    const x = b.input('x', DataType.FLOAT, ['B', 3, 4]);
    b.output(b.op('Shape', [x], { start: 1 }, { name: 'tail_shape' }), 'tail');
    b.output(b.op('Shape', [x], { start: -3, end: 2 }, { name: 'head_shape' }), 'head');
    b.output(b.op('Size', [x], {}, { name: 'size_x' }), 'size');
    const z = b.input('z', DataType.FLOAT, [5, 6]);
    b.output(b.op('Size', [z], {}, { name: 'size_z' }), 'zsize');
    const model = b.build();
    const res = await runPass(foldConstants(), model);
    expect(res.stats!['shapes folded']).toBe(2);
    expect(model.graph.nodes.map((n) => n.name || n.opType)).toEqual(['head_shape', 'size_x', 'Identity', 'Identity']);
    const out = await runOrt(model, { x: f32('x', [7, 3, 4], () => 0), z: f32('z', [5, 6], () => 0) });
    expect(values(out.tail)).toEqual([3, 4]);
    expect(values(out.head)).toEqual([7, 3]);
    expect(values(out.zsize)).toEqual([30]);
  });

  it('turns Constant nodes into initializers, except one that is itself a graph output', async () => {
    const b = new GraphBuilder();
    const x = b.input('x', DataType.FLOAT, [2]);
    const k = b.op('Constant', [], { value: f32('k', [2], (i) => i + 1) }, { name: 'k' });
    const kf = b.op('Constant', [], { value_float: 0.5 }, { name: 'kf', floatAttrs: ['value_float'] });
    const ki = b.op('Constant', [], { value_ints: [1, 2] }, { name: 'ki' });
    b.output(b.op('Mul', [b.op('Add', [x, k]), kf]), 'y');
    b.output(b.op('Constant', [], { value_int: 7 }, { name: 'seven_const' }), 'seven');
    b.output(ki, 'ki_out');
    const model = b.build();
    const feeds = { x: f32('x', [2], (i) => i) };
    const before = await runOrt(model, feeds);
    const res = await runPass(foldConstants(), model);
    expect(res.stats!['Constant nodes to initializers']).toBe(2);
    expect(ops(model)).toEqual(['Constant', 'Add', 'Mul', 'Constant']);
    expect(model.graph.initializers.get('k_output_0')!.initializer!.dtype).toBe(DataType.FLOAT);
    expect(model.graph.initializers.get('kf_output_0')!.type).toEqual({ kind: 'tensor', dtype: DataType.FLOAT, shape: [] });
    const after = await runOrt(model, feeds);
    for (const k of ['y', 'seven', 'ki_out']) expectSameTensor(after[k], before[k]);
  });

  it('keeps a folded graph output under its name and then reaches a fixed point', async () => {
    const b = new GraphBuilder();
    b.input('x', DataType.FLOAT, [1]);
    const a = b.floats('a', [1, 2]);
    b.output(b.op('Neg', [a], {}, { name: 'neg' }), 'y');
    const model = b.build();
    const res = await runPass(foldConstants(), model);
    expect(res.modified).toBe(true);
    expect(ops(model)).toEqual(['Identity']);
    expect(model.graph.outputs[0]!.name).toBe('y');
    expect(values(model.graph.nodes[0]!.input(0)!.constant)).toEqual([-1, -2]);
    expect((await runPass(foldConstants(), model)).modified).toBe(false);
    expect(values((await runOrt(model, { x: f32('x', [1], () => 0) })).y)).toEqual([-1, -2]);
  });

  it('does not create tensors beyond max-size, but always folds weight transposes', async () => {
    const build = () => {
      const b = new GraphBuilder();
      const x = b.input('x', DataType.FLOAT, [300, 200]);
      const big = b.op('ConstantOfShape', [b.ints('shape', [300, 200])], { value: f32('v', [1], () => 2) }, { name: 'cos' });
      const w = b.initTensor(f32('w', [200, 300], (i) => (i % 7) - 3));
      const wt = b.op('Transpose', [w], { perm: [1, 0] }, { name: 'wt' });
      b.output(b.op('Add', [b.op('Mul', [x, big]), wt]), 'y');
      return b.build();
    };
    const small = build();
    const feeds = { x: f32('x', [300, 200], (i) => i % 11) };
    const before = await runOrt(small, feeds);
    const res = await runPass(foldConstants({ 'max-size': 1000 }), small);
    expect(res.stats).toMatchObject({ 'nodes folded': 1, 'skipped (too large)': 1 });
    expect(small.graph.findNode('cos')).toBeDefined();
    expect(small.graph.findNode('wt')).toBeUndefined();
    expectSameTensor((await runOrt(small, feeds)).y, before.y);

    const dflt = build();
    expect((await runPass(foldConstants(), dflt)).stats!['nodes folded']).toBe(2);
    expectSameTensor((await runOrt(dflt, feeds)).y, before.y);
  });

  it('evaluates other ops through onnxruntime, bit for bit', async () => {
    const b = new GraphBuilder();
    const x = b.input('x', DataType.FLOAT, [4, 4]);
    const w = b.initTensor(f32('w', [4, 4], (i) => Math.sin(i)));
    const sm = b.op('Softmax', [w], { axis: -1 }, { name: 'softmax' });
    const e = b.op('Exp', [sm], {}, { name: 'exp' });
    const mm = b.op('MatMul', [e, w], {}, { name: 'matmul' });
    const [vals, idx] = b.opMulti('TopK', [mm, b.ints('k', [2])], ['topv', 'topi'], { axis: 1 });
    b.output(b.op('MatMul', [x, mm]), 'y');
    b.output(vals!, 'v');
    b.output(b.op('Cast', [idx!], { to: DataType.FLOAT }), 'i');
    const model = b.build();
    const feeds = { x: f32('x', [4, 4], (i) => i / 3) };
    const before = await runOrt(model, feeds);
    const res = await runPass(foldConstants(), model);
    expect(res.stats).toMatchObject({ 'nodes folded': 5, 'folded by onnxruntime': 4 });
    expect(ops(model)).toEqual(['MatMul', 'Identity', 'Identity']);
    const after = await runOrt(model, feeds);
    for (const k of ['y', 'v', 'i']) expectSameTensor(after[k], before[k]);
  });

  it('never folds random ops or dequantization of weights', async () => {
    const b = new GraphBuilder(undefined, [{ domain: '', version: 19 }]);
    const x = b.input('x', DataType.FLOAT, [4]);
    const w = b.floats('w', [1, 2, 3, 4]);
    const r = b.op('RandomUniformLike', [w], {}, { name: 'random' });
    const q = b.init('q', DataType.INT8, [4], Int8Array.of(1, -2, 3, -4));
    const dq = b.op('DequantizeLinear', [q, b.floats('scale', [0.5], [])], {}, { name: 'dq' });
    b.output(b.op('Add', [b.op('Add', [x, r]), dq]), 'y');
    const model = b.build();
    const res = await runPass(foldConstants(), model);
    expect(res.modified).toBe(false);
    expect(ops(model)).toEqual(['RandomUniformLike', 'DequantizeLinear', 'Add', 'Add']);
  });

  it('does not fold graph inputs that have an initializer (they can be overridden)', async () => {
    const b = new GraphBuilder();
    const x = b.input('x', DataType.FLOAT, [2]);
    const dflt = b.floats('x_default', [1, 2]);
    b.graph.inputs.push(dflt);
    b.output(b.op('Neg', [dflt]), 'y');
    b.output(b.op('Neg', [x]), 'z');
    const model = b.build();
    expect((await runPass(foldConstants(), model)).modified).toBe(false);
  });

  it('folds inside subgraphs, reading outer constants', async () => {
    const b = new GraphBuilder();
    const x = b.input('x', DataType.FLOAT, [2]);
    const c = b.input('c', DataType.BOOL, []);
    const a = b.floats('a', [3, 4]);
    const g = new Graph('then', { parent: b.graph });
    const inner = new GraphBuilder(g);
    g.addOutput(inner.op('Add', [x, inner.op('Sqrt', [a], {}, { name: 'sqrt' })], {}, { name: 'inner_add' }));
    const e = new Graph('else', { parent: b.graph });
    e.addOutput(new GraphBuilder(e).op('Neg', [x]));
    b.output(b.op('If', [c], { then_branch: g, else_branch: e }), 'y');
    const model = b.build();
    const feeds = { x: f32('x', [2], (i) => i), c: Tensor.fromArray('c', DataType.BOOL, [], Uint8Array.of(1)) };
    const before = await runOrt(model, feeds);
    const res = await runPass(foldConstants(), model);
    expect(res.stats!['nodes folded']).toBe(1);
    expect(g.nodes.map((n) => n.name)).toEqual(['inner_add']);
    expect([...g.initializers.keys()]).toEqual(['sqrt_output_0']);
    expectSameTensor((await runOrt(model, feeds)).y, before.y);
  });

  it('leaves nodes alone when one input is not constant', async () => {
    const b = new GraphBuilder();
    const x = b.input('x', DataType.FLOAT, [2]);
    b.output(b.op('Add', [x, b.floats('a', [1, 2])]), 'y');
    const model = b.build();
    expect((await runPass(foldConstants(), model)).modified).toBe(false);
  });
});
