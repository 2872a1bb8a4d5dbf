import { describe, expect, it } from 'vitest';
import { GraphBuilder } from '../../src/ir/builder.js';
import { DataType } from '../../src/ir/dtype.js';
import { printModel } from '../../src/ir/printer.js';
import { verifyModel } from '../../src/ir/verifier.js';

function small() {
  const b = new GraphBuilder();
  const x = b.input('x', DataType.FLOAT, ['B', 'S', 4]);
  const w = b.init('W', DataType.FLOAT, [4, 4], new Float32Array(16).fill(0.5));
  const h = b.op('MatMul', [x, w], {}, { name: 'mm' });
  b.setType(h, DataType.FLOAT, ['B', 'S', 4]);
  const r = b.op('Relu', [h], {}, { name: 'relu' });
  const y = b.op('Add', [r, x], {}, { name: 'add' });
  b.output(y, 'y');
  return { model: b.build(), x, w, h, r, y };
}

describe('Graph mutation keeps use lists right', () => {
  it('records uses as nodes are built', () => {
    const { x, h, r } = small();
    expect(x.uses.map((u) => [u.node.name, u.index])).toEqual([
      ['mm', 0],
      ['add', 1],
    ]);
    expect(h.uses.length).toBe(1);
    expect(r.producer?.opType).toBe('Relu');
  });

  it('replaceAllUsesWith rewires readers and keeps a graph output name', () => {
    const { model, h, r, y } = small();
    model.graph.replaceAllUsesWith(r, h);
    expect(r.uses).toEqual([]);
    expect(h.uses.map((u) => u.node.name).sort()).toEqual(['add', 'relu']);
    model.graph.removeNode(r.producer!);
    expect(verifyModel(model)).toEqual([]);
    // Replacing the graph output: the replacement takes over the name `y`.
    const add = y.producer!;
    model.graph.replaceAllUsesWith(y, h);
    expect(model.graph.outputs[0]).toBe(h);
    expect(h.name).toBe('y');
    model.graph.removeNode(add);
    expect(verifyModel(model)).toEqual([]);
  });

  it('replacing a graph output by a graph input inserts an Identity', () => {
    const { model, x, y } = small();
    model.graph.replaceAllUsesWith(y, x);
    const out = model.graph.outputs[0]!;
    expect(out.name).toBe('y');
    expect(out.producer?.opType).toBe('Identity');
    expect(out.producer?.inputs[0]).toBe(x);
  });

  it('refuses to remove a node whose output is still used', () => {
    const { model, h } = small();
    expect(() => model.graph.removeNode(h.producer!)).toThrow(/still used/);
  });

  it('unique names never collide', () => {
    const { model } = small();
    const a = model.graph.createValue('y');
    const b = model.graph.createValue('y');
    expect(new Set(['y', a.name, b.name]).size).toBe(3);
  });

  it('sorts topologically, stably', () => {
    const { model } = small();
    const g = model.graph;
    const names = () => g.nodes.map((n) => n.name);
    g.moveBefore(g.findNode('add')!, g.findNode('mm')!);
    expect(names()).toEqual(['add', 'mm', 'relu']);
    expect(g.sortTopologically()).toBe(true);
    expect(names()).toEqual(['mm', 'relu', 'add']);
  });
});

describe('verifier', () => {
  it('accepts a well-formed graph', () => {
    expect(verifyModel(small().model)).toEqual([]);
  });

  it('reports every problem with node names', () => {
    const { model, h, r } = small();
    // Break things behind the mutation API's back.
    h.uses.length = 0;
    model.graph.outputs.push(model.graph.createValue('ghost'));
    let problems = verifyModel(model).map((p) => p.message);
    expect(problems).toEqual(["use list of 'mm_output_0' misses relu input 0", "graph output 'ghost' is not defined"]);
    const other = small();
    other.model.graph.nodes.splice(other.model.graph.nodes.indexOf(other.r.producer!), 1);
    problems = verifyModel(other.model).map((p) => p.message);
    expect(problems).toContain("node add reads 'relu_output_0', whose producer was removed");
    void r;
  });

  it('checks element types where known', () => {
    const b = new GraphBuilder();
    const x = b.input('x', DataType.FLOAT, [2]);
    const i = b.input('i', DataType.INT64, [2]);
    b.output(b.op('Add', [x, i], {}, { name: 'mixed' }), 'y');
    const problems = verifyModel(b.build()).map((p) => p.message);
    expect(problems).toEqual(['node mixed (Add) mixes f32 and i64 inputs']);
  });
});

describe('printer', () => {
  it('prints one line per node with types', () => {
    const text = printModel(small().model);
    expect(text).toContain('%mm_output_0 = MatMul(%x, %W) : f32[B,S,4]  # mm');
    expect(text).toContain('graph main_graph(%x: f32[B,S,4]) {');
    expect(text).toContain('return %y');
  });
});
