import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { ExploreDocument } from '../../src/report/explore-write.js';
import { runCli } from '../helpers/cli.js';
import { MODELS, TINYLLAMA_KV, tempDir } from '../helpers/paths.js';

// Few short sequences keep the sweep (about 24 model evaluations) to seconds.
const DATA = ['--calib-sequences', '4', '--calib-length', '48'];
const CALIB = join(MODELS, 'calib.txt');
const HELDOUT = join(MODELS, 'heldout.txt');
const MAX_KL = 0.1;

function json<T>(r: { code: number | null; stdout: string; stderr: string }): T {
  expect(r.stderr).not.toMatch(/error/i);
  expect(r.code).toBe(0);
  return JSON.parse(r.stdout) as T;
}

describe('onnx-opt explore on the trained model', () => {
  it('gives a monotone frontier whose recommended pipeline meets the budget under onnx-opt verify', { timeout: 90_000 }, () => {
    const dir = tempDir();
    const html = join(dir, 'explore.html');
    const d = json<ExploreDocument>(runCli(['explore', TINYLLAMA_KV, '--calib', CALIB, '--heldout', HELDOUT, ...DATA, '--max-kl', String(MAX_KL), '--json', '--report', html]));

    // The sweep: 0..n/2 of the 16 attention sublayers removed, some with fused FFN runs.
    const plain = d.configs.filter((c) => !c.groups.length);
    expect(plain.map((c) => c.removed.length)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8]);
    expect(d.configs.some((c) => c.groups.length)).toBe(true);
    expect(d.configs[0]).toMatchObject({ pipeline: '', kl: 0, top1: 1, speedup: 1 });

    // Monotone: along rising speed-up, KL never falls; every other point is dominated by one on it.
    const front = d.configs.filter((c) => c.frontier).sort((a, b) => a.speedup - b.speedup);
    expect(front.length).toBeGreaterThan(2);
    for (let i = 1; i < front.length; i++) {
      expect(front[i]!.kl).toBeGreaterThan(front[i - 1]!.kl);
      expect(front[i]!.speedup).toBeGreaterThan(front[i - 1]!.speedup);
    }
    for (const c of d.configs.filter((x) => !x.frontier)) expect(front.some((f) => f.kl <= c.kl && f.speedup >= c.speedup * (1 - 1e-3))).toBe(true);
    // Removing attention removes bytes per step: more removed, faster predicted.
    for (let i = 1; i < plain.length; i++) expect(plain[i]!.speedup).toBeGreaterThan(plain[i - 1]!.speedup);

    // Cost: one cosine run, the matrix, the baseline and one run per configuration.
    expect(d.evaluations).toEqual({ scoring: 1, matrix: d.matrix!.evaluations, heldout: d.configs.length + 1, total: 1 + d.matrix!.evaluations + d.configs.length + 1 });
    // Block-wise runs re-run only what a change affects: the sweep costs less than one full run per evaluation.
    expect(d.scoringModelEquivalents).toBeGreaterThan(0);
    expect(d.modelEquivalents).toBeLessThan(d.evaluations.total * d.scoringModelEquivalents);

    const rec = d.recommended!;
    expect(rec.kl).toBeLessThanOrEqual(MAX_KL);
    expect(rec.removed.length).toBeGreaterThan(0);
    expect(d.configs.filter((c) => c.kl <= MAX_KL).every((c) => c.speedup <= rec.speedup * (1 + 1e-3))).toBe(true);

    const out = join(dir, 'optimized.onnx');
    const o = runCli([TINYLLAMA_KV, '-o', out, `--passes=${rec.pipeline}`, '-q']);
    expect(o.stderr).toBe('');
    expect(o.code).toBe(0);
    const v = json<{ passed: boolean; logits: { klMean: number; top1: number }[] }>(runCli(['verify', TINYLLAMA_KV, out, '--calib', HELDOUT, ...DATA, '--max-kl', String(MAX_KL), '--json']));
    expect(v.passed).toBe(true);
    // The same held-out tokens, so the same numbers (up to float32 differences between sessions).
    expect(v.logits[0]!.klMean).toBeCloseTo(rec.kl, 4);
    expect(v.logits[0]!.top1).toBeCloseTo(rec.top1, 2);

    const page = readFileSync(html, 'utf8');
    expect(page.match(/class="config-point"/g)).toHaveLength(d.configs.length);
    expect(page).toContain('class="frontier-line"');
  });

  it('splits the calibration sequences into scoring and held-out halves, and prints the frontier and the pipeline to paste', { timeout: 60_000 }, () => {
    const r = runCli(['explore', TINYLLAMA_KV, '--calib', CALIB, ...DATA, '--max-removed', '2', '--max-kl', '1']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('4 × 48 tokens (sequential windows), sequences 1–2');
    expect(r.stdout).toContain('sequences 3–4 (held out)');
    expect(r.stdout).toMatch(/^Pareto frontier \(\d+ of \d+ configurations/m);
    expect(r.stdout).toMatch(/^--passes='attn-prune\{layers=\[\d+,\d+\]\}[^']*'$/m);
    expect(r.stdout).toMatch(/^cost: \d+ model evaluations .*model-equivalents \([\d.]+× the cosine scoring run\)$/m);
  });

  it('refuses bad options before any work', () => {
    for (const bad of [['--max-removed', '-1'], ['--max-kl', '-0.5'], ['--report', 'x.txt']]) {
      const r = runCli(['explore', TINYLLAMA_KV, ...bad]);
      expect(r.code).not.toBe(0);
      expect(r.stderr).toMatch(new RegExp(bad[0]!.slice(2) === 'report' ? 'must end in .html or .json' : bad[0]!));
    }
  });
});
