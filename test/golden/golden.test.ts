import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { registerBuiltinPasses } from '../../src/passes/builtin.js';
import { ffnFuse } from '../../src/passes/ffn-fusion/ffn-fuse.js';
import { runPipeline } from '../../src/passes/pass-manager.js';
import { checkGoldenSets } from '../../src/verify/golden-sets.js';
import { goldenLlama, goldenPruned } from './cases.js';

registerBuiltinPasses();
const DIR = import.meta.dirname;
const ctx = () => ({ log: () => {}, report: {}, services: {} });

describe('checked-in golden outputs (test/golden, rebuilt by scripts/make-goldens.ts)', () => {
  it('the fixture model reproduces its golden outputs', async () => {
    const r = await checkGoldenSets(goldenLlama(), join(DIR, 'llama-kv'), { tolerance: { rtol: 1e-5, atol: 1e-6 } });
    expect(r.mismatches).toEqual([]);
    expect(r.compared).toContain('logits');
    expect(r.compared).toContain('present.5.value');
  });

  it('canonicalize is exact: same outputs after it', async () => {
    const m = goldenLlama();
    const run = await runPipeline(m, 'canonicalize');
    expect(run.modified).toBe(true);
    const r = await checkGoldenSets(m, join(DIR, 'llama-kv'), { tolerance: { rtol: 1e-5, atol: 1e-6 } });
    expect(r.mismatches).toEqual([]);
  });

  it('the exact part of ffn-fuse: fusing [1,3] reproduces the parallel form', async () => {
    const m = await goldenPruned();
    await ffnFuse({ groups: [[1, 3]] }).run(m, ctx());
    const r = await checkGoldenSets(m, join(DIR, 'llama-kv-parallel-1-3'), { tolerance: { rtol: 1e-4, atol: 1e-5 } });
    expect(r.mismatches).toEqual([]);
    expect(r.compared).toContain('logits');
    // And it is not simply the pruned model: the un-fused chain differs from the parallel form.
    const chain = await checkGoldenSets(await goldenPruned(), join(DIR, 'llama-kv-parallel-1-3'), { tolerance: { rtol: 1e-4, atol: 1e-5 }, outputs: ['logits'] });
    expect(chain.passed).toBe(false);
  });
});
