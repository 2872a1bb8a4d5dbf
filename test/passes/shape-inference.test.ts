import { rmSync } from 'node:fs';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { saveModel } from '../../src/io/write-model.js';
import { loadModel } from '../../src/io/read-model.js';
import { GraphBuilder } from '../../src/ir/builder.js';
import { DataType } from '../../src/ir/dtype.js';
import { Graph } from '../../src/ir/graph.js';
import type { Model } from '../../src/ir/model.js';
import { Tensor } from '../../src/ir/tensor.js';
import { formatType, tensorType, type Dim, type TensorType } from '../../src/ir/types.js';
import type { Value } from '../../src/ir/value.js';
import { broadcastDim, dimAdd, dimSub, evaluateDim, solveReshapeUnknown } from '../../src/passes/shape-inference/dims.js';
import { inferShapes, inferShapesPass, registerShapeRule } from '../../src/passes/shape-inference/infer-shapes.js';
import { runFile } from '../helpers/ort.js';
import { TINYLLAMA, TINYLLAMA_KV, tempDir } from '../helpers/paths.js';

const passCtx = { log: () => {}, report: {}, services: {} };
const INT64_MAX = 9223372036854775807n;

function t(v: Value | undefined): TensorType | undefined {
  const ty = v?.type;
  return ty?.kind === 'tensor' ? ty : undefined;
}

function shapeOf(v: Value | undefined): readonly Dim[] | undefined {
  return t(v)?.shape;
}

/** Forgets every node output's type (graph outputs included), as if the exporter wrote none. */
function clearTypes(model: Model): void {
  for (const n of model.graph.allNodes()) for (const o of n.outputs) if (o) o.type = undefined;
}

function i64(name: string, values: bigint[], dims = [values.length]): Tensor {
  return Tensor.fromArray(name, DataType.INT64, dims, BigInt64Array.from(values));
}

describe('dim algebra', () => {
  it('broadcasts symbols: equal stay, 1 gives the other, different symbols are unknown', () => {
    expect(broadcastDim('s', 's')).toBe('s');
    expect(broadcastDim(1, 's')).toBe('s');
    expect(broadcastDim('s', 1)).toBe('s');
    expect(broadcastDim('s', 't')).toBeNull();
    expect(broadcastDim('s', 8)).toBe(8);
    expect(broadcastDim(null, 8)).toBe(8);
    expect(broadcastDim(null, 's')).toBeNull();
    expect(broadcastDim(null, 1)).toBeNull();
  });

  it('adds and cancels symbolic expressions', () => {
    const total = dimAdd('past_sequence_length', 'sequence_length');
    expect(total).toBe('past_sequence_length + sequence_length');
    expect(dimAdd('sequence_length', 'past_sequence_length')).toBe(total);
    expect(dimSub(total, 'sequence_length')).toBe('past_sequence_length');
    expect(dimAdd('s', 1)).toBe('s + 1');
    expect(dimSub(dimAdd('s', 1), 1)).toBe('s');
    expect(evaluateDim(total, { past_sequence_length: 3, sequence_length: 7 })).toBe(10);
    expect(solveReshapeUnknown(['b', 's', 96], ['b', 's', 24])).toBe(4);
    expect(solveReshapeUnknown(['b', 's', 96], [96])).toBeNull();
    expect(solveReshapeUnknown(['b', 4, 's', 24], ['s', 96])).toBe('b');
    expect(solveReshapeUnknown(['b', 's', 96], ['b', 2])).toBe('48*s');
  });
});

describe('infer-shapes on hand-built graphs', () => {
  it('broadcasts elementwise ops with symbolic dims, and comparisons give bool', () => {
    const b = new GraphBuilder();
    const x = b.input('x', DataType.FLOAT, ['batch', 'seq', 1]);
    const y = b.input('y', DataType.FLOAT, [1, 'seq', 8]);
    const u = b.input('u', DataType.FLOAT, ['n', 3]);
    const w = b.input('w', DataType.FLOAT, ['m', 3]);
    const sum = b.op('Add', [x, y]);
    const other = b.op('Mul', [u, w]);
    const cmp = b.op('Greater', [x, y]);
    const p = b.op('Pow', [sum, b.floats('two', [2], [])]);
    inferShapes(b.build());
    expect(t(sum)).toEqual(tensorType(DataType.FLOAT, ['batch', 'seq', 8]));
    expect(shapeOf(other)).toEqual([null, 3]);
    expect(t(cmp)).toEqual(tensorType(DataType.BOOL, ['batch', 'seq', 8]));
    expect(shapeOf(p)).toEqual(['batch', 'seq', 8]);
  });

  it('Reshape: 0 copies the input dim, -1 is solved, torch.onnx Shape→Gather→Unsqueeze→Concat targets stay symbolic', () => {
    const b = new GraphBuilder();
    const x = b.input('x', DataType.FLOAT, ['B', 'S', 96]);
    const r1 = b.op('Reshape', [x, b.ints('t1', [0, 0, -1, 24])]);
    const r2 = b.op('Reshape', [x, b.ints('t2', [-1, 96])]);
    const r3 = b.op('Reshape', [x, b.ints('t3', [0, -1])]);
    // torch.onnx: shape = [x.shape[0], x.shape[1], 4, 24]
    const shp = b.op('Shape', [x]);
    const d0 = b.op('Gather', [shp, b.ints('i0', [0], true)], { axis: 0 });
    const d1 = b.op('Gather', [shp, b.ints('i1', [1], true)], { axis: 0 });
    const u0 = b.op('Unsqueeze', [d0, b.ints('ax0', [0])]);
    const u1 = b.op('Unsqueeze', [d1, b.ints('ax1', [0])]);
    const target = b.op('Concat', [u0, u1, b.ints('c4', [4]), b.ints('c24', [24])], { axis: 0 });
    const r4 = b.op('Reshape', [x, target]);
    const back = b.op('Reshape', [b.op('Transpose', [r4], { perm: [0, 2, 1, 3] }), b.ints('t5', [0, 0, -1])]);
    inferShapes(b.build());
    expect(shapeOf(r1)).toEqual(['B', 'S', 4, 24]);
    expect(shapeOf(r2)).toEqual([null, 96]);
    expect(shapeOf(r3)).toEqual(['B', '96*S']);
    expect(t(d0)).toEqual(tensorType(DataType.INT64, []));
    expect(t(target)).toEqual(tensorType(DataType.INT64, [4]));
    expect(t(r4)).toEqual(tensorType(DataType.FLOAT, ['B', 'S', 4, 24]));
    expect(shapeOf(back)).toEqual(['B', 4, '24*S']);
  });

  it('Slice: negative starts/ends, INT64_MAX ends, negative steps, symbolic dims', () => {
    const b = new GraphBuilder();
    const x = b.input('x', DataType.FLOAT, ['B', 'S', 24]);
    const lastHalf = b.op('Slice', [x, b.ints('s0', [-12]), b.initTensor(i64('e0', [INT64_MAX])), b.ints('a0', [-1])]);
    const butLast = b.op('Slice', [x, b.ints('s1', [0]), b.ints('e1', [-1]), b.ints('a1', [2]), b.ints('st1', [2])]);
    const reversed = b.op('Slice', [x, b.ints('s2', [-1]), b.initTensor(i64('e2', [-INT64_MAX])), b.ints('a2', [2]), b.ints('st2', [-1])]);
    const seqTail = b.op('Slice', [x, b.ints('s3', [1]), b.initTensor(i64('e3', [INT64_MAX])), b.ints('a3', [1])]);
    const all = b.op('Slice', [x, b.ints('s4', [0]), b.initTensor(i64('e4', [INT64_MAX])), b.ints('a4', [1])]);
    // Slicing a shape vector keeps its contents.
    const dims = b.op('Slice', [b.op('Shape', [x]), b.ints('s5', [-2]), b.initTensor(i64('e5', [INT64_MAX]))]);
    const r = b.op('Reshape', [b.input('y', DataType.FLOAT, ['S', 24]), dims]);
    inferShapes(b.build());
    expect(shapeOf(lastHalf)).toEqual(['B', 'S', 12]);
    expect(shapeOf(butLast)).toEqual(['B', 'S', 12]);
    expect(shapeOf(reversed)).toEqual(['B', 'S', 24]);
    expect(shapeOf(seqTail)).toEqual(['B', 'S - 1', 24]);
    expect(shapeOf(all)).toEqual(['B', 'S', 24]);
    expect(shapeOf(dims)).toEqual([2]);
    expect(shapeOf(r)).toEqual(['S', 24]);
  });

  it('Gather: scalar index drops the axis, tensor index inserts its shape', () => {
    const b = new GraphBuilder();
    const emb = b.floats('emb', new Array(256 * 4).fill(0), [256, 4]);
    const ids = b.input('ids', DataType.INT64, ['B', 'S']);
    const x = b.op('Gather', [emb, ids]);
    const row = b.op('Gather', [emb, b.ints('k', [3], true)]);
    const cols = b.op('Gather', [x, b.ints('kk', [0, 1])], { axis: 2 });
    const seq = b.op('Gather', [b.op('Shape', [x]), b.ints('one', [1], true)], { axis: 0 });
    const asShape = b.op('Unsqueeze', [seq, b.ints('zero', [0])]);
    const fill = b.op('ConstantOfShape', [asShape]);
    inferShapes(b.build());
    expect(t(x)).toEqual(tensorType(DataType.FLOAT, ['B', 'S', 4]));
    expect(shapeOf(row)).toEqual([4]);
    expect(shapeOf(cols)).toEqual(['B', 'S', 2]);
    expect(t(seq)).toEqual(tensorType(DataType.INT64, []));
    expect(t(fill)).toEqual(tensorType(DataType.FLOAT, ['S']));
  });

  it('Concat adds symbolic dims along the axis and concatenates shape vectors', () => {
    const b = new GraphBuilder();
    const past = b.input('past', DataType.FLOAT, ['B', 2, 'P', 24]);
    const cur = b.input('cur', DataType.FLOAT, ['B', 2, 'S', 24]);
    const fixed = b.input('fixed', DataType.FLOAT, ['B', 2, 5, 24]);
    const kv = b.op('Concat', [past, cur], { axis: 2 });
    const more = b.op('Concat', [kv, fixed], { axis: -2 });
    const unknown = b.op('Concat', [past, b.input('q', DataType.FLOAT, [null, null, 3, null])], { axis: 2 });
    const shp = b.op('Concat', [b.op('Shape', [cur]), b.ints('extra', [7])], { axis: 0 });
    const r = b.op('ConstantOfShape', [shp], { value: i64('v', [1n], [1]) });
    inferShapes(b.build());
    expect(shapeOf(kv)).toEqual(['B', 2, 'P + S', 24]);
    expect(shapeOf(more)).toEqual(['B', 2, 'P + S + 5', 24]);
    expect(shapeOf(unknown)).toEqual(['B', 2, 'P + 3', 24]);
    expect(t(shp)).toEqual(tensorType(DataType.INT64, [5]));
    expect(t(r)).toEqual(tensorType(DataType.INT64, ['B', 2, 'S', 24, 7]));
  });

  it('Where broadcasts condition and branches; its contents drive Expand (GQA repeat)', () => {
    const b = new GraphBuilder();
    const mask = b.input('mask', DataType.BOOL, [1, 1, 'S', 'S']);
    const scores = b.input('scores', DataType.FLOAT, ['B', 4, 'S', 'S']);
    const w = b.op('Where', [mask, b.floats('neg', [-1e9], []), scores]);
    // torch.onnx's Expand target: Where(Equal(shape, -1), ones, shape)
    const k = b.input('k', DataType.FLOAT, ['B', 2, 1, 'T', 24]);
    const target = b.op('Concat', [b.op('Shape', [b.input('like', DataType.FLOAT, ['B', 2])]), b.ints('rest', [2]), b.op('Slice', [b.op('Shape', [k]), b.ints('s', [3]), b.ints('e', [5])])], {
      axis: 0,
    });
    const ones = b.op('ConstantOfShape', [b.ints('five', [5])], { value: i64('one', [1n], [1]) });
    const minus = b.op('Mul', [ones, b.ints('m1', [-1], true)]);
    const fixedTarget = b.op('Where', [b.op('Equal', [target, minus]), ones, target]);
    const expanded = b.op('Expand', [k, fixedTarget]);
    inferShapes(b.build());
    expect(t(w)).toEqual(tensorType(DataType.FLOAT, ['B', 4, 'S', 'S']));
    expect(shapeOf(fixedTarget)).toEqual([5]);
    expect(shapeOf(expanded)).toEqual(['B', 2, 2, 'T', 24]);
  });

  it('Range: constant inputs give a fixed length, a symbolic limit gives a symbolic one', () => {
    const b = new GraphBuilder();
    const r = b.op('Range', [b.ints('a', [0], true), b.ints('l', [10], true), b.ints('d', [3], true)]);
    const x = b.input('x', DataType.INT64, ['B', 'S']);
    const seq = b.op('Gather', [b.op('Shape', [x]), b.ints('one', [1], true)]);
    const lim = b.op('Cast', [seq], { to: DataType.FLOAT });
    const pos = b.op('Range', [b.floats('f0', [0], []), lim, b.floats('f1', [1], [])]);
    const shifted = b.op('Range', [b.ints('p', [2], true), seq, b.ints('d1', [1], true)]);
    // Range output feeding shape arithmetic: its contents are tracked.
    const r2 = b.op('Reshape', [b.input('y', DataType.FLOAT, [12]), b.op('Range', [b.ints('a2', [1], true), b.ints('l2', [4], true), b.ints('d2', [1], true)])]);
    inferShapes(b.build());
    expect(t(r)).toEqual(tensorType(DataType.INT64, [4]));
    expect(t(pos)).toEqual(tensorType(DataType.FLOAT, ['S']));
    expect(shapeOf(shifted)).toEqual(['S - 2']);
    expect(shapeOf(r2)).toEqual([1, 2, 3]);
  });

  it('ConstantOfShape from a Shape, Unsqueeze/Squeeze/Transpose/Expand/Cast', () => {
    const b = new GraphBuilder();
    const x = b.input('x', DataType.FLOAT16, ['B', 'S', 4]);
    const c = b.op('ConstantOfShape', [b.op('Shape', [x])], { value: i64('v', [0n], [1]) });
    const cDefault = b.op('ConstantOfShape', [b.op('Shape', [x], { start: 1 })]);
    const u = b.op('Unsqueeze', [x, b.ints('ax', [1, -1])]);
    const s = b.op('Squeeze', [u, b.ints('sax', [1])]);
    const tr = b.op('Transpose', [x]);
    const e = b.op('Expand', [b.input('one', DataType.FLOAT, [1, 1, 4]), b.op('Shape', [x])]);
    const cast = b.op('Cast', [x], { to: DataType.FLOAT });
    inferShapes(b.build());
    expect(t(c)).toEqual(tensorType(DataType.INT64, ['B', 'S', 4]));
    expect(t(cDefault)).toEqual(tensorType(DataType.FLOAT, ['S', 4]));
    expect(shapeOf(u)).toEqual(['B', 1, 'S', 4, 1]);
    expect(shapeOf(s)).toEqual(['B', 'S', 4, 1]);
    expect(shapeOf(tr)).toEqual([4, 'S', 'B']);
    expect(t(e)).toEqual(tensorType(DataType.FLOAT, ['B', 'S', 4]));
    expect(t(cast)).toEqual(tensorType(DataType.FLOAT, ['B', 'S', 4]));
  });

  it('MatMul, Gemm, reductions, Softmax, LayerNormalization', () => {
    const b = new GraphBuilder(undefined, [{ domain: '', version: 18 }]);
    const x = b.input('x', DataType.FLOAT, ['B', 'S', 96]);
    const m = b.op('MatMul', [x, b.input('w', DataType.FLOAT, [96, 256])]);
    const bm = b.op('MatMul', [b.input('q', DataType.FLOAT, ['B', 4, 'S', 24]), b.input('kt', DataType.FLOAT, ['B', 4, 24, 'T'])]);
    const vec = b.op('MatMul', [x, b.input('v', DataType.FLOAT, [96])]);
    const g = b.op('Gemm', [b.input('a', DataType.FLOAT, [96, 'N']), b.input('bb', DataType.FLOAT, [10, 96])], { transA: 1, transB: 1 });
    const mean = b.op('ReduceMean', [x], { axes: [-1], keepdims: 1 });
    const sum18 = b.op('ReduceSum', [x, b.ints('axes', [1])], { keepdims: 0 });
    const all = b.op('ReduceMax', [x], { keepdims: 0 });
    const sm = b.op('Softmax', [bm], { axis: -1 });
    const ln = b.node('LayerNormalization', [x, b.floats('g', new Array(96).fill(1)), b.floats('bt', new Array(96).fill(0))], { axis: -1 }, { outputs: ['y', 'mu', 'rstd'] });
    const arg = b.op('ArgMax', [m], { axis: -1, keepdims: 0 });
    inferShapes(b.build());
    expect(shapeOf(m)).toEqual(['B', 'S', 256]);
    expect(shapeOf(bm)).toEqual(['B', 4, 'S', 'T']);
    expect(shapeOf(vec)).toEqual(['B', 'S']);
    expect(shapeOf(g)).toEqual(['N', 10]);
    expect(shapeOf(mean)).toEqual(['B', 'S', 1]);
    expect(shapeOf(sum18)).toEqual(['B', 96]);
    expect(shapeOf(all)).toEqual([]);
    expect(shapeOf(sm)).toEqual(['B', 4, 'S', 'T']);
    expect(shapeOf(ln.outputs[0])).toEqual(['B', 'S', 96]);
    expect(t(ln.outputs[2])).toEqual(tensorType(DataType.FLOAT, ['B', 'S', 1]));
    expect(t(arg)).toEqual(tensorType(DataType.INT64, ['B', 'S']));
  });

  it('keeps known information unless overwrite, and fills unknown dims', () => {
    const b = new GraphBuilder();
    const x = b.input('x', DataType.FLOAT, ['B', 'S', 96]);
    const kept = b.op('Relu', [x]);
    const filled = b.op('Neg', [x]);
    b.setType(kept, DataType.FLOAT, ['batch', 'S', 96]);
    b.setType(filled, DataType.FLOAT, [null, 'S', null]);
    const model = b.build();
    expect(inferShapes(model).inferred).toBe(1);
    expect(shapeOf(kept)).toEqual(['batch', 'S', 96]);
    expect(shapeOf(filled)).toEqual(['B', 'S', 96]);
    expect(inferShapes(model).inferred).toBe(0);
    expect(inferShapes(model, { overwrite: true }).inferred).toBe(1);
    expect(shapeOf(kept)).toEqual(['B', 'S', 96]);
  });

  it('leaves unknown ops and failing rules unknown without throwing', () => {
    const b = new GraphBuilder();
    const x = b.input('x', DataType.FLOAT, ['B', 'S', 96]);
    const custom = b.op('MyOp', [x], {}, { domain: 'my.custom' });
    const after = b.op('Relu', [custom]);
    const broken = b.op('Boom', [x], {}, { domain: 'test.throw' });
    const fine = b.op('Sigmoid', [x]);
    registerShapeRule('test.throw', 'Boom', () => {
      throw new Error('rule bug');
    });
    // A malformed known op: Reshape without its shape input.
    const odd = b.op('Reshape', [x]);
    const model = b.build();
    expect(() => inferShapes(model)).not.toThrow();
    expect(custom.type).toBeUndefined();
    expect(after.type).toBeUndefined();
    expect(broken.type).toBeUndefined();
    expect(t(odd)?.shape).toBeUndefined();
    expect(shapeOf(fine)).toEqual(['B', 'S', 96]);
  });

  it('recurses into If/Loop bodies', () => {
    const b = new GraphBuilder();
    const x = b.input('x', DataType.FLOAT, ['B', 4]);
    const cond = b.input('c', DataType.BOOL, []);
    const branch = (name: string, op: string) => {
      const g = new Graph(name, { parent: b.graph });
      const sb = new GraphBuilder(g);
      const y = sb.op(op, [x]);
      sb.output(sb.op('Unsqueeze', [y, sb.ints(`${name}_ax`, [0])]));
      return { g, y };
    };
    const th = branch('then', 'Relu');
    const el = branch('else', 'Neg');
    const out = b.op('If', [cond], { then_branch: th.g, else_branch: el.g });
    // A Loop whose body doubles a carried value.
    const body = new Graph('body', { parent: b.graph });
    const lb = new GraphBuilder(body);
    const iter = body.addInput('i');
    const cin = body.addInput('cond_in');
    const acc = body.addInput('acc');
    lb.output(lb.op('Identity', [cin]));
    lb.output(lb.op('Add', [acc, acc]));
    lb.output(lb.op('Relu', [x]));
    const loopNode = b.node('Loop', [b.ints('trip', [3], true), cond, x], { body }, { outputs: ['final', 'scanned'] });
    const model = b.build();
    expect(() => inferShapes(model)).not.toThrow();
    expect(shapeOf(th.y)).toEqual(['B', 4]);
    expect(t(out)).toEqual(tensorType(DataType.FLOAT, [1, 'B', 4]));
    expect(t(iter)).toEqual(tensorType(DataType.INT64, []));
    expect(t(acc)).toEqual(tensorType(DataType.FLOAT, [null, null]));
    expect(t(loopNode.outputs[0])).toEqual(tensorType(DataType.FLOAT, [null, null]));
    expect(t(loopNode.outputs[1])).toEqual(tensorType(DataType.FLOAT, [null, 'B', 4]));
  });

  it('runs as the infer-shapes pass and reports values typed', async () => {
    const b = new GraphBuilder();
    const x = b.input('x', DataType.FLOAT, ['B', 8]);
    b.output(b.op('Relu', [b.op('Neg', [x])]), 'y');
    const model = b.build();
    const pass = inferShapesPass();
    expect(pass.name).toBe('infer-shapes');
    const r = await pass.run(model, passCtx);
    expect(r).toEqual({ modified: true, stats: { 'values typed': 2 } });
    expect((await pass.run(model, passCtx)).modified).toBe(false);
  });
});

describe('infer-shapes on com.microsoft contrib ops', () => {
  const MS = { domain: 'com.microsoft' };
  const f32 = (b: GraphBuilder, name: string, shape: Dim[]) => b.input(name, DataType.FLOAT, shape);

  it('SimplifiedLayerNormalization (default and com.microsoft domains)', () => {
    const b = new GraphBuilder();
    const x = b.input('x', DataType.FLOAT16, ['B', 'S', 96]);
    const w = b.input('w', DataType.FLOAT16, [96]);
    const n1 = b.node('SimplifiedLayerNormalization', [x, w], { axis: -1, epsilon: 1e-5 }, { outputs: ['y', 'inv'] });
    const n2 = b.op('SimplifiedLayerNormalization', [x, w], { epsilon: 1e-5 }, MS);
    inferShapes(b.build());
    expect(t(n1.outputs[0])).toEqual(tensorType(DataType.FLOAT16, ['B', 'S', 96]));
    expect(t(n1.outputs[1])).toEqual(tensorType(DataType.FLOAT, ['B', 'S', 1]));
    expect(t(n2)).toEqual(tensorType(DataType.FLOAT16, ['B', 'S', 96]));
  });

  it('SkipSimplifiedLayerNormalization and SkipLayerNormalization expose the residual sum as output 3', () => {
    const b = new GraphBuilder();
    const x = f32(b, 'x', ['B', 'S', 96]);
    const skip = f32(b, 'skip', ['B', 'S', 96]);
    const g = b.floats('g', new Array(96).fill(1));
    const ssln = b.node('SkipSimplifiedLayerNormalization', [x, skip, g], { epsilon: 1e-5 }, { ...MS, outputs: ['y', '', '', 'sum'] });
    const sln = b.node('SkipLayerNormalization', [x, skip, g, b.floats('beta', new Array(96).fill(0)), b.floats('bias', new Array(96).fill(0))], {}, { ...MS, outputs: ['y2', 'mean', 'inv', 'sum2'] });
    inferShapes(b.build());
    expect(ssln.outputs[1]).toBeUndefined();
    expect(t(ssln.outputs[0])).toEqual(tensorType(DataType.FLOAT, ['B', 'S', 96]));
    expect(t(ssln.outputs[3])).toEqual(tensorType(DataType.FLOAT, ['B', 'S', 96]));
    expect(t(sln.outputs[0])).toEqual(tensorType(DataType.FLOAT, ['B', 'S', 96]));
    expect(t(sln.outputs[2])).toEqual(tensorType(DataType.FLOAT, ['B', 'S', 1]));
    expect(t(sln.outputs[3])).toEqual(tensorType(DataType.FLOAT, ['B', 'S', 96]));
  });

  it('GroupQueryAttention: separate and packed QKV; present length from total_sequence_length', () => {
    const b = new GraphBuilder();
    const q = b.input('q', DataType.FLOAT16, ['B', 'S', 96]);
    const k = b.input('k', DataType.FLOAT16, ['B', 'S', 48]);
    const v = b.input('v', DataType.FLOAT16, ['B', 'S', 48]);
    const pk = b.input('past_key', DataType.FLOAT16, ['B', 2, 'P', 24]);
    const pv = b.input('past_value', DataType.FLOAT16, ['B', 2, 'P', 24]);
    const mask = b.input('attention_mask', DataType.INT64, ['B', 'total_sequence_length']);
    const seqlens = b.op('Cast', [b.op('Sub', [b.op('ReduceSum', [mask, b.ints('ax', [1])], { keepdims: 0 }), b.ints('one', [1], true)])], { to: DataType.INT32 });
    const total = b.op('Cast', [b.op('Gather', [b.op('Shape', [mask]), b.ints('idx', [1], true)])], { to: DataType.INT32 });
    const attrs = { num_heads: 4, kv_num_heads: 2, scale: 0.2, do_rotary: 0, local_window_size: -1 };
    const gqa = b.node('GroupQueryAttention', [q, k, v, pk, pv, seqlens, total], attrs, { ...MS, outputs: ['o', 'present.0.key', 'present.0.value'] });
    const packed = b.node('GroupQueryAttention', [b.input('qkv', DataType.FLOAT16, ['B', 'S', 192]), undefined, undefined, undefined, undefined, seqlens, total], attrs, {
      ...MS,
      outputs: ['o2', 'pk2', 'pv2'],
    });
    inferShapes(b.build());
    expect(t(seqlens)).toEqual(tensorType(DataType.INT32, ['B']));
    expect(t(gqa.outputs[0])).toEqual(tensorType(DataType.FLOAT16, ['B', 'S', 96]));
    expect(t(gqa.outputs[1])).toEqual(tensorType(DataType.FLOAT16, ['B', 2, 'total_sequence_length', 24]));
    expect(t(gqa.outputs[2])).toEqual(tensorType(DataType.FLOAT16, ['B', 2, 'total_sequence_length', 24]));
    expect(t(packed.outputs[0])).toEqual(tensorType(DataType.FLOAT16, ['B', 'S', 96]));
    expect(t(packed.outputs[1])).toEqual(tensorType(DataType.FLOAT16, ['B', 2, 'S', 24]));
  });

  it('MultiHeadAttention with past key/value', () => {
    const b = new GraphBuilder();
    const q = f32(b, 'q', ['B', 'S', 96]);
    const mha = b.node(
      'MultiHeadAttention',
      [q, f32(b, 'k', ['B', 'S', 96]), f32(b, 'v', ['B', 'S', 96]), undefined, undefined, undefined, f32(b, 'pk', ['B', 4, 'P', 24]), f32(b, 'pv', ['B', 4, 'P', 24])],
      { num_heads: 4 },
      { ...MS, outputs: ['o', 'present_key', 'present_value'] },
    );
    const cross = b.node('MultiHeadAttention', [q, f32(b, 'ck', ['B', 4, 'L', 24]), f32(b, 'cv', ['B', 4, 'L', 24])], { num_heads: 4 }, { ...MS, outputs: ['co'] });
    inferShapes(b.build());
    expect(t(mha.outputs[0])).toEqual(tensorType(DataType.FLOAT, ['B', 'S', 96]));
    expect(t(mha.outputs[1])).toEqual(tensorType(DataType.FLOAT, ['B', 4, 'P + S', 24]));
    expect(t(cross.outputs[0])).toEqual(tensorType(DataType.FLOAT, ['B', 'S', 96]));
  });

  it('Attention (packed QKV weights, stacked past/present)', () => {
    const b = new GraphBuilder();
    const att = b.node(
      'Attention',
      [f32(b, 'x', ['B', 'S', 96]), f32(b, 'w', [96, 288]), f32(b, 'bias', [288]), b.input('mask', DataType.INT32, ['B', 'T']), f32(b, 'past', [2, 'B', 4, 'P', 24])],
      { num_heads: 4, unidirectional: 1 },
      { ...MS, outputs: ['o', 'present'] },
    );
    const sized = b.op('Attention', [f32(b, 'x2', ['B', 'S', 96]), f32(b, 'w2', [96, 160])], { num_heads: 4, qkv_hidden_sizes: [48, 48, 64] }, MS);
    inferShapes(b.build());
    expect(t(att.outputs[0])).toEqual(tensorType(DataType.FLOAT, ['B', 'S', 96]));
    expect(t(att.outputs[1])).toEqual(tensorType(DataType.FLOAT, [2, 'B', 4, 'P + S', 24]));
    expect(shapeOf(sized)).toEqual(['B', 'S', 64]);
  });

  it('RotaryEmbedding, MatMulNBits, FastGelu, BiasGelu', () => {
    const b = new GraphBuilder();
    const x = b.input('x', DataType.FLOAT16, ['B', 'S', 96]);
    const rot = b.op('RotaryEmbedding', [x, b.input('pos', DataType.INT64, ['B', 'S']), b.input('cos', DataType.FLOAT16, [2048, 12]), b.input('sin', DataType.FLOAT16, [2048, 12])], { num_heads: 4 }, MS);
    const packedW = b.init('wq', DataType.UINT8, [256, 3, 16], new Uint8Array(256 * 3 * 16));
    const scales = b.input('scales', DataType.FLOAT16, [768]);
    const mm = b.op('MatMulNBits', [rot, packedW, scales], { K: 96, N: 256, bits: 4, block_size: 32 }, MS);
    const fg = b.op('FastGelu', [mm, b.input('fb', DataType.FLOAT16, [256])], {}, MS);
    const bg = b.op('BiasGelu', [mm, b.input('bb', DataType.FLOAT16, [256])], {}, MS);
    inferShapes(b.build());
    expect(t(rot)).toEqual(tensorType(DataType.FLOAT16, ['B', 'S', 96]));
    expect(t(mm)).toEqual(tensorType(DataType.FLOAT16, ['B', 'S', 256]));
    expect(t(fg)).toEqual(tensorType(DataType.FLOAT16, ['B', 'S', 256]));
    expect(t(bg)).toEqual(tensorType(DataType.FLOAT16, ['B', 'S', 256]));
  });

  it('EmbedLayerNormalization', () => {
    const b = new GraphBuilder();
    const ids = b.input('input_ids', DataType.INT32, ['B', 'S']);
    const node = b.node(
      'EmbedLayerNormalization',
      [ids, b.input('segment_ids', DataType.INT32, ['B', 'S']), f32(b, 'word', [256, 96]), f32(b, 'pos', [512, 96]), f32(b, 'seg', [2, 96]), f32(b, 'gamma', [96]), f32(b, 'beta', [96]), b.input('mask', DataType.INT32, ['B', 'S'])],
      { epsilon: 1e-12 },
      { ...MS, outputs: ['emb', 'mask_index', 'emb_sum'] },
    );
    inferShapes(b.build());
    expect(t(node.outputs[0])).toEqual(tensorType(DataType.FLOAT, ['B', 'S', 96]));
    expect(t(node.outputs[1])).toEqual(tensorType(DataType.INT32, ['B']));
    expect(t(node.outputs[2])).toEqual(tensorType(DataType.FLOAT, ['B', 'S', 96]));
  });
});

// ---- real torch.onnx exports, checked against onnxruntime ----------------------------------------

const ORT_TYPES: Partial<Record<DataType, string>> = {
  [DataType.FLOAT]: 'float32',
  [DataType.FLOAT16]: 'float16',
  [DataType.DOUBLE]: 'float64',
  [DataType.INT64]: 'int64',
  [DataType.INT32]: 'int32',
  [DataType.BOOL]: 'bool',
};

/**
 * Runs the model in ORT with every node output exposed, and checks each inferred type against what
 * ORT produced: element type, rank, fixed dims, and symbolic dims evaluated under `env`.
 */
async function checkAgainstOrt(src: string, inferred: Model, feeds: Record<string, ort.Tensor>, env: Record<string, number>): Promise<number> {
  const probe = loadModel(src);
  const types = new Map<string, TensorType>();
  for (const n of inferred.graph.nodes) for (const o of n.outputs) if (o && t(o)) types.set(o.name, t(o)!);
  const outs = new Set(probe.graph.outputs);
  for (const n of probe.graph.nodes) {
    for (const o of n.outputs) {
      if (!o || outs.has(o)) continue;
      const ty = types.get(o.name);
      o.type = ty ? tensorType(ty.dtype) : undefined;
      probe.graph.addOutput(o);
    }
  }
  const dir = tempDir();
  let results: Record<string, ort.Tensor>;
  try {
    const file = join(dir, 'probe.onnx');
    saveModel(probe, file);
    results = await runFile(file, feeds);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  let checked = 0;
  const problems: string[] = [];
  for (const [name, ty] of types) {
    const actual = results[name];
    if (!actual) {
      problems.push(`${name}: not produced by ORT`);
      continue;
    }
    if (ORT_TYPES[ty.dtype] !== actual.type) problems.push(`${name}: dtype ${formatType(ty)} vs ${actual.type}`);
    const shape = ty.shape;
    if (!shape) continue;
    if (shape.length !== actual.dims.length) {
      problems.push(`${name}: ${formatType(ty)} vs [${actual.dims.join(',')}]`);
      continue;
    }
    shape.forEach((d, i) => {
      if (d === null) return;
      if (evaluateDim(d, env) !== actual.dims[i]) problems.push(`${name}: ${formatType(ty)} vs [${actual.dims.join(',')}]`);
    });
    checked++;
  }
  expect(problems.slice(0, 10)).toEqual([]);
  return checked;
}

function inferFresh(path: string): { model: Model; inferred: number; nodeOutputs: Value[] } {
  const model = loadModel(path);
  clearTypes(model);
  const nodeOutputs = model.graph.nodes.flatMap((n) => n.outputs.filter((o): o is Value => !!o));
  const { inferred } = inferShapes(model);
  return { model, inferred, nodeOutputs };
}

describe('infer-shapes on the real torch.onnx exports', () => {
  it('tinyllama-16l: logits, residual adds, and every intermediate agree with ORT on a [1, 7] input', async () => {
    const { model, inferred, nodeOutputs } = inferFresh(TINYLLAMA);
    expect(inferred).toBe(nodeOutputs.length);
    // Every intermediate gets a full shape: the scaffolding resolves to symbols, not unknowns.
    expect(nodeOutputs.filter((v) => !shapeOf(v) || shapeOf(v)!.some((d) => d === null)).map((v) => v.name)).toEqual([]);
    const logits = model.graph.outputs.find((v) => v.name === 'logits');
    expect(t(logits)).toEqual(tensorType(DataType.FLOAT, ['batch_size', 'sequence_length', 256]));
    // Residual stream: the Adds whose operands are a previous residual (or the embedding) and a projection.
    const residuals = model.graph.nodes.filter((n) => n.opType === 'Add' && /^\/m\/layers\.\d+\/Add(_1)?$/.test(n.name));
    expect(residuals.length).toBe(32);
    for (const n of residuals) expect(t(n.output())).toEqual(tensorType(DataType.FLOAT, ['batch_size', 'sequence_length', 96]));
    const ids = new ort.Tensor('int64', BigInt64Array.from([84n, 104n, 101n, 32n, 112n, 97n, 99n]), [1, 7]);
    const checked = await checkAgainstOrt(TINYLLAMA, model, { input_ids: ids }, { batch_size: 1, sequence_length: 7 });
    expect(checked).toBe(nodeOutputs.length);
  });

  it('tinyllama-16l-kv: present keys are [batch_size, 2, past + sequence, 24] and match ORT with a past of 3', async () => {
    const { model, nodeOutputs } = inferFresh(TINYLLAMA_KV);
    const logits = model.graph.outputs.find((v) => v.name === 'logits');
    expect(t(logits)).toEqual(tensorType(DataType.FLOAT, ['batch_size', 'sequence_length', 256]));
    for (let i = 0; i < 16; i++) {
      for (const kind of ['key', 'value']) {
        const present = model.graph.outputs.find((v) => v.name === `present.${i}.${kind}`);
        const s = shapeOf(present);
        expect(s?.length).toBe(4);
        expect([s![0], s![1], s![3]]).toEqual(['batch_size', 2, 24]);
        expect(s![2]).toBe('past_sequence_length + sequence_length');
      }
    }
    const residuals = model.graph.nodes.filter((n) => n.opType === 'Add' && /^\/m\/layers\.\d+\/Add(_1)?$/.test(n.name));
    expect(residuals.length).toBe(32);
    for (const n of residuals) expect(t(n.output())).toEqual(tensorType(DataType.FLOAT, ['batch_size', 'sequence_length', 96]));
    const feeds: Record<string, ort.Tensor> = {
      input_ids: new ort.Tensor('int64', BigInt64Array.from([84n, 104n, 101n, 32n, 112n, 97n, 99n]), [1, 7]),
    };
    for (let i = 0; i < 16; i++) {
      for (const kind of ['key', 'value']) feeds[`past_key_values.${i}.${kind}`] = new ort.Tensor('float32', new Float32Array(1 * 2 * 3 * 24).fill(0.01), [1, 2, 3, 24]);
    }
    const checked = await checkAgainstOrt(TINYLLAMA_KV, model, feeds, { batch_size: 1, sequence_length: 7, past_sequence_length: 3 });
    expect(checked).toBe(nodeOutputs.length);
  });
});
