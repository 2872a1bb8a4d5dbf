import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { saveModel } from '../../src/io/write-model.js';
import { loadModel } from '../../src/io/read-model.js';
import { Tensor } from '../../src/ir/tensor.js';
import { REPO, runCli } from '../helpers/cli.js';
import { MODELS, TINYLLAMA, tempDir } from '../helpers/paths.js';

const HELDOUT = join(MODELS, 'heldout.txt');

/** The real model with one layer's down projection scaled: a small, real numerical change. */
function perturbed(dir: string): string {
  const m = loadModel(TINYLLAMA);
  const v = [...m.graph.initializers.values()].find((x) => x.initializer!.dims.join() === '256,96')!;
  const w = v.initializer!.toArray() as Float32Array;
  for (let i = 0; i < w.length; i++) w[i] = w[i]! * 1.5;
  m.graph.setInitializer(v, Tensor.fromArray(v.name, v.initializer!.dtype, v.initializer!.dims, w));
  const p = join(dir, 'perturbed.onnx');
  saveModel(m, p);
  return p;
}

describe('onnx-opt verify', () => {
  it('passes on identical models and prints the table', () => {
    const r = runCli(['verify', TINYLLAMA, TINYLLAMA, '--calib', HELDOUT, '--calib-sequences', '2', '--calib-length', '32', '--max-kl', '0']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/KL\(original‖optimized\) mean\s+0\n/);
    expect(r.stdout).toMatch(/top-1 agreement\s+100\.00%/);
  });

  it('exits 1 when a threshold is breached', () => {
    const dir = tempDir();
    const p = perturbed(dir);
    const r = runCli(['verify', TINYLLAMA, p, '--calib', HELDOUT, '--calib-sequences', '2', '--calib-length', '32', '--max-kl', '1e-9', '--json']);
    expect(r.code).toBe(1);
    const j = JSON.parse(r.stdout);
    expect(j.passed).toBe(false);
    expect(j.logits[0].klMean).toBeGreaterThan(0);
  });

  it('--verify after optimizing still writes the output and reports failure with exit 1', () => {
    const dir = tempDir();
    const p = perturbed(dir);
    const out = join(dir, 'out.onnx');
    // The input is the perturbed model, compared with itself after dce: passes.
    expect(runCli([p, '-o', out, '--passes=dce', '--verify=max-kl=0', '--calib', HELDOUT, '--calib-sequences', '2', '--calib-length', '16']).code).toBe(0);
    const bad = runCli([p, '-o', out, '--verify=max-kl=abc']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("'max-kl=abc' is not key=number");
    expect(existsSync(out)).toBe(true);
  });

  it('--verify: a pass that changes numerics breaches, exit 1, output written', () => {
    const dir = tempDir();
    const plugin = join(dir, 'scale.mjs');
    const api = pathToFileURL(join(REPO, 'dist/index.js')).href;
    writeFileSync(
      plugin,
      `import { definePass, Tensor } from '${api}';
export default () => [definePass({ name: 'scale-lm-head', summary: 'test: scales the last MatMul weight', run(model) {
  const v = [...model.graph.initializers.values()].find((x) => x.initializer.dims.join() === '96,256');
  const w = v.initializer.toArray(); for (let i = 0; i < w.length; i++) w[i] *= 1.3;
  model.graph.setInitializer(v, Tensor.fromArray(v.name, v.initializer.dtype, v.initializer.dims, w));
  return { modified: true };
} })];`,
    );
    const out = join(dir, 'out.onnx');
    const r = runCli([TINYLLAMA, '-o', out, '--plugin', plugin, '--passes=scale-lm-head', '--verify=max-kl=1e-6', '--calib', HELDOUT, '--calib-sequences', '2', '--calib-length', '16']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/verification FAILED: .*KL/);
    expect(existsSync(out)).toBe(true);
  });
});
