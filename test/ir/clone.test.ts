import { toBinary } from '@bufbuild/protobuf';
import { join } from 'node:path';
import { ModelProtoSchema } from 'onnx-buf';
import { describe, expect, it } from 'vitest';
import { encodeModel, externalTensorProto, inlineTensorProto } from '../../src/io/encode.js';
import { loadModel } from '../../src/io/read-model.js';
import { cloneModel } from '../../src/ir/clone.js';
import type { Model } from '../../src/ir/model.js';
import type { Tensor } from '../../src/ir/tensor.js';
import { verifyModel } from '../../src/ir/verifier.js';
import { CONFORMANCE, TINYLLAMA_EXT } from '../helpers/paths.js';

/** Encodes with external tensors kept as references, so no weight is read. */
function encode(m: Model): Uint8Array {
  const emit = (t: Tensor) => (t.storage.kind === 'external' ? externalTensorProto(t, t.storage.location, t.storage.offset, t.storage.length) : inlineTensorProto(t));
  return toBinary(ModelProtoSchema, encodeModel(m, emit));
}

describe('cloneModel', () => {
  it('encodes to the same bytes as the original, with tensors shared (external ones still references)', () => {
    const m = loadModel(TINYLLAMA_EXT);
    const c = cloneModel(m);
    expect(Buffer.from(encode(c)).equals(Buffer.from(encode(m)))).toBe(true);
    expect(verifyModel(c, { structuralOnly: true })).toEqual([]);
    let shared = 0;
    for (const [name, v] of m.graph.initializers) {
      const cv = c.graph.initializers.get(name)!;
      expect(cv === v).toBe(false);
      if (cv.initializer === v.initializer) shared++;
    }
    expect(shared).toBe(m.graph.initializers.size);
    expect([...c.graph.initializers.values()].filter((v) => v.initializer!.isExternal).length).toBeGreaterThan(10);
  });

  it('is independent: editing the copy leaves the original and its use lists alone', () => {
    const m = loadModel(TINYLLAMA_EXT);
    const before = encode(m);
    const c = cloneModel(m);
    const last = c.graph.outputs[0]!;
    const node = last.producer!;
    const input = node.inputs[0]!;
    const inputName = input.name;
    const usesBefore = m.graph.findValue(inputName)!.uses.length;
    c.graph.replaceAllUsesWith(last, input);
    c.graph.removeNode(node);
    expect(c.graph.nodes.length).toBe(m.graph.nodes.length - 1);
    expect(m.graph.findValue(inputName)!.uses.length).toBe(usesBefore);
    expect(c.graph.findValue(inputName)).toBeUndefined(); // renamed to the output's name in the copy only
    expect(Buffer.from(encode(m)).equals(Buffer.from(before))).toBe(true);
    // New names in the copy never collide with the original's.
    expect(c.graph.names.unique('input_ids')).not.toBe('input_ids');
  });

  it.each(['test_if', 'test_loop11', 'test_scan9_sum'])('copies subgraphs with their outer-scope reads (%s)', (name) => {
    const m = loadModel(join(CONFORMANCE, name, 'model.onnx'));
    const c = cloneModel(m);
    expect(Buffer.from(encode(c)).equals(Buffer.from(encode(m)))).toBe(true);
    expect(verifyModel(c, { structuralOnly: true })).toEqual([]);
    const sub = c.graph.nodes.flatMap((n) => n.subgraphs);
    expect(sub.length).toBeGreaterThan(0);
    for (const g of sub) {
      expect(g.parent === c.graph).toBe(true);
      // Every value a subgraph node reads belongs to the copy, never to the original.
      for (const n of g.allNodes()) for (const v of n.inputs) if (v) expect(v.graph === c.graph || v.graph === g || sub.includes(v.graph)).toBe(true);
    }
  });
});
