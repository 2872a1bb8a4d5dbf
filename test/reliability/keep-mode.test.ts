/**
 * Issue 17, case 9: `--external-data=keep` with data files whose names collide with the output
 * model, that live in sub-folders, or whose sub-folder in the output is a symlink.
 */
import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadModel } from '../../src/io/read-model.js';
import { registerBuiltinPasses } from '../../src/passes/builtin.js';
import { extTensor, graph, model, modelToBytes, nd, vi } from './fuzz-cases.js';
import { entries, expectUsageError, freshDir, runMain, snapshot, writeTinyModel } from './cli-harness.js';

beforeAll(() => registerBuiltinPasses());

const W = Float32Array.from([1, 2, 3, 4]);

/** in/m.onnx: `x + w → y` with w's 16 bytes in `location`. */
function inputWithData(location: string): string {
  const d = freshDir('in');
  mkdirSync(join(d, location, '..'), { recursive: true });
  writeFileSync(join(d, location), new Uint8Array(W.buffer));
  const w = extTensor('w', [4], [['location', location], ['offset', '0'], ['length', '16']]);
  writeFileSync(join(d, 'm.onnx'), modelToBytes(model(graph({ input: [vi('x')], output: [vi('y')], initializer: [w], node: [nd('Add', ['x', 'w'], ['y'])] }))));
  return join(d, 'm.onnx');
}

const weightOf = (path: string) => new Float32Array(loadModel(path).graph.initializers.get('w')!.initializer!.toNumbers());

describe('keep mode', () => {
  it('a data file named like the output model gets another name; the model does not point at itself', async () => {
    const d = freshDir('in');
    const input = writeTinyModel(join(d, 'x.onnx'), { externalData: 'external', location: 'model.onnx' });
    const before = snapshot(d);
    const out = join(freshDir('out'), 'model.onnx');
    const r = await runMain([input, '-o', out, '--passes=dce', '--external-data=keep', '-q']);
    expect(r.code, r.stderr).toBe(0);
    expect([...snapshot(join(out, '..')).keys()].sort()).toEqual(['model.onnx', 'model.onnx.v1']);
    const m = loadModel(out);
    expect(m.graph.initializers.size).toBeGreaterThan(5);
    expect(entries(snapshot(d))).toEqual(entries(before));
  });

  it('data in a sub-folder: the sub-folder is created in the output', async () => {
    const input = inputWithData('weights/w.bin');
    const out = join(freshDir('out'), 'model.onnx');
    const r = await runMain([input, '-o', out, '--passes=dce', '--external-data=keep', '-q']);
    expect(r.code, r.stderr).toBe(0);
    expect([...snapshot(join(out, '..')).keys()].sort()).toEqual(['model.onnx', 'weights', 'weights/w.bin']);
    expect([...weightOf(out)]).toEqual([...W]);
  });

  it('a sub-folder of the output that is a symlink out of it: refused, nothing written through it', async () => {
    const input = inputWithData('weights/w.bin');
    const outDir = freshDir('out');
    const elsewhere = freshDir('elsewhere');
    symlinkSync(elsewhere, join(outDir, 'weights'));
    const before = [snapshot(outDir), snapshot(elsewhere)];
    const r = await runMain([input, '-o', join(outDir, 'model.onnx'), '--passes=dce', '--external-data=keep']);
    expectUsageError(r, /model\.onnx: data location 'weights\/w\.bin': .*weights is a symbolic link, not a folder inside the output folder/);
    expect([entries(snapshot(outDir)), entries(snapshot(elsewhere))]).toEqual(before.map(entries));
  });

  it('the input is byte-identical after a keep-mode save', async () => {
    const input = inputWithData('weights/w.bin');
    const bytes = readFileSync(join(input, '..', 'weights', 'w.bin'));
    const r = await runMain([input, '-o', join(freshDir('out'), 'model.onnx'), '--passes=dce', '--external-data=keep', '-q']);
    expect(r.code, r.stderr).toBe(0);
    expect(readFileSync(join(input, '..', 'weights', 'w.bin')).equals(bytes)).toBe(true);
  });
});
