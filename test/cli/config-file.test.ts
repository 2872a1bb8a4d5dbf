import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readConfigFile } from '../../src/cli/config-file.js';
import { loadModel } from '../../src/io/read-model.js';
import { analyzeDecoder } from '../../src/passes/analysis/analyze-decoder.js';
import { runCli } from '../helpers/cli.js';
import { MODELS, TINYLLAMA, tempDir } from '../helpers/paths.js';

function config(dir: string, c: unknown): string {
  const p = join(dir, 'pipeline.json');
  writeFileSync(p, JSON.stringify(c));
  return p;
}

describe('--config pipeline.json', () => {
  it('turns the file into the same pipeline the flags give', () => {
    const dir = tempDir();
    const args = readConfigFile(
      config(dir, {
        input: 'in.onnx',
        output: 'out/model.onnx',
        passes: ['canonicalize', { name: 'attn-prune', options: { count: 4, protect: [0, 15] } }, { name: 'ffn-fuse', options: { groups: [[4, 7]], 'keep-last': false } }],
        calibration: { path: 'calib.txt', sequences: 4, length: 32, seed: 1 },
        verify: { maxKl: 0.05, minTop1: 0.9 },
      }),
    );
    expect(args.passes).toBe('canonicalize,attn-prune{count=4,protect=[0,15]},ffn-fuse{groups=[[4,7]],keep-last=false}');
    expect(args.input).toBe(join(dir, 'in.onnx'));
    expect(args.output).toBe(join(dir, 'out/model.onnx'));
    expect(args.calib).toBe(join(dir, 'calib.txt'));
    expect(args.verify).toBe('max-kl=0.05,min-top1=0.9');
  });

  it('reports schema problems with their JSON path', () => {
    const dir = tempDir();
    const cases: [unknown, RegExp][] = [
      [{ output: 'o', passes: [] }, /\$\.input: must be a non-empty string/],
      [{ input: 'i', output: 'o', passes: 'dce' }, /\$\.passes: must be an array/],
      [{ input: 'i', output: 'o', passes: [{ name: 'dce', opts: {} }] }, /\$\.passes\[0\]\.opts: unknown key/],
      [{ input: 'i', output: 'o', passes: [], verify: { maxKL: 1 } }, /\$\.verify\.maxKL: unknown key \(allowed: maxKl, minTop1, maxAbs\)/],
      [{ input: 'i', output: 'o', passes: [], calibration: { sequences: 'many' } }, /\$\.calibration\.sequences: must be a number/],
    ];
    for (const [c, re] of cases) expect(() => readConfigFile(config(dir, c))).toThrow(re);
  });

  it('runs from the CLI', () => {
    const dir = tempDir();
    const p = config(dir, { input: TINYLLAMA, output: 'out.onnx', passes: [{ name: 'attn-prune', options: { layers: [4, 9] } }], calibration: { path: join(MODELS, 'calib.txt'), sequences: 2, length: 16 } });
    const r = runCli(['--config', p, '--quiet']);
    expect(r.code).toBe(0);
    expect(analyzeDecoder(loadModel(join(dir, 'out.onnx'))).layers.filter((l) => !l.attention).map((l) => l.index)).toEqual([4, 9]);
    const bad = runCli(['--config', config(dir, { input: 'x', output: 'y', passes: [], bogus: 1 })]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/pipeline\.json: \$\.bogus: unknown key/);
  });
});
