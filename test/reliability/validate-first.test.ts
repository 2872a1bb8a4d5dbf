/**
 * Issue 17, case 8: every option is checked before anything is written, and golden make writes
 * its data sets atomically: a full disk or a bad option leaves no output at all.
 */
import fs, { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { registerBuiltinPasses } from '../../src/passes/builtin.js';
import { entries, expectUsageError, freshDir, runMain, snapshot, writeTinyModel } from './cli-harness.js';

beforeAll(() => registerBuiltinPasses());

/** A folder with model.onnx (+ data); returns [folder, model]. */
function input(): [string, string] {
  const d = freshDir('d');
  return [d, writeTinyModel(join(d, 'model.onnx'))];
}

describe('options are validated before any output is written', () => {
  for (const [flag, message] of [
    ['--verify=max-kl=abc', /--verify: 'max-kl=abc' is not key=number/],
    ['--verify=min-top1=2', /--verify: min-top1 must be between 0 and 1, got 2/],
    ['--verify=max-kl=-1', /--verify: max-kl must be at least 0, got -1/],
    ['--verify=speed=3', /--verify: unknown threshold 'speed'/],
    ['--report=r.txt', /r\.txt: the report path must end in \.html or \.json/],
    ['--calib=missing.txt', /missing\.txt: no such file/],
    ['--tokenizer=missing.json', /missing\.json: no such file/],
    ['--calib-sequences=0', /--calib-sequences expects a positive integer, got '0'/],
    ['--calib-length=-4', /--calib-length expects a positive integer, got '-4'/],
  ] as const) {
    it(`${flag}: exit 2, no output file`, async () => {
      const [d, model] = input();
      const before = snapshot(d);
      const r = await runMain([model, '-o', join(d, 'out.onnx'), '--passes=dce', flag]);
      expectUsageError(r, message);
      expect(entries(snapshot(d))).toEqual(entries(before));
    });
  }

  it('--report whose folder is a regular file: exit 2 before the model is written', async () => {
    const [d, model] = input();
    writeFileSync(join(d, 'file'), 'x');
    const before = snapshot(d);
    expectUsageError(await runMain([model, '-o', join(d, 'out.onnx'), '--passes=dce', '--report', join(d, 'file', 'r.html')]), /r\.html: cannot create the output: .*file is a regular file, not a folder/);
    expect(entries(snapshot(d))).toEqual(entries(before));
  });

  it('--report that is a directory: exit 2 before the model is written', async () => {
    const [d, model] = input();
    mkdirSync(join(d, 'r.json'));
    const before = snapshot(d);
    expectUsageError(await runMain([model, '-o', join(d, 'out.onnx'), '--passes=dce', '--report', join(d, 'r.json')]), /r\.json: the output path is a directory/);
    expect(entries(snapshot(d))).toEqual(entries(before));
  });
});

describe('golden make writes its sets atomically', () => {
  it('a full disk (ENOSPC on the third file) leaves no set and no folder; exit 2 naming the folder', async () => {
    const [d, model] = input();
    const before = snapshot(d);
    const writeFileSyncOrig = fs.writeFileSync;
    let calls = 0;
    (fs as { writeFileSync: unknown }).writeFileSync = (...a: Parameters<typeof fs.writeFileSync>) => {
      if (++calls === 3) throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
      return writeFileSyncOrig(...a);
    };
    syncBuiltinESMExports();
    let r;
    try {
      r = await runMain(['golden', 'make', model, '-o', join(d, 'golden'), '--calib-sequences=2', '--calib-length=4']);
    } finally {
      (fs as { writeFileSync: unknown }).writeFileSync = writeFileSyncOrig;
      syncBuiltinESMExports();
    }
    expect(calls).toBeGreaterThanOrEqual(3);
    expectUsageError(r, /golden: cannot write the data sets: ENOSPC/);
    expect(entries(snapshot(d))).toEqual(entries(before));
  });

  it('into the model folder over an earlier, longer run: the old sets are replaced as a whole', async () => {
    const [d, model] = input();
    for (const n of [0, 1, 2]) {
      mkdirSync(join(d, `test_data_set_${n}`));
      writeFileSync(join(d, `test_data_set_${n}`, 'output_0.pb'), 'old');
    }
    const r = await runMain(['golden', 'make', model, '-o', d, '--calib-sequences=2', '--calib-length=4']);
    expect(r.code, r.stderr).toBe(0);
    expect(readdirSync(d).sort()).toEqual(['model.onnx', 'model.onnx.data', 'test_data_set_0', 'test_data_set_1']);
    expect(readdirSync(join(d, 'test_data_set_0')).length).toBeGreaterThan(1);
  });
});
