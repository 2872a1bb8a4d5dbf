import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { loadModel } from '../../src/io/read-model.js';
import { cloneModel } from '../../src/ir/clone.js';
import { DataType } from '../../src/ir/dtype.js';
import { Tensor } from '../../src/ir/tensor.js';
import { ModelSession } from '../../src/runtime/session.js';
import { runFile, tokens } from '../helpers/ort.js';
import { TINYLLAMA, TINYLLAMA_EXT } from '../helpers/paths.js';

/** Bytes this process has passed to write(2) so far (Linux), or undefined elsewhere. */
function bytesWritten(): number | undefined {
  try {
    return Number(/wchar:\s*(\d+)/.exec(readFileSync('/proc/self/io', 'utf8'))![1]);
  } catch {
    return undefined;
  }
}

describe('ModelSession on a model with external data', () => {
  it('opens ORT on the source data files: nothing is written, results are those of the file itself', async () => {
    const model = loadModel(TINYLLAMA_EXT);
    let weights = 0;
    for (const v of model.graph.initializers.values()) if (v.initializer!.isExternal) weights += v.initializer!.byteLength;
    expect(weights).toBeGreaterThan(5e6);
    // The first session of a process writes ~1 MB once (module caches, ORT's start-up): warm up on
    // the inline model so the window below holds only what opening this one writes.
    await (await ModelSession.create(loadModel(TINYLLAMA))).release();
    const w0 = bytesWritten();
    const s = await ModelSession.create(model);
    const w1 = bytesWritten();
    try {
      expect(s.load.kind).toBe('memory');
      if (s.load.kind === 'memory') expect(s.load.protoBytes).toBeLessThan(weights / 10);
      // Writes of the test runner's own reporting may land in the window; a copy would be ≥ weights.
      if (w0 !== undefined) expect(w1! - w0).toBeLessThan(weights / 20);
      const feeds = { input_ids: tokens('The package provides a small daemon.', 30) };
      const got = (await s.run(feeds)).logits!;
      const want = (await runFile(TINYLLAMA_EXT, feeds)).logits!;
      expect(got.dims).toEqual(want.dims);
      expect(Array.from(got.data as Float32Array)).toEqual(Array.from(want.data as Float32Array));
    } finally {
      await s.release();
    }
  });

  it('runs a clone that mixes source references with a new inline tensor (a trial)', async () => {
    const model = loadModel(TINYLLAMA_EXT);
    const trial = cloneModel(model);
    // The weight of layer 3's o_proj MatMul (torch.onnx names it onnx::MatMul_…).
    const o = trial.graph.nodes.find((n) => n.name === '/m/layers.3/self_attn/o_proj/MatMul')!.inputs[1]!;
    expect(o.initializer!.isExternal).toBe(true);
    const zeros = new Float32Array(o.initializer!.size);
    trial.graph.setInitializer(o, Tensor.fromArray(o.name, DataType.FLOAT, o.initializer!.dims, zeros));
    const feeds = { input_ids: tokens('The package provides a small daemon.', 30) };
    const run = async (m: typeof model) => {
      const s = await ModelSession.create(m);
      try {
        return { logits: (await s.run(feeds)).logits!.data as Float32Array, load: s.load };
      } finally {
        await s.release();
      }
    };
    const a = await run(model);
    const b = await run(trial);
    expect(b.load.kind).toBe('memory');
    // Only the new tensor went inline (its bytes, less the external-data entries it no longer has).
    if (a.load.kind === 'memory' && b.load.kind === 'memory') expect(Math.abs(b.load.protoBytes - a.load.protoBytes - zeros.byteLength)).toBeLessThan(200);
    expect(Array.from(b.logits).some((x, i) => Math.abs(x - a.logits[i]!) > 1e-4)).toBe(true);
    expect(o.initializer === model.graph.initializers.get(o.name)!.initializer).toBe(false);
  });
});
