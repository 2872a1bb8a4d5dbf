import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { GraphBuilder } from '../../src/ir/builder.js';
import { DataType, type TypedArray } from '../../src/ir/dtype.js';
import { numberToFloat16, Tensor } from '../../src/ir/tensor.js';
import { loadModel } from '../../src/io/read-model.js';
import { fromOrtTensor, stringsOf, stringTensor, toOrtTensor } from '../../src/runtime/tensors.js';
import {
  checkGolden,
  compareTensors,
  conciseOrtMessage,
  listTestDataSets,
  readTensorFile,
  readTestDataSet,
  unsupportedSignature,
  writeTensorFile,
  writeTestDataSet,
} from '../../src/verify/golden.js';
import { CONFORMANCE, tempDir } from '../helpers/paths.js';

const SAMPLES: [DataType, TypedArray][] = [
  [DataType.FLOAT, Float32Array.of(1.5, -0, NaN, Infinity, 3e-42, 7)],
  [DataType.FLOAT16, Uint16Array.from([1, -2, 0.5, 65504, 1e-7, 3], numberToFloat16)],
  [DataType.DOUBLE, Float64Array.of(0.1, -1e300, 2, 3, 4, 5)],
  [DataType.INT8, Int8Array.of(-128, 127, 0, 1, 2, 3)],
  [DataType.INT16, Int16Array.of(-32768, 32767, 0, 1, 2, 3)],
  [DataType.INT32, Int32Array.of(-(2 ** 31), 2 ** 31 - 1, 0, 1, 2, 3)],
  [DataType.INT64, BigInt64Array.of(-(2n ** 63n), 2n ** 63n - 1n, 0n, 1n, 2n, 3n)],
  [DataType.UINT8, Uint8Array.of(0, 255, 1, 2, 3, 4)],
  [DataType.UINT16, Uint16Array.of(0, 65535, 1, 2, 3, 4)],
  [DataType.UINT32, Uint32Array.of(0, 2 ** 32 - 1, 1, 2, 3, 4)],
  [DataType.UINT64, BigUint64Array.of(0n, 2n ** 64n - 1n, 1n, 2n, 3n, 4n)],
  [DataType.BOOL, Uint8Array.of(0, 1, 1, 0, 0, 1)],
];

const hex = (t: Tensor) => Buffer.from(t.bytes()).toString('hex');

describe('tensor files', () => {
  it('write → read keeps type, shape, name and bytes for every element type', () => {
    const dir = tempDir();
    for (const [dtype, data] of SAMPLES) {
      const t = Tensor.fromArray(`t${dtype}`, dtype, [2, 3], data);
      const path = join(dir, `${dtype}.pb`);
      writeTensorFile(path, t);
      const back = readTensorFile(path);
      expect([back.name, back.dtype, [...back.dims]]).toEqual([t.name, dtype, [2, 3]]);
      expect(hex(back)).toBe(hex(t));
    }
    const s = stringTensor('s', [2], ['héllo', '']);
    writeTensorFile(join(dir, 's.pb'), s);
    expect(stringsOf(readTensorFile(join(dir, 's.pb')))).toEqual(['héllo', '']);
  });

  it('reads the corpus files', () => {
    const t = readTensorFile(join(CONFORMANCE, 'test_abs', 'test_data_set_0', 'input_0.pb'));
    expect(t.name).toBe('x');
    expect(t.dtype).toBe(DataType.FLOAT);
    expect([...t.dims]).toEqual([3, 4, 5]);
  });

  it('refuses a file that is not a TensorProto', () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'bad.pb'), Uint8Array.of(0xff, 0xff, 0xff));
    expect(() => readTensorFile(join(dir, 'bad.pb'))).toThrow(/TensorProto/);
  });

  it('orders input_K/output_K and test_data_set_N numerically', () => {
    const dir = tempDir();
    const ins = Array.from({ length: 12 }, (_, k) => Tensor.fromArray(`in${k}`, DataType.INT32, [1], Int32Array.of(k)));
    for (const n of [0, 2, 10]) writeTestDataSet(join(dir, `test_data_set_${n}`), ins, ins.slice(0, 2));
    mkdirSync(join(dir, 'not_a_data_set'));
    expect(listTestDataSets(dir).map((p) => p.slice(dir.length + 1))).toEqual(['test_data_set_0', 'test_data_set_2', 'test_data_set_10']);
    const ds = readTestDataSet(join(dir, 'test_data_set_10'));
    expect(ds.inputs.map((t) => t.name)).toEqual(ins.map((t) => t.name));
    expect(ds.outputs.map((t) => t.toNumbers()[0])).toEqual([0, 1]);
    expect(readdirSync(join(dir, 'test_data_set_0'))).toContain('input_11.pb');
  });
});

describe('ORT tensor conversion', () => {
  it('round-trips every element type onnxruntime-node carries', () => {
    for (const [dtype, data] of SAMPLES) {
      const t = Tensor.fromArray('t', dtype, [3, 2], data);
      const o = toOrtTensor(t);
      expect(o.dims).toEqual([3, 2]);
      const back = fromOrtTensor('back', o);
      expect([back.dtype, [...back.dims], hex(back)]).toEqual([dtype, [3, 2], hex(t)]);
    }
    const s = fromOrtTensor('s', toOrtTensor(stringTensor('s', [2], ['a', 'bc'])));
    expect(stringsOf(s)).toEqual(['a', 'bc']);
    expect(fromOrtTensor('b', new ort.Tensor('bool', Uint8Array.of(1, 0), [2])).dtype).toBe(DataType.BOOL);
  });

  it('reports types it cannot convert', () => {
    expect(() => toOrtTensor(Tensor.fromArray('b', DataType.BFLOAT16, [1], Uint16Array.of(0)))).toThrow(/bf16/);
    expect(() => toOrtTensor(Tensor.fromArray('q', DataType.INT4, [2], Uint8Array.of(0x12)))).toThrow(/i4/);
  });
});

describe('comparison', () => {
  const t = (v: number[], dims = [v.length]) => Tensor.fromArray('t', DataType.FLOAT, dims, Float32Array.from(v));
  it('uses |a-b| <= atol + rtol*|expected|, NaN equal to NaN', () => {
    expect(compareTensors(t([1.0005, NaN, Infinity, 0]), t([1, NaN, Infinity, 5e-8]))).toBeUndefined();
    expect(compareTensors(t([1.002]), t([1]))).toMatch(/1\/1 elements differ/);
    expect(compareTensors(t([1e-6]), t([0]))).toMatch(/differ/);
    expect(compareTensors(t([Infinity]), t([-Infinity]))).toMatch(/differ/);
    expect(compareTensors(t([NaN]), t([0]))).toMatch(/differ/);
    expect(compareTensors(t([-3.4028234663852886e38]), t([-Infinity]))).toMatch(/differ/);
  });
  it('requires the same type and shape, and exact integers', () => {
    expect(compareTensors(t([1, 2], [2]), t([1, 2], [1, 2]))).toMatch(/shape/);
    const a = Tensor.fromArray('a', DataType.INT64, [1], BigInt64Array.of(2n ** 62n + 1n));
    const b = Tensor.fromArray('b', DataType.INT64, [1], BigInt64Array.of(2n ** 62n));
    expect(compareTensors(a, b)).toMatch(/element 0/);
    expect(compareTensors(a, t([1]))).toMatch(/type/);
  });
});

describe('checkGolden', () => {
  it('passes a correct model and names the output that differs in a wrong one', async () => {
    const b = new GraphBuilder();
    const x = b.input('x', DataType.FLOAT, [3]);
    b.output(b.op('Relu', [x]), 'y');
    const model = b.build();
    const input = Tensor.fromArray('x', DataType.FLOAT, [3], Float32Array.of(-1, 0, 2));
    const good = Tensor.fromArray('y', DataType.FLOAT, [3], Float32Array.of(0, 0, 2));
    const bad = Tensor.fromArray('y', DataType.FLOAT, [3], Float32Array.of(0, 0, 3));
    expect(await checkGolden(model, [{ inputs: [input], outputs: [good] }])).toEqual({ ok: true });
    const r = await checkGolden(model, [
      { inputs: [input], outputs: [good] },
      { inputs: [input], outputs: [bad] },
    ]);
    expect(r).toMatchObject({ ok: false, stage: 'mismatch' });
    expect(!r.ok && r.reason).toMatch(/data set 1, output 'y'/);
  });

  it('runs a corpus model against its data sets', async () => {
    const dir = join(CONFORMANCE, 'test_add_bcast');
    const model = loadModel(join(dir, 'model.onnx'));
    expect(await checkGolden(model, listTestDataSets(dir).map(readTestDataSet))).toEqual({ ok: true });
  });

  it('reports sequence signatures up front', async () => {
    const model = loadModel(join(CONFORMANCE, 'test_sequence_insert_at_back', 'model.onnx'));
    expect(unsupportedSignature(model)).toMatch(/sequence/);
    expect(await checkGolden(model, [])).toMatchObject({ ok: false, stage: 'signature' });
  });

  it('shortens onnxruntime messages', () => {
    const m =
      'Exception during initialization: /onnxruntime_src/onnxruntime/core/providers/cpu/rnn/rnn.h:48 onnxruntime::RNN<T>::RNN(const onnxruntime::OpKernelInfo&) [with T = float] layout_ == 0 was false.\nmore';
    expect(conciseOrtMessage(m)).toBe('Exception during initialization: [with T = float] layout_ == 0 was false.');
  });
});
