import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { renderHtmlReport } from '../../src/report/render-html.js';
import { summarizeReport, writeReport } from '../../src/report/write.js';
import { tempDir } from '../helpers/paths.js';
import { sampleReport } from './fixture-report.js';

const count = (html: string, re: RegExp) => (html.match(re) ?? []).length;

describe('HTML report', () => {
  it('has one bar per layer, one heatmap cell per defined M_ij, one outline per group', () => {
    const r = sampleReport();
    const html = renderHtmlReport(r);
    expect(count(html, /class="score-bar"/g)).toBe(10);
    expect(count(html, /data-removed="true"/g)).toBe(5);
    const defined = r.ffnFuse!.matrix!.values.flat().filter((v) => v !== null).length;
    expect(count(html, /class="heatmap-cell"/g)).toBe(defined);
    expect(count(html, /class="group-outline"/g)).toBe(1);
    expect(html).toContain('data-group="2-4"');
    expect(html).toContain('id="latency"');
    expect(html).toContain('id="timings"');
  });

  it('is self-contained: no network, no scripts, no external styles', () => {
    const html = renderHtmlReport(sampleReport());
    expect(html).not.toMatch(/https?:\/\//);
    expect(html).not.toMatch(/<script|<link|@import|url\(http/i);
  });

  it('escapes text from paths and pipelines', () => {
    const r = sampleReport();
    r.pipeline = 'x<script>alert(1)</script>';
    const html = renderHtmlReport(r);
    expect(html).not.toContain('<script>alert');
    expect(html).toContain('x&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(html).toContain('models/&lt;in&gt;.onnx');
  });

  it('says what did not run instead of drawing empty charts', () => {
    const r = sampleReport();
    delete r.attnPrune;
    delete r.ffnFuse;
    const html = renderHtmlReport(r);
    expect(html).toContain('attn-prune did not run');
    expect(html).toContain('ffn-fuse did not run');
    expect(html).toContain('Verification did not run');
  });

  it('writes .html or .json by extension, and the JSON carries the versioned schema', () => {
    const dir = tempDir();
    writeReport(join(dir, 'r.json'), sampleReport());
    const j = JSON.parse(readFileSync(join(dir, 'r.json'), 'utf8'));
    expect([j.schema, j.version]).toEqual(['onnx-opt.report', 1]);
    writeReport(join(dir, 'r.html'), sampleReport());
    expect(readFileSync(join(dir, 'r.html'), 'utf8')).toMatch(/^<!doctype html>/);
    expect(() => writeReport(join(dir, 'r.txt'), sampleReport())).toThrow(/\.html or \.json/);
  });

  it('summarizes in plain words', () => {
    const lines = summarizeReport(sampleReport(), 'out/report.html');
    expect(lines[0]).toBe('attention removed in layers 3, 4, 5, 7, 8 (scores 1.0e-8, 1.0e-8, 1.0e-8, 1.0e-8, 1.0e-8)');
    expect(lines[1]).toBe('FFN groups fused: 2–4 (dependency matrix: 6 model evaluations)');
    expect(lines[2]).toBe('parameters 402.8 K → 340.8 K, sequential depth 20 → 13 (FFN steps 10 → 8)');
    expect(lines[3]).toBe('report: out/report.html');
  });
});
