import { describe, expect, it } from 'vitest';
import { GraphBuilder } from '../../../src/ir/builder.js';
import { DataType } from '../../../src/ir/dtype.js';
import { verifyModel } from '../../../src/ir/verifier.js';
import { dce } from '../../../src/passes/canonicalize/dce.js';

const ctx = { log: () => {}, report: {}, services: {} };

describe('dce', () => {
  it('removes dead chains and unused initializers, keeps inputs and outputs', async () => {
    const b = new GraphBuilder();
    const x = b.input('x', DataType.FLOAT, [2]);
    const unusedIn = b.input('unused', DataType.FLOAT, [2]);
    const w = b.floats('w', [1, 2]);
    b.floats('orphan', [3]);
    const dead = b.op('Mul', [x, w], {}, { name: 'dead1' });
    b.op('Neg', [dead], {}, { name: 'dead2' });
    b.output(b.op('Relu', [x], {}, { name: 'live' }), 'y');
    const model = b.build();
    const r = await dce().run(model, ctx);
    expect(r.stats).toEqual({ 'nodes removed': 2, 'initializers removed': 2 });
    expect(model.graph.nodes.map((n) => n.name)).toEqual(['live']);
    expect(model.graph.inputs).toContain(unusedIn);
    expect(model.graph.initializers.size).toBe(0);
    expect(verifyModel(model)).toEqual([]);
    expect((await dce().run(model, ctx)).modified).toBe(false);
  });
});
