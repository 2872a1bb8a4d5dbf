/**
 * Inputs the fuzzer (fuzz.test.ts, seed 20250617) found mishandled, rebuilt by code: each builds the
 * bad bytes and states what the reader must do now. The fuzz case that found each is named.
 */
import { create, type MessageInitShape } from '@bufbuild/protobuf';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { TensorProto_SegmentSchema, TensorProtoSchema, type TensorProto } from 'onnx-buf';
import { describe, expect, it } from 'vitest';
import { saveModel } from '../../src/io/write-model.js';
import { OnnxOptError, type ErrorCode } from '../../src/errors.js';
import { loadModel } from '../../src/io/read-model.js';
import { tempDir } from '../helpers/paths.js';
import { extTensor, graph, model, modelToBytes, nd, vi } from './fuzz-cases.js';

/** A model folder holding `model.onnx` (x + w → y) and the given data files. */
function folder(w: TensorProto, data: Record<string, Uint8Array> = {}): string {
  const dir = join(tempDir('onnx-opt-regress-'), 'm');
  mkdirSync(dir);
  for (const [name, bytes] of Object.entries(data)) writeFileSync(join(dir, name), bytes);
  const path = join(dir, 'model.onnx');
  writeFileSync(path, modelToBytes(model(graph({ input: [vi('x')], output: [vi('y')], initializer: [w], node: [nd('Add', ['x', w.name], ['y'])] }))));
  return path;
}

function codeOf(fn: () => unknown): ErrorCode | 'no error' | string {
  try {
    fn();
    return 'no error';
  } catch (e) {
    return e instanceof OnnxOptError ? e.code : `untyped ${(e as Error).name}: ${(e as Error).message}`;
  }
}

function expectCode(fn: () => unknown, code: ErrorCode, text: RegExp): void {
  let err: unknown;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  expect(err, 'expected an OnnxOptError').toBeInstanceOf(OnnxOptError);
  expect((err as OnnxOptError).code).toBe(code);
  expect((err as OnnxOptError).message).toMatch(text);
}

const fieldsTensor = (init: MessageInitShape<typeof TensorProtoSchema>) => create(TensorProtoSchema, { name: 'w', ...init });

describe('regressions found by fuzzing', () => {
  // Fuzz #184: a tensor with no data declaring 1e15 floats loaded; saving it with external data
  // allocated the declared 4 PB (RangeError, wrapped as IO), and a 1e9-element one would allocate 4 GB.
  it('dataless-tensor-declaring-1e15-elements: refused at load, before anything is allocated', () => {
    const p = folder(fieldsTensor({ dataType: 1, dims: [10n ** 15n] }));
    expectCode(() => loadModel(p), 'INVALID_MODEL', /tensor 'w': holds 0 values, but its shape needs 1000000000000000/);
  });

  // Fuzz #290: three int64_data values for a UINT64 [1e5, 1e5] tensor (the wrong field, too few).
  it('wrong-typed-field-with-huge-shape: refused at load', () => {
    const p = folder(fieldsTensor({ dataType: 13, dims: [100000n, 100000n], int64Data: [1n, 2n, 3n] }));
    expectCode(() => loadModel(p), 'INVALID_MODEL', /holds 0 values, but its shape needs 10000000000/);
  });

  // Found while fixing the above: more values than the shape holds loaded, and reading the tensor
  // threw a RangeError from DataView (saving with external data turned it into an IO error).
  it('more-field-values-than-the-shape: refused at load', () => {
    const p = folder(fieldsTensor({ dataType: 1, dims: [1n], floatData: [1, 2, 3] }));
    expectCode(() => loadModel(p), 'INVALID_MODEL', /holds 3 values, but its shape needs 1/);
  });

  // Fuzz #91: a segmented INT64 tensor declaring 1e9 elements (segments carry part of the data, so
  // the count is not checked at load); writing it as external data allocated 8 GB.
  it('segmented-tensor-declaring-1e9-int64: loads, and is refused as UNSUPPORTED when its bytes are needed, before allocating', () => {
    const p = folder(fieldsTensor({ dataType: 7, dims: [10n ** 9n], int64Data: [1n], segment: create(TensorProto_SegmentSchema, { begin: 0n, end: 1n }) }));
    const m = loadModel(p);
    expect(codeOf(() => m.graph.initializers.get('w')!.initializer!.bytes())).toBe('UNSUPPORTED');
    const out = join(tempDir('onnx-opt-regress-'), 'out.onnx');
    expect(codeOf(() => saveModel(m, out, { externalData: 'external', sizeThreshold: 0 }))).toBe('UNSUPPORTED');
    // Kept verbatim when written inline, as before.
    saveModel(m, out, { externalData: 'inline' });
    expect(readFileSync(out).equals(readFileSync(p))).toBe(true);
  });

  // Fuzz #1535: 'model.onnx.data/' resolved to model.onnx.data (realpath drops the slash), so the
  // writer in keep mode saw two data files with one final name: the save failed half-way and left
  // a renamed data file behind.
  it('external-location-with-a-trailing-slash: refused', () => {
    const p = folder(extTensor('w', [4], [['location', 'w.bin/'], ['offset', '0'], ['length', '16']]), { 'w.bin': new Uint8Array(16) });
    expectCode(() => loadModel(p), 'EXTERNAL_DATA_PATH', /'w\.bin\/' ends with a slash/);
  });

  // Same family: './w.bin' and 'w.bin' named one file twice, with the same result. Locations are
  // now normalized, so both spellings are one data file to the writer.
  it('external-location-spelled-with-dot-slash: normalized, and a keep-mode save writes one data file', () => {
    const dir = join(tempDir('onnx-opt-regress-'), 'm');
    mkdirSync(dir);
    const bytes = Uint8Array.from({ length: 32 }, (_, i) => i);
    writeFileSync(join(dir, 'w.bin'), bytes);
    const a = extTensor('a', [4], [['location', './w.bin'], ['offset', '0'], ['length', '16']]);
    const b = extTensor('b', [4], [['location', 'w.bin'], ['offset', '16'], ['length', '16']]);
    const p = join(dir, 'model.onnx');
    writeFileSync(p, modelToBytes(model(graph({ input: [vi('x')], output: [vi('y')], initializer: [a, b], node: [nd('Sum', ['x', 'a', 'b'], ['y'])] }))));
    const m = loadModel(p);
    const storage = m.graph.initializers.get('a')!.initializer!.storage;
    expect(storage.kind === 'external' && storage.location).toBe('w.bin');
    const out = join(tempDir('onnx-opt-regress-'), 'model.onnx');
    saveModel(m, out, { externalData: 'keep' });
    expect(readdirSync(join(out, '..')).sort()).toEqual(['model.onnx', 'w.bin']);
    const again = loadModel(out);
    expect(Buffer.from(again.graph.initializers.get('a')!.initializer!.bytes()).equals(Buffer.from(bytes.subarray(0, 16)))).toBe(true);
    expect(Buffer.from(again.graph.initializers.get('b')!.initializer!.bytes()).equals(Buffer.from(bytes.subarray(16)))).toBe(true);
  });

  // Same family: data "stored" in the model file itself. A keep-mode save then renamed the data
  // file onto the output model's name and failed, leaving data bytes where the model should be.
  it('external-location-naming-the-model-file: refused', () => {
    const p = folder(extTensor('w', [4], [['location', 'model.onnx'], ['offset', '0'], ['length', '16']]));
    expectCode(() => loadModel(p), 'EXTERNAL_DATA_PATH', /is the model file itself/);
  });
});

