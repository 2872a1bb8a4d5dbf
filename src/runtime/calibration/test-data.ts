import { fromBinary } from '@bufbuild/protobuf';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { TensorProtoSchema, type TensorProto } from 'onnx-buf';
import { OnnxOptError } from '../../errors.js';
import { decodeTensor } from '../../io/decode.js';
import { DataType } from '../../ir/dtype.js';
import { checkIds, maxLength, resolveOptions } from './common.js';
import type { CalibrationData, SequenceOptions } from './types.js';

export interface TestDataOptions extends SequenceOptions {
  /** The input holding the token ids (default `input_ids`; else the only integer input). */
  inputName?: string;
}

/**
 * Token sequences from ONNX test-data-set folders: `dir/test_data_set_N/input_K.pb` (or one such
 * folder itself). Each set's token input ([B, S] or [S], int64/int32) adds its rows, truncated to
 * `sequenceLength`, until `numSequences` are collected.
 */
export function fromTestDataSets(dir: string, options: TestDataOptions = {}): CalibrationData {
  const o = resolveOptions(options);
  const st = statSync(dir, { throwIfNoEntry: false });
  if (!st) throw new OnnxOptError('FILE_NOT_FOUND', 'no such folder', { file: dir });
  if (!st.isDirectory()) throw new OnnxOptError('USAGE', 'not a folder of test_data_set_N', { file: dir });
  const entries = readdirSync(dir);
  const sets = entries.some((e) => /^input_\d+\.pb$/.test(e))
    ? [dir]
    : entries
        .map((e) => /^test_data_set_(\d+)$/.exec(e))
        .filter((m): m is RegExpExecArray => m !== null)
        .sort((a, b) => Number(a[1]) - Number(b[1]))
        .map((m) => join(dir, m[0]));
  if (sets.length === 0) throw new OnnxOptError('USAGE', 'no test_data_set_N folders and no input_K.pb files', { file: dir });
  const sequences: number[][] = [];
  for (const set of sets) {
    if (sequences.length >= o.numSequences) break;
    const t = tokenInput(set, options.inputName);
    const tensor = decodeTensor(t.proto, { file: t.file });
    const values = tensor.toNumbers();
    const dims = tensor.dims;
    const rows = dims.length === 1 ? 1 : dims[0]!;
    const S = dims.length === 1 ? dims[0]! : dims[1]!;
    if (dims.length > 2 || dims.length === 0) throw new OnnxOptError('USAGE', `token input has shape [${dims.join(',')}]; expected [B, S] or [S]`, { file: t.file });
    for (let b = 0; b < rows && sequences.length < o.numSequences; b++) {
      const seq = values.slice(b * S, (b + 1) * S).slice(0, o.sequenceLength);
      checkIds(seq, o.vocabSize, `row ${b}`, t.file);
      if (seq.length) sequences.push(seq);
    }
  }
  if (sequences.length === 0) throw new OnnxOptError('USAGE', 'the test data holds no tokens', { file: dir });
  return {
    sequences,
    source: {
      kind: 'test-data',
      path: resolve(dir),
      numSequences: sequences.length,
      sequenceLength: maxLength(sequences),
      description: `${basename(dir)} (ONNX test data): ${sequences.length} sequences of up to ${maxLength(sequences)} tokens`,
    },
  };
}

function tokenInput(set: string, inputName: string | undefined): { proto: TensorProto; file: string } {
  const files = readdirSync(set)
    .map((e) => /^input_(\d+)\.pb$/.exec(e))
    .filter((m): m is RegExpExecArray => m !== null)
    .sort((a, b) => Number(a[1]) - Number(b[1]))
    .map((m) => join(set, m[0]));
  const protos = files.map((file) => {
    try {
      return { proto: fromBinary(TensorProtoSchema, readFileSync(file)), file };
    } catch (e) {
      throw new OnnxOptError('PARSE', `not a serialized TensorProto: ${(e as Error).message}`, { file, cause: e });
    }
  });
  const isInt = (p: TensorProto) => p.dataType === DataType.INT64 || p.dataType === DataType.INT32;
  const want = inputName ?? 'input_ids';
  const named = protos.find((p) => p.proto.name === want);
  if (named) {
    if (!isInt(named.proto)) throw new OnnxOptError('USAGE', `input '${want}' is not int64/int32`, { file: named.file });
    return named;
  }
  if (inputName) throw new OnnxOptError('USAGE', `no input named '${inputName}'`, { file: set });
  const ints = protos.filter((p) => isInt(p.proto));
  if (ints.length === 1 || (ints.length > 1 && ints[0] === protos[0])) return ints[0]!;
  throw new OnnxOptError('USAGE', 'cannot tell which input holds the token ids; pass inputName', { file: set });
}
