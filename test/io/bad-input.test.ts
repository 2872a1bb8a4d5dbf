import { mkdirSync, readdirSync, readFileSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { OnnxOptError, type ErrorCode } from '../../src/errors.js';
import { loadModel } from '../../src/io/read-model.js';
import { externalTensor, modelBytes, node, valueInfo } from '../helpers/proto.js';
import { TINYLLAMA, tempDir } from '../helpers/paths.js';

function expectError(fn: () => unknown, code: ErrorCode, text: RegExp, file: string): void {
  let err: unknown;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(OnnxOptError);
  const e = err as OnnxOptError;
  expect(e.code).toBe(code);
  expect(e.message).toMatch(text);
  expect(e.message.startsWith(file)).toBe(true);
  expect(e.message).not.toContain('\n');
}

/** A model whose only initializer `w` lives in external data at `location`. */
function withExternal(dir: string, location: string, offset = 0, length = 16): string {
  const path = join(dir, 'model.onnx');
  writeFileSync(
    path,
    modelBytes({
      input: [valueInfo('x')],
      output: [valueInfo('y')],
      initializer: [externalTensor('w', location, offset, length)],
      node: [node('Add', ['x', 'w'], ['y'])],
    }),
  );
  return path;
}

describe('bad input gives a typed error naming the file', () => {
  it('truncated file', () => {
    const dir = tempDir();
    const p = join(dir, 'truncated.onnx');
    writeFileSync(p, readFileSync(TINYLLAMA).subarray(0, 100_000));
    expectError(() => loadModel(p), 'PARSE', /truncated or corrupt/, p);
  });

  it('random bytes', () => {
    const dir = tempDir();
    const p = join(dir, 'random.onnx');
    let seed = 42;
    const bytes = Uint8Array.from({ length: 4096 }, () => ((seed = (seed * 1103515245 + 12345) >>> 0) >>> 16) & 0xff);
    writeFileSync(p, bytes);
    expect(() => loadModel(p)).toThrow(OnnxOptError);
  });

  it('empty file and missing file', () => {
    const dir = tempDir();
    const p = join(dir, 'empty.onnx');
    writeFileSync(p, new Uint8Array());
    expectError(() => loadModel(p), 'PARSE', /empty/, p);
    expectError(() => loadModel(join(dir, 'nope.onnx')), 'FILE_NOT_FOUND', /no such file/, join(dir, 'nope.onnx'));
  });

  it('a graph with a cycle', () => {
    const dir = tempDir();
    const p = join(dir, 'cycle.onnx');
    writeFileSync(
      p,
      modelBytes({ input: [valueInfo('x')], output: [valueInfo('b')], node: [node('Add', ['x', 'b'], ['a'], 'first'), node('Relu', ['a'], ['b'], 'second')] }),
    );
    expectError(() => loadModel(p), 'INVALID_MODEL', /cycle through first, second/, p);
  });

  it('a node using an undefined value', () => {
    const dir = tempDir();
    const p = join(dir, 'dangling.onnx');
    writeFileSync(p, modelBytes({ input: [valueInfo('x')], output: [valueInfo('y')], node: [node('Add', ['x', 'ghost'], ['y'], 'adder')] }));
    expectError(() => loadModel(p), 'INVALID_MODEL', /adder.*reads 'ghost', which nothing defines/, p);
  });

  it('duplicate output names', () => {
    const dir = tempDir();
    const p = join(dir, 'dup.onnx');
    writeFileSync(
      p,
      modelBytes({ input: [valueInfo('x')], output: [valueInfo('y')], node: [node('Relu', ['x'], ['y'], 'one'), node('Neg', ['x'], ['y'], 'two')] }),
    );
    expectError(() => loadModel(p), 'INVALID_MODEL', /'y' is defined more than once/, p);
  });

  it('a model without a graph', () => {
    const dir = tempDir();
    const p = join(dir, 'nograph.onnx');
    writeFileSync(p, new Uint8Array([0x08, 0x08])); // ir_version = 8 and nothing else
    expectError(() => loadModel(p), 'INVALID_MODEL', /no graph/, p);
  });

  it('external data with ../', () => {
    const dir = tempDir();
    mkdirSync(join(dir, 'm'));
    writeFileSync(join(dir, 'secret.bin'), new Uint8Array(16));
    const p = withExternal(join(dir, 'm'), '../secret.bin');
    expectError(() => loadModel(p), 'EXTERNAL_DATA_PATH', /contains '\.\.'/, p);
  });

  it('external data with an absolute path', () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'w.bin'), new Uint8Array(16));
    const p = withExternal(dir, join(dir, 'w.bin'));
    expectError(() => loadModel(p), 'EXTERNAL_DATA_PATH', /is absolute/, p);
  });

  it('external data through a symlink that leads out of the folder', () => {
    const dir = tempDir();
    mkdirSync(join(dir, 'm'));
    writeFileSync(join(dir, 'outside.bin'), new Uint8Array(16));
    symlinkSync(join(dir, 'outside.bin'), join(dir, 'm', 'w.bin'));
    const p = withExternal(join(dir, 'm'), 'w.bin');
    expectError(() => loadModel(p), 'EXTERNAL_DATA_PATH', /leads out of the model's folder/, p);
  });

  it('external data offset past end of file', () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'w.bin'), new Uint8Array(16));
    const p = withExternal(dir, 'w.bin', 8, 16);
    expectError(() => loadModel(p), 'EXTERNAL_DATA_RANGE', /past the end/, p);
  });

  it('external data length that does not match the shape', () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'w.bin'), new Uint8Array(64));
    const path = join(dir, 'model.onnx');
    const t = externalTensor('w', 'w.bin', 0, 16, [8]);
    writeFileSync(path, modelBytes({ input: [valueInfo('x')], output: [valueInfo('y')], initializer: [t], node: [node('Add', ['x', 'w'], ['y'])] }));
    expectError(() => loadModel(path), 'EXTERNAL_DATA_RANGE', /does not match/, path);
  });

  it('a single .onnx protobuf over 2 GiB is refused before it is read', () => {
    const dir = tempDir();
    const p = join(dir, 'huge.onnx');
    writeFileSync(p, new Uint8Array());
    truncateSync(p, 2 ** 31 + 10); // sparse: takes no disk
    expectError(() => loadModel(p), 'MODEL_TOO_LARGE', /over 2 GiB.*external data/, p);
  });

  it('a missing data file', () => {
    const dir = tempDir();
    const p = withExternal(dir, 'gone.bin');
    expectError(() => loadModel(p), 'EXTERNAL_DATA_MISSING', /does not exist/, p);
  });

  it('a symlink inside the folder is allowed', () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'real.bin'), new Uint8Array(16));
    symlinkSync('real.bin', join(dir, 'w.bin'));
    const p = withExternal(dir, 'w.bin');
    const m = loadModel(p);
    expect(m.graph.initializers.get('w')!.initializer!.bytes().byteLength).toBe(16);
    // Loading never writes: the folder holds only what the test made.
    expect(readdirSync(dir).sort()).toEqual(['model.onnx', 'real.bin', 'w.bin']);
  });
});
