import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { tempDir } from '../helpers/paths.js';

describe('onnx-opt demo (npm start)', () => {
  it('finds the planted layers, fuses the planted run, verifies, and writes the reports', () => {
    const dir = tempDir();
    const r = runCli(['demo', '--dir', dir]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('attention removed in layers 3, 4, 5, 7, 8');
    expect(r.stdout).toContain('FFN groups fused: 2–4');
    expect(r.stdout).toMatch(/sequential depth 20 → 13/);
    expect(r.stdout).toMatch(/verification: KL [\d.e-]+, top-1 \d+\.\d%.*passed/);
    const report = JSON.parse(readFileSync(join(dir, 'report.json'), 'utf8'));
    expect(report.attnPrune.removed).toEqual([3, 4, 5, 7, 8]);
    expect(report.ffnFuse.groups).toEqual([[2, 4]]);
    expect(report.calibration).toMatch(/sampled from the model/);
    expect(readFileSync(join(dir, 'report.html'), 'utf8')).toContain('class="heatmap-cell"');
  });
});
