/**
 * Issue 17, cases 1–3: the writer deletes only what it created or what belonged to the model it
 * replaced, and refuses output paths that are the input's files or devices; inputs must be regular
 * files. Each case asserts the exit code, the message, that no stray file is left, and that every
 * input file is byte-identical afterwards.
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, linkSync, lstatSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { saveModel } from '../../src/io/write-model.js';
import { OnnxOptError } from '../../src/errors.js';
import { loadModel } from '../../src/io/read-model.js';
import { registerBuiltinPasses } from '../../src/passes/builtin.js';
import { extTensor, graph, model, modelToBytes, nd, vi } from './fuzz-cases.js';
import { entries, expectUsageError, freshDir, runMain, snapshot, writeTinyModel } from './cli-harness.js';

beforeAll(() => registerBuiltinPasses());

/** d/a.onnx and d/b.onnx, two copies of one model sharing d/model.onnx.data. */
function sharedDataFolder(): string {
  const src = freshDir('src');
  writeTinyModel(join(src, 'model.onnx'));
  const d = freshDir('d');
  copyFileSync(join(src, 'model.onnx'), join(d, 'a.onnx'));
  copyFileSync(join(src, 'model.onnx.data'), join(d, 'model.onnx.data'));
  copyFileSync(join(d, 'a.onnx'), join(d, 'b.onnx'));
  return d;
}

/** A model `x + w → y` whose one tensor `w` (4 floats) lies in `location` at `offset`. */
function pointingModel(location: string, offset = 0): Uint8Array {
  const w = extTensor('w', [4], [['location', location], ['offset', String(offset)], ['length', '16']]);
  return modelToBytes(model(graph({ input: [vi('x')], output: [vi('y')], initializer: [w], node: [nd('Add', ['x', 'w'], ['y'])] })));
}

function mknod(path: string, major: number, minor: number): string {
  execFileSync('mknod', [path, 'c', String(major), String(minor)]);
  return path;
}

describe('the writer removes only the replaced model’s own data (case 1)', () => {
  it('a.onnx -o b.onnx, both sharing model.onnx.data: the shared file stays and a.onnx still loads', async () => {
    const d = sharedDataFolder();
    const before = snapshot(d);
    const r = await runMain([join(d, 'a.onnx'), '-o', join(d, 'b.onnx'), '--passes=dce', '-q']);
    expect(r.code, r.stderr).toBe(0);
    const after = snapshot(d);
    expect(after.get('a.onnx')).toBe(before.get('a.onnx'));
    expect(after.get('model.onnx.data')).toBe(before.get('model.onnx.data'));
    expect([...after.keys()].sort()).toEqual(['a.onnx', 'b.onnx', 'b.onnx.data', 'model.onnx.data']);
    expect(() => loadModel(join(d, 'a.onnx'))).not.toThrow();
    expect(() => loadModel(join(d, 'b.onnx'))).not.toThrow();
  });

  it('another .onnx in the folder that references the old output’s data keeps it', async () => {
    const d = sharedDataFolder();
    const input = join(freshDir('in'), 'model.onnx');
    writeTinyModel(input);
    const before = snapshot(d);
    const r = await runMain([input, '-o', join(d, 'b.onnx'), '--passes=dce', '-q']);
    expect(r.code, r.stderr).toBe(0);
    // b.onnx was replaced; a.onnx (not the input) still needs model.onnx.data.
    expect(snapshot(d).get('model.onnx.data')).toBe(before.get('model.onnx.data'));
    expect(() => loadModel(join(d, 'a.onnx'))).not.toThrow();
  });

  it('an old output whose locations name in.onnx and notes.txt: neither is deleted; its own data file is', async () => {
    const d = freshDir('d');
    writeTinyModel(join(d, 'in.onnx'), { externalData: 'inline' });
    writeFileSync(join(d, 'notes.txt'), 'my notes, much longer than the 16 bytes a tensor reads from them\n'.repeat(4));
    writeFileSync(join(d, 'own.bin'), new Uint8Array(16));
    // out.onnx: one tensor in in.onnx, one in notes.txt, one filling own.bin exactly.
    const t = (name: string, loc: string) => extTensor(name, [4], [['location', loc], ['offset', '0'], ['length', '16']]);
    writeFileSync(
      join(d, 'out.onnx'),
      modelToBytes(model(graph({ input: [vi('x')], output: [vi('y')], initializer: [t('a', 'in.onnx'), t('b', 'notes.txt'), t('c', 'own.bin')], node: [nd('Sum', ['x', 'a', 'b', 'c'], ['y'])] }))),
    );
    const before = snapshot(d);
    const r = await runMain([join(d, 'in.onnx'), '-o', join(d, 'out.onnx'), '--passes=dce', '-q']);
    expect(r.code, r.stderr).toBe(0);
    const after = snapshot(d);
    expect(after.get('in.onnx')).toBe(before.get('in.onnx'));
    expect(after.get('notes.txt')).toBe(before.get('notes.txt'));
    expect(after.has('own.bin')).toBe(false); // the replaced model's own data: removed
  });

  it('-o a symlink to the input: exit 2, nothing written, the input and its data unchanged', async () => {
    const d = sharedDataFolder();
    symlinkSync('a.onnx', join(d, 'link.onnx'));
    const before = snapshot(d);
    const r = await runMain([join(d, 'a.onnx'), '-o', join(d, 'link.onnx'), '--passes=dce']);
    expectUsageError(r, /link\.onnx: the output path is the input model under another name/);
    expect(entries(snapshot(d))).toEqual(entries(before));
  });

  it('-o a hard link to the input: exit 2, nothing written', async () => {
    const d = sharedDataFolder();
    linkSync(join(d, 'a.onnx'), join(d, 'hard.onnx'));
    const before = snapshot(d);
    const r = await runMain([join(d, 'a.onnx'), '-o', join(d, 'hard.onnx'), '--passes=dce']);
    expectUsageError(r, /hard\.onnx: the output path is the input model under another name/);
    expect(entries(snapshot(d))).toEqual(entries(before));
  });

  it('-o the input itself is still allowed, and the replaced data goes with it', async () => {
    const d = freshDir('d');
    writeTinyModel(join(d, 'model.onnx'));
    const r = await runMain([join(d, 'model.onnx'), '-o', join(d, 'model.onnx'), '--passes=dce', '-q']);
    expect(r.code, r.stderr).toBe(0);
    expect([...snapshot(d).keys()].sort()).toEqual(['model.onnx', 'model.onnx.v1.data']);
  });
});

describe('-o the input’s data file (case 2)', () => {
  it('exit 2 naming the file; the data is byte-identical', async () => {
    const d = sharedDataFolder();
    const before = snapshot(d);
    const r = await runMain([join(d, 'a.onnx'), '-o', join(d, 'model.onnx.data'), '--passes=dce']);
    expectUsageError(r, /model\.onnx\.data: the output path is one of the input's external data files/);
    expect(entries(snapshot(d))).toEqual(entries(before));
  });

  it('the API refuses it too, with a symlinked spelling', () => {
    const d = sharedDataFolder();
    symlinkSync('model.onnx.data', join(d, 'data-link'));
    const before = snapshot(d);
    expect(() => saveModel(loadModel(join(d, 'a.onnx')), join(d, 'data-link'))).toThrow(/one of the input's external data files/);
    expect(entries(snapshot(d))).toEqual(entries(before));
  });
});

describe('devices (case 3)', () => {
  it('-o a copy of /dev/null: exit 2, still a character device', async () => {
    const d = sharedDataFolder();
    const dev = mknod(join(d, 'null'), 1, 3);
    const before = snapshot(d);
    const r = await runMain([join(d, 'a.onnx'), '-o', dev, '--passes=dce']);
    expectUsageError(r, /null: the output path is a character device/);
    expect(lstatSync(dev).isCharacterDevice()).toBe(true);
    expect(entries(snapshot(d))).toEqual(entries(before));
  });

  it('-o a copy of /dev/full: exit 2 at once (never read)', async () => {
    const d = sharedDataFolder();
    const dev = mknod(join(d, 'full'), 1, 7);
    const t0 = performance.now();
    const r = await runMain([join(d, 'a.onnx'), '-o', dev, '--passes=dce']);
    expectUsageError(r, /full: the output path is a character device/);
    expect(performance.now() - t0).toBeLessThan(5000);
  });

  for (const [what, args] of [
    ['inspect', (p: string) => ['inspect', p]],
    ['optimize', (p: string) => [p, '-o', join(p, '..', 'out.onnx'), '--passes=dce']],
    ['codegen', (p: string) => ['codegen', p, '-o', join(p, '..', 'r.ts')]],
  ] as const) {
    it(`${what} of a copy of /dev/zero: exit 2, nothing read or written`, async () => {
      const d = freshDir('d');
      const dev = mknod(join(d, 'zero.onnx'), 1, 5);
      const r = await runMain(args(dev));
      expectUsageError(r, /zero\.onnx: is a character device, not (an \.onnx file|a regular file)/);
      expect([...snapshot(d).keys()]).toEqual(['zero.onnx']);
    });
  }

  it('a symlink to /dev/zero as the model: refused by loadModel', () => {
    const d = freshDir('d');
    symlinkSync('/dev/zero', join(d, 'model.onnx'));
    expect(() => loadModel(join(d, 'model.onnx'))).toThrow(OnnxOptError);
  });

  it('--calib and --scores that are devices are refused before the model is read', async () => {
    const d = sharedDataFolder();
    const dev = mknod(join(d, 'zero'), 1, 5);
    const before = snapshot(d);
    expectUsageError(await runMain([join(d, 'a.onnx'), '-o', join(d, 'o.onnx'), '--passes=dce', '--calib', dev]), /zero: is a character device, not a regular file or folder/);
    expectUsageError(await runMain([join(d, 'a.onnx'), '-o', join(d, 'o.onnx'), '--passes=dce', '--scores', dev]), /zero: is a character device, not a regular file/);
    expect(entries(snapshot(d))).toEqual(entries(before));
    expect(readFileSync(join(d, 'a.onnx')).byteLength).toBeGreaterThan(0);
  });
});
