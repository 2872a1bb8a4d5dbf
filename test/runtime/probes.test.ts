import * as ort from 'onnxruntime-node';
import { beforeAll, describe, expect, it } from 'vitest';
import { OnnxOptError } from '../../src/errors.js';
import { loadModel } from '../../src/io/read-model.js';
import { DataType } from '../../src/ir/dtype.js';
import type { Model } from '../../src/ir/model.js';
import { dce } from '../../src/passes/canonicalize/dce.js';
import type { PassContext } from '../../src/passes/pass.js';
import { copyModel, guessElemType, runWithProbes, withProbeOutputs } from '../../src/runtime/probes.js';
import { withSession } from '../../src/runtime/session.js';
import { TINYLLAMA, TINYLLAMA_EXT } from '../helpers/paths.js';
import { tokens } from '../helpers/ort.js';

const RESIDUAL = '/m/layers.3/Add_1_output_0'; // residual stream after layer 3's FFN
const ATTN_OUT = '/m/layers.5/self_attn/o_proj/MatMul_output_0';
const ctx = (): PassContext => ({ log: () => {}, report: {}, services: {} });
const TEXT = 'The package provides a small daemon that watches the files.';

function maxDiff(a: ort.Tensor, b: ort.Tensor): number {
  expect(a.dims).toEqual(b.dims);
  const x = a.data as Float32Array;
  const y = b.data as Float32Array;
  let m = 0;
  for (let i = 0; i < x.length; i++) m = Math.max(m, Math.abs(x[i]! - y[i]!));
  return m;
}

/** The model cut at `name`: that value is the only output, everything after it is dead code. */
function cutAt(path: string, name: string): Model {
  const m = loadModel(path);
  const v = m.graph.findValue(name)!;
  m.graph.outputs.splice(0, m.graph.outputs.length, v);
  dce.create().run(m, ctx());
  return m;
}

describe('runWithProbes', () => {
  let model: Model;
  let probed: Record<string, ort.Tensor>;
  const feeds = { input_ids: tokens(TEXT, 40) };
  beforeAll(async () => {
    model = loadModel(TINYLLAMA);
    probed = await runWithProbes(model, feeds, [RESIDUAL, ATTN_OUT, '/m/Shape_output_0', 'input_ids', 'm.norm.weight']);
  });

  it('returns regular outputs and probes, leaving the model untouched', async () => {
    expect(Object.keys(probed).sort()).toEqual(['/m/Shape_output_0', ATTN_OUT, RESIDUAL, 'input_ids', 'logits', 'm.norm.weight'].sort());
    expect(probed['m.norm.weight']!.dims).toEqual([96]);
    expect(probed[RESIDUAL]!.dims).toEqual([1, 40, 96]);
    expect(probed['logits']!.dims).toEqual([1, 40, 256]);
    expect(Array.from(probed['/m/Shape_output_0']!.data as BigInt64Array)).toEqual([1n, 40n]);
    expect(probed['input_ids']).toBe(feeds.input_ids);
    expect(model.graph.outputs.map((v) => v.name)).toEqual(['logits']);
    const plain = await withSession(model, {}, (s) => s.run(feeds));
    expect(maxDiff(plain['logits']!, probed['logits']!)).toBeLessThan(1e-5);
  });

  it('a probed residual equals the same value computed by the model cut there', async () => {
    const cut = cutAt(TINYLLAMA, RESIDUAL);
    expect(cut.graph.nodes.length).toBeLessThan(model.graph.nodes.length / 3);
    expect(cut.graph.nodes.some((n) => n.name.startsWith('/m/layers.4/'))).toBe(false);
    const out = await withSession(cut, {}, (s) => s.run(feeds));
    expect(maxDiff(out[RESIDUAL]!, probed[RESIDUAL]!)).toBeLessThan(1e-5);
  });

  it('works on a model with external data, keeping the weights external in the copy', async () => {
    const ext = loadModel(TINYLLAMA_EXT);
    const copy = copyModel(ext);
    expect([...copy.graph.initializers.values()].some((v) => v.initializer!.isExternal)).toBe(true);
    // Not toBe: vitest deep-compares unequal objects, which on two whole graphs takes forever.
    expect(copy.graph === ext.graph).toBe(false);
    const r = await runWithProbes(ext, feeds, [RESIDUAL]);
    expect(maxDiff(r[RESIDUAL]!, probed[RESIDUAL]!)).toBeLessThan(1e-5);
    expect(maxDiff(r['logits']!, probed['logits']!)).toBeLessThan(1e-5);
  });

  it('refuses unknown names', async () => {
    await expect(runWithProbes(model, feeds, ['no/such/value'])).rejects.toSatisfy((e) => e instanceof OnnxOptError && e.code === 'USAGE');
  });

  it('guesses element types for untyped probes', () => {
    const g = model.graph;
    expect(g.findValue(RESIDUAL)!.type).toBeUndefined();
    expect(guessElemType(g.findValue(RESIDUAL)!)).toBe(DataType.FLOAT);
    expect(guessElemType(g.findValue('/m/Shape_output_0')!)).toBe(DataType.INT64);
    const typed = withProbeOutputs(model, [RESIDUAL, '/m/Shape_output_0'], { typed: true });
    expect(typed.graph.outputs.map((v) => [v.name, v.type?.kind === 'tensor' ? v.type.dtype : undefined])).toEqual([
      ['logits', DataType.FLOAT],
      [RESIDUAL, DataType.FLOAT],
      ['/m/Shape_output_0', DataType.INT64],
    ]);
    expect(model.graph.outputs.length).toBe(1);
  });
});
