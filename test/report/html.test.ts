import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { registerBuiltinPasses } from '../../src/passes/builtin.js';
import { passOptions } from '../../src/report/build.js';
import { esc, renderHtmlReport } from '../../src/report/render-html.js';
import { summarizeReport, writeReport } from '../../src/report/write.js';
import { tempDir } from '../helpers/paths.js';
import { largeReport, sampleReport } from './fixture-report.js';

const count = (html: string, re: RegExp) => (html.match(re) ?? []).length;

/** Every element with `class="<cls>"` as its attribute map (the renderer writes one tag per line-free string). */
function elements(html: string, cls: string): Record<string, string>[] {
  const tags = html.match(new RegExp(`<[a-z]+ class="${cls}"[^>]*>`, 'g')) ?? [];
  return tags.map((t) => Object.fromEntries([...t.matchAll(/([\w-]+)="([^"]*)"/g)].map((m) => [m[1]!, m[2]!])));
}

function luminance(fill: string): number {
  const [r, g, b] = /rgb\((\d+),(\d+),(\d+)\)/.exec(fill)!.slice(1).map(Number) as [number, number, number];
  return 0.2126 * r + 0.7152 * g + 0.0722 * b;
}

describe('HTML report', () => {
  it('draws one bar per scored layer, with the removed and protected ones marked', () => {
    const html = renderHtmlReport(sampleReport());
    const bars = elements(html, 'score-bar');
    expect(bars).toHaveLength(10);
    expect(count(html, /<rect class="bar"/g)).toBe(10);
    expect(bars.filter((b) => b['data-removed'] === 'true').map((b) => Number(b['data-layer']))).toEqual([3, 4, 5, 7, 8]);
    expect(bars.filter((b) => b['data-protected'] === 'true').map((b) => Number(b['data-layer']))).toEqual([0, 9]);
    expect(count(html, /class="removed-band"/g)).toBe(5);
    expect(html).toContain('>removed</span>');
    expect(html).toContain('>protected (never removed)</span>');
  });

  it('draws one heatmap cell per defined M_ij (i<j only), empty cells for i<j without a value, one outline per group', () => {
    const r = sampleReport();
    const html = renderHtmlReport(r);
    const m = r.ffnFuse!.matrix!;
    const cells = elements(html, 'heatmap-cell');
    const defined = m.values.flat().filter((v) => v !== null).length;
    expect(cells).toHaveLength(defined);
    for (const c of cells) expect(Number(c['data-i'])).toBeLessThan(Number(c['data-j']));
    const n = m.layers.length;
    expect(elements(html, 'heatmap-empty')).toHaveLength((n * (n - 1)) / 2 - defined);
    const outlines = elements(html, 'group-outline');
    expect(outlines.map((o) => o['data-group'])).toEqual(['2-4']);
    expect(elements(html, 'run-outline').map((o) => o['data-run'])).toEqual(['2-5', '6-8']);
  });

  it('colours the heatmap on a log scale, with a tick per decade in the legend', () => {
    const html = renderHtmlReport(sampleReport());
    const cells = elements(html, 'heatmap-cell').map((c) => ({ v: Number(c['data-value']), fill: c['fill']! }));
    const byValue = [...new Map(cells.map((c) => [c.v, c.fill]))].sort((a, b) => a[0] - b[0]);
    // Six decades 1e-6..1e-1: six distinct colours, darker for smaller values.
    expect(byValue.map(([v]) => v)).toEqual([1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1]);
    const lum = byValue.map(([, f]) => luminance(f));
    for (let k = 1; k < lum.length; k++) expect(lum[k]).toBeGreaterThan(lum[k - 1]!);
    const ticks = elements(html, 'legend-tick').map((t) => Number(t['data-exponent']));
    expect(ticks).toEqual([-6, -5, -4, -3, -2, -1]);
    expect(html).toContain('id="legend-threshold"');
  });

  it('shows the verification tables, the latency and the pass timings', () => {
    const html = renderHtmlReport(sampleReport());
    for (const label of ['KL(original‖optimized) mean', 'KL(original‖optimized) p95', 'KL(original‖optimized) max', 'top-1 agreement', 'perplexity original', 'perplexity optimized', 'perplexity ratio']) {
      expect(html).toContain(`<td>${esc(label)}</td>`);
    }
    expect(html).toContain('<td>7.17e-7</td>');
    expect(html).toContain('<td>99.80%</td>');
    expect(html).toContain('<td>×1.00001</td>');
    expect(html).toContain('≤ 0.01');
    expect(count(html, /<tr data-output=/g)).toBe(3);
    expect(html).toMatch(/id="verdict"[^>]*><span class="pill pass">PASSED/);
    expect(html).toContain('id="latency"');
    expect(html).toContain('<b>2.00×</b>');
    expect(html).toContain('id="timings"');
    expect(html).toContain('id="pass-options"');
    expect(html).toContain('<code>threshold=0.01</code>');
  });

  it('lists the breaches when verification failed', () => {
    const r = sampleReport();
    r.verify!.passed = false;
    r.verify!.breaches = [{ metric: 'maxKl', output: 'logits', value: 0.2, threshold: 0.01, message: 'logits: mean KL 0.2000 > 0.01000' }];
    const html = renderHtmlReport(r);
    expect(html).toContain('<span class="pill fail">FAILED</span>');
    expect(html).toContain('logits: mean KL 0.2000 &gt; 0.01000');
  });

  it('is self-contained: no network, no scripts, no external styles or fonts', () => {
    for (const r of [sampleReport(), largeReport()]) {
      const html = renderHtmlReport(r);
      expect(html).not.toMatch(/https?:\/\//);
      expect(html).not.toMatch(/<script|<link|<img|<iframe|@import|@font-face|url\((?!#)/i);
    }
  });

  it('escapes text from paths, pipelines, options, output names and labels', () => {
    const r = sampleReport();
    r.pipeline = 'x<script>alert(1)</script>';
    r.output = 'out/"quoted" & <b>.onnx';
    r.passOptions![0]!.options = { count: '<img src=x>' };
    r.verify!.outputs[1]!.name = '<evil>';
    r.latency![0]!.label = '<i>decode</i>';
    const html = renderHtmlReport(r);
    expect(html).not.toMatch(/<script|<img|<evil>|<i>decode/);
    expect(html).toContain('x&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(html).toContain('models/&lt;in&gt;.onnx');
    expect(html).toContain('out/&quot;quoted&quot; &amp; &lt;b&gt;.onnx');
    expect(html).toContain('&lt;evil&gt;');
  });

  it('says "not run" for sections without data instead of drawing empty charts', () => {
    const r = sampleReport();
    delete r.attnPrune;
    delete r.ffnFuse;
    delete r.verify;
    delete r.latency;
    const html = renderHtmlReport(r);
    expect(html).toContain('attn-prune not run');
    expect(html).toContain('ffn-fuse not run');
    expect(html).toContain('Verification not run');
    expect(html).not.toContain('id="latency"');
    expect(html).not.toContain('class="score-bar"');
    expect(html).not.toContain('class="heatmap-cell"');
  });

  it('renders explicit layer lists and a missing matrix without charts', () => {
    const r = sampleReport();
    r.attnPrune!.method = 'given';
    r.attnPrune!.scores = r.attnPrune!.scores.map((s) => ({ ...s, score: Number.NaN }));
    r.ffnFuse!.matrix = undefined;
    const html = renderHtmlReport(r);
    expect(html).toContain('No scores: layers were given explicitly (removed: 3, 4, 5, 7, 8)');
    expect(html).toContain('No dependency matrix (groups given explicitly: 2–4)');
  });

  it('scales to a big model: every bar and cell, thinned axis labels', () => {
    const r = largeReport(80);
    const html = renderHtmlReport(r);
    expect(elements(html, 'score-bar')).toHaveLength(80);
    expect(elements(html, 'heatmap-cell')).toHaveLength((40 * 39) / 2);
    expect(elements(html, 'group-outline')).toHaveLength(2);
    // Value labels above the bars are dropped past 24 layers.
    expect(count(html, /font-size:10px;fill:/g)).toBe(0);
    expect(count(renderHtmlReport(sampleReport()), /font-size:10px;fill:/g)).toBe(10);
  });

  it('writes .html or .json by extension, atomically, and the JSON carries the versioned schema', () => {
    const dir = tempDir();
    const json = join(dir, 'r.json');
    writeFileSync(json, 'old');
    writeReport(json, sampleReport());
    const j = JSON.parse(readFileSync(json, 'utf8'));
    expect([j.schema, j.version]).toEqual(['onnx-opt.report', 1]);
    expect(j).toEqual(JSON.parse(JSON.stringify(sampleReport())));
    expect(readFileSync(json, 'utf8')).toMatch(/^\{\n {2}"schema"/);
    writeReport(join(dir, 'sub', 'r.html'), sampleReport());
    expect(readFileSync(join(dir, 'sub', 'r.html'), 'utf8')).toMatch(/^<!doctype html>/);
    expect(() => writeReport(join(dir, 'r.txt'), sampleReport())).toThrow(/\.html or \.json/);
    expect(readdirSync(dir).sort()).toEqual(['r.json', 'sub']);
  });

  it('records each pass with the options written and the defaults it ran with', () => {
    registerBuiltinPasses();
    const opts = passOptions('attn-prune{count=5},fixed-point(cse,dce),ffn-fuse');
    expect(opts.map((o) => [o.pass, o.within])).toEqual([
      ['attn-prune', undefined],
      ['fixed-point', undefined],
      ['cse', 'fixed-point'],
      ['dce', 'fixed-point'],
      ['ffn-fuse', undefined],
    ]);
    expect(opts[0]!.options).toEqual({ count: '5' });
    expect(opts[0]!.defaults).toMatchObject({ method: '"cosine"', protect: '[0,-1]' });
    expect(opts[0]!.defaults).not.toHaveProperty('count');
    expect(opts[4]!.defaults).toMatchObject({ threshold: '0.2', 'keep-last': 'true' });
    expect(opts[1]!.defaults).toBeUndefined();
    expect(passOptions('attn-prune{')).toEqual([]);
  });

  it('summarizes in plain words', () => {
    const lines = summarizeReport(sampleReport(), 'out/report.html');
    expect(lines).toEqual([
      'attention removed in layers 3, 4, 5, 7, 8 (scores 1.0e-8, 1.0e-8, 1.0e-8, 1.0e-8, 1.0e-8)',
      'FFN groups fused: 2–4 (dependency matrix: 6 model evaluations)',
      'parameters 402.8 K → 340.8 K, sequential depth 20 → 13 (FFN steps 10 → 8)',
      'verification: KL 7.17e-7, top-1 99.8%, perplexity ×1.000 — passed',
      'latency decode 32 tokens: 62.0 ms → 31.0 ms (2.00×)',
      'report: out/report.html',
    ]);
  });
});
