import { expect } from 'vitest';
import * as ort from 'onnxruntime-node';
import type { Model } from '../../../src/ir/model.js';
import type { Tensor } from '../../../src/ir/tensor.js';
import { verifyModel } from '../../../src/ir/verifier.js';
import type { Pass, PassContext, PassResult } from '../../../src/passes/pass.js';
import { withSession } from '../../../src/runtime/session.js';
import { fromOrtTensor, toOrtTensor } from '../../../src/runtime/tensors.js';

// onnxruntime warns about every initializer a test graph leaves unused; keep the test output readable.
ort.env.logLevel = 'error';

export function ctx(): PassContext {
  return { log: () => {}, report: {}, services: {} };
}

/** Runs one pass and checks the IR is still valid. */
export async function runPass(pass: Pass, model: Model): Promise<PassResult> {
  const r = await pass.run(model, ctx());
  expect(verifyModel(model).map((p) => p.message)).toEqual([]);
  return r;
}

/** Runs the model in onnxruntime (optimizations off, so ORT's own folding hides nothing) and returns outputs by name. */
export async function runOrt(model: Model, inputs: Record<string, Tensor> = {}): Promise<Record<string, Tensor>> {
  const feeds: Record<string, ort.Tensor> = {};
  for (const [k, t] of Object.entries(inputs)) feeds[k] = toOrtTensor(t);
  return withSession(model, { graphOptimizationLevel: 'disabled' }, async (s) => {
    const res = await s.run(feeds);
    const out: Record<string, Tensor> = {};
    for (const [k, t] of Object.entries(res)) out[k] = fromOrtTensor(k, t);
    return out;
  });
}

export function ops(model: Model): string[] {
  return model.graph.nodes.map((n) => n.opType);
}

/** Element values, int64 included, as plain numbers for toEqual. */
export function values(t: Tensor | undefined): number[] {
  if (!t) throw new Error('no tensor');
  return t.toNumbers();
}

/** Same type, dims and bytes. */
export function expectSameTensor(a: Tensor | undefined, b: Tensor | undefined): void {
  expect(a).toBeDefined();
  expect(b).toBeDefined();
  expect(a!.dtype).toBe(b!.dtype);
  expect([...a!.dims]).toEqual([...b!.dims]);
  expect(Buffer.from(a!.bytes()).equals(Buffer.from(b!.bytes()))).toBe(true);
}
