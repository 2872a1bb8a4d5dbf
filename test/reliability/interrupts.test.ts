/**
 * Issue 17, case 7: Ctrl-C or SIGTERM while the model is written removes the temporary files and
 * exits 130 / 143; the old output (if any) and the input stay byte-identical, and nothing new
 * appears. The signal is sent by the child itself right after the first data write (see
 * interrupt-child.ts), so the test does not depend on timing.
 */
import { spawnSync } from 'node:child_process';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO } from '../helpers/cli.js';
import { entries, freshDir, snapshot, writeTinyModel } from './cli-harness.js';

const CHILD = resolve(import.meta.dirname, 'interrupt-child.ts');

function interrupted(signal: string, args: string[]) {
  const r = spawnSync(process.execPath, ['--import', 'tsx', CHILD, signal, ...args], { cwd: REPO, encoding: 'utf8', timeout: 60_000 });
  return { code: r.status, stderr: r.stderr };
}

describe('interrupts during the write', () => {
  for (const [signal, code] of [
    ['SIGINT', 130],
    ['SIGTERM', 143],
  ] as const) {
    it(`${signal} into an empty folder: exit ${code}, temporary files removed, no output`, () => {
      const input = writeTinyModel(join(freshDir('in'), 'model.onnx'));
      const inBefore = snapshot(join(input, '..'));
      const outDir = freshDir('out');
      const r = interrupted(signal, [input, '-o', join(outDir, 'model.onnx'), '--passes=dce', '-q']);
      expect(r.stderr).toMatch(new RegExp(`^onnx-opt: interrupted by ${signal}; removed [1-9]\\d* temporary file\\(s\\)\\n$`));
      expect(r.code).toBe(code);
      expect([...snapshot(outDir).keys()]).toEqual([]);
      expect(entries(snapshot(join(input, '..')))).toEqual(entries(inBefore));
    }, 60_000);
  }

  it('SIGINT over an existing output: the old model and its data are untouched', () => {
    const input = writeTinyModel(join(freshDir('in'), 'model.onnx'));
    const outDir = freshDir('out');
    writeTinyModel(join(outDir, 'model.onnx'));
    const outBefore = snapshot(outDir);
    const r = interrupted('SIGINT', [input, '-o', join(outDir, 'model.onnx'), '--passes=dce', '-q']);
    expect(r.code, r.stderr).toBe(130);
    expect(entries(snapshot(outDir))).toEqual(entries(outBefore));
  }, 60_000);

  it('SIGINT while writing a model folder: no partial folder is left', () => {
    const input = writeTinyModel(join(freshDir('in'), 'model.onnx'));
    const root = freshDir('root');
    const r = interrupted('SIGINT', [input, '-o', join(root, 'new', 'deeper', 'model.onnx'), '--passes=dce', '-q']);
    expect(r.code, r.stderr).toBe(130);
    expect([...snapshot(root).keys()]).toEqual([]); // the folders it created went too
  }, 60_000);
});
