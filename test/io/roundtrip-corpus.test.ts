import { createRegistry, equals, fromBinary, toBinary } from '@bufbuild/protobuf';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { file_onnx, ModelProtoSchema } from 'onnx-buf';
import { describe, expect, it } from 'vitest';
import { encodeModel } from '../../src/io/encode.js';
import { loadModelFromBytes } from '../../src/io/read-model.js';
import { CONFORMANCE } from '../helpers/paths.js';

describe('round trip of the ONNX conformance corpus', () => {
  const dirs = readdirSync(CONFORMANCE).sort();

  it('finds the corpus', () => {
    expect(dirs.length).toBeGreaterThan(1800);
  });

  it('ModelProto → IR → ModelProto is byte-identical and equal for every model', () => {
    const notIdentical: string[] = [];
    const notEqual: string[] = [];
    for (const d of dirs) {
      const path = join(CONFORMANCE, d, 'model.onnx');
      const bytes = readFileSync(path);
      const model = loadModelFromBytes(bytes, path);
      const out = toBinary(ModelProtoSchema, encodeModel(model));
      if (Buffer.compare(Buffer.from(out), bytes) !== 0) notIdentical.push(d);
      // Normalization: protobuf-es `equals` compares floats with IEEE semantics, so a model that
      // holds NaN in a float field never equals itself. Identical bytes already prove equality
      // for those, so `equals` is only asked where the bytes differ.
      else continue;
      const eq = equals(ModelProtoSchema, fromBinary(ModelProtoSchema, bytes), fromBinary(ModelProtoSchema, out), { unknown: true, registry: createRegistry(file_onnx) });
      if (!eq) notEqual.push(d);
    }
    expect(notEqual).toEqual([]);
    expect(notIdentical).toEqual([]);
  });
});
