import { formatBytes, formatCount } from '../ir/summary.js';
import type { OptimizationReport } from './schema.js';

/** HTML-escapes text (paths and pipeline strings may hold `<`, `&`, quotes). */
export function esc(s: unknown): string {
  return String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

const CSS = `
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;background:#f6f7f9;color:#1d2330}
main{max-width:1040px;margin:0 auto;padding:28px 24px 60px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:16px;margin:28px 0 10px;border-bottom:1px solid #dde1e8;padding-bottom:4px}
.sub{color:#5b6475;font-size:13px}.card{background:#fff;border:1px solid #e2e6ee;border-radius:8px;padding:14px 16px}
code{font:12.5px ui-monospace,SFMono-Regular,Menlo,monospace;background:#eef1f6;padding:1px 5px;border-radius:4px}
table{border-collapse:collapse;width:100%;font-size:13px}th,td{text-align:right;padding:5px 10px;border-bottom:1px solid #edf0f4}
th:first-child,td:first-child{text-align:left}th{color:#5b6475;font-weight:600}
.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(150px,1fr));gap:10px}
.kpi{background:#fff;border:1px solid #e2e6ee;border-radius:8px;padding:10px 12px}.kpi b{display:block;font-size:20px}
.kpi span{color:#5b6475;font-size:12px}.pass{color:#17803d;font-weight:600}.fail{color:#c2291d;font-weight:600}
.legend{display:flex;gap:14px;font-size:12px;color:#5b6475;margin-top:6px}.legend i{display:inline-block;width:11px;height:11px;border-radius:2px;margin-right:4px;vertical-align:-1px}
svg text{font:11px system-ui,sans-serif;fill:#3b4454}
`;

/** A perceptual dark-to-light ramp (viridis stops) for the log-scaled heatmap. */
const VIRIDIS = ['#440154', '#482878', '#3e4989', '#31688e', '#26828e', '#1f9e89', '#35b779', '#6ece58', '#b5de2b', '#fde725'];

function ramp(t: number): string {
  const x = Math.min(1, Math.max(0, t)) * (VIRIDIS.length - 1);
  const i = Math.floor(x);
  const f = x - i;
  const a = VIRIDIS[i]!;
  const b = VIRIDIS[Math.min(i + 1, VIRIDIS.length - 1)]!;
  const mix = (k: number) => Math.round(parseInt(a.slice(k, k + 2), 16) * (1 - f) + parseInt(b.slice(k, k + 2), 16) * f);
  return `rgb(${mix(1)},${mix(3)},${mix(5)})`;
}

function summaryTable(r: OptimizationReport): string {
  const rows: [string, (f: OptimizationReport['before']) => string][] = [
    ['parameters', (f) => formatCount(f.parameters)],
    ['weights', (f) => formatBytes(f.parameterBytes)],
    ['nodes', (f) => String(f.nodes)],
    ['decoder layers', (f) => String(f.layers)],
    ['attention sublayers', (f) => String(f.attentionSublayers)],
    ['sequential FFN steps', (f) => String(f.ffnSteps)],
    ['sequential depth (attention + FFN)', (f) => String(f.depth)],
  ];
  return `<table id="summary"><tr><th></th><th>before</th><th>after</th></tr>${rows
    .map(([k, f]) => `<tr><td>${esc(k)}</td><td>${esc(f(r.before))}</td><td>${esc(f(r.after))}</td></tr>`)
    .join('')}</table>`;
}

function scoreChart(r: OptimizationReport): string {
  const a = r.attnPrune;
  if (!a) return '<p class="sub">attn-prune did not run.</p>';
  const scored = a.scores.filter((s) => Number.isFinite(s.score));
  if (!scored.length) return `<p class="sub">No scores: layers were given explicitly (removed: ${esc(a.removed.join(', ') || 'none')}).</p>`;
  const W = 980;
  const H = 220;
  const pad = { l: 56, r: 10, t: 10, b: 30 };
  const max = Math.max(...scored.map((s) => s.score)) * 1.08 || 1;
  const bw = (W - pad.l - pad.r) / a.scores.length;
  const y = (v: number) => pad.t + (H - pad.t - pad.b) * (1 - v / max);
  const ticks = [0, max / 2, max].map((v) => `<line x1="${pad.l}" x2="${W - pad.r}" y1="${y(v)}" y2="${y(v)}" stroke="#e6e9ef"/><text x="${pad.l - 6}" y="${y(v) + 4}" text-anchor="end">${v.toPrecision(2)}</text>`);
  const bars = a.scores.map((s, k) => {
    const x = pad.l + k * bw + bw * 0.15;
    const v = Number.isFinite(s.score) ? s.score : 0;
    const fill = s.removed ? '#e4572e' : s.protected ? '#b8bfcc' : '#3b7dd8';
    return `<g class="score-bar" data-layer="${s.layer}" data-removed="${s.removed}" data-protected="${s.protected}"><rect x="${x.toFixed(1)}" y="${y(v).toFixed(1)}" width="${(bw * 0.7).toFixed(1)}" height="${Math.max(3, H - pad.b - y(v)).toFixed(1)}" fill="${fill}" rx="2"><title>layer ${s.layer}: ${v.toPrecision(3)}${s.removed ? ' (removed)' : s.protected ? ' (protected)' : ''}</title></rect><text x="${(x + bw * 0.35).toFixed(1)}" y="${H - pad.b + 14}" text-anchor="middle">${s.layer}</text></g>`;
  });
  return `<svg id="attn-scores" viewBox="0 0 ${W} ${H}" width="100%" role="img" aria-label="attention scores per layer">${ticks.join('')}${bars.join('')}</svg>
<div class="legend"><span><i style="background:#e4572e"></i>removed</span><span><i style="background:#3b7dd8"></i>kept</span><span><i style="background:#b8bfcc"></i>protected</span><span>${esc(a.method === 'cosine' ? 'method cosine: score = 1 − cos(x, x + attn(x)); low = redundant' : `method ${a.method}: score = KL of the output with the sublayer removed`)}</span></div>`;
}

function heatmap(r: OptimizationReport): string {
  const f = r.ffnFuse;
  const m = f?.matrix;
  if (!f) return '<p class="sub">ffn-fuse did not run.</p>';
  if (!m || m.layers.length === 0) return `<p class="sub">No dependency matrix${f.groups.length ? ` (groups given explicitly: ${esc(JSON.stringify(f.groups))})` : ' (no candidate runs: run attn-prune first)'}.</p>`;
  const n = m.layers.length;
  const cell = Math.max(14, Math.min(44, Math.floor(520 / n)));
  const off = 44;
  const size = off + n * cell + 4;
  const values = m.values.flat().filter((v): v is number => v !== null && v > 0);
  const lo = Math.log10(Math.max(1e-7, Math.min(...values, 1)));
  const hi = Math.log10(Math.max(...values, 1e-6));
  const span = hi - lo || 1;
  const t = (v: number) => (Math.log10(Math.max(v, 10 ** lo)) - lo) / span;
  const cells: string[] = [];
  m.values.forEach((row, i) =>
    row.forEach((v, j) => {
      if (v === null) return;
      cells.push(`<rect class="heatmap-cell" data-i="${m.layers[i]}" data-j="${m.layers[j]}" data-value="${v}" x="${off + j * cell}" y="${off + i * cell}" width="${cell - 1}" height="${cell - 1}" fill="${ramp(t(v))}"><title>M[${m.layers[i]}][${m.layers[j]}] = ${v.toExponential(2)}</title></rect>`);
    }),
  );
  const labels = m.layers
    .map((l, k) => `<text x="${off - 6}" y="${off + k * cell + cell / 2 + 4}" text-anchor="end">${l}</text><text x="${off + k * cell + cell / 2}" y="${off - 8}" text-anchor="middle">${l}</text>`)
    .join('');
  const outlines = f.groups
    .map(([a, b]) => {
      const i0 = m.layers.indexOf(a!);
      const i1 = m.layers.indexOf(b!);
      if (i0 < 0 || i1 < 0) return '';
      return `<rect class="group-outline" data-group="${a}-${b}" x="${off + i0 * cell - 2}" y="${off + i0 * cell - 2}" width="${(i1 - i0 + 1) * cell + 3}" height="${(i1 - i0 + 1) * cell + 3}" fill="none" stroke="#e4572e" stroke-width="2.5" rx="3"/>`;
    })
    .join('');
  const legendW = 220;
  const stops = Array.from({ length: 11 }, (_, k) => `<stop offset="${k * 10}%" stop-color="${ramp(k / 10)}"/>`).join('');
  const tickVals = [lo, (lo + hi) / 2, hi];
  const legend = `<svg viewBox="0 0 ${legendW + 60} 44" width="${legendW + 60}" height="44"><defs><linearGradient id="lg">${stops}</linearGradient></defs><rect x="30" y="6" width="${legendW}" height="12" fill="url(#lg)" rx="2"/>${tickVals
    .map((e, k) => `<text x="${30 + (legendW * k) / 2}" y="34" text-anchor="middle">${(10 ** e).toExponential(0)}</text>`)
    .join('')}</svg>`;
  return `<div style="display:flex;gap:24px;align-items:flex-start;flex-wrap:wrap"><svg id="dependency-heatmap" viewBox="0 0 ${size} ${size}" width="${Math.min(size, 560)}" role="img" aria-label="FFN dependency matrix">${labels}${cells.join('')}${outlines}<text x="4" y="14">i \\ j</text></svg>
<div class="sub" style="max-width:360px"><p>M<sub>ij</sub> = cosine distance between FFN j's output with and without FFN i (log colour scale). Dark cells: j barely depends on i. Outlined blocks are the fused groups.</p>${legend}<p>${esc(f.evaluations)} model evaluations; ${esc(f.candidateRuns.length)} candidate runs; threshold ${esc(f.threshold)}; mode ${esc(f.mode)}.</p></div></div>`;
}

function verifyTable(r: OptimizationReport): string {
  const v = r.verify;
  if (!v) return '<p class="sub">Verification did not run (use --verify).</p>';
  const l = v.logits[0];
  const rows: [string, string][] = [];
  if (l) {
    rows.push(['KL(original‖optimized) mean', l.klMean.toPrecision(4)], ['KL p95', l.klP95.toPrecision(4)], ['KL max', l.klMax.toPrecision(4)], ['top-1 agreement', `${(l.top1 * 100).toFixed(2)}%`]);
    if (l.perplexityA !== undefined && l.perplexityB !== undefined) rows.push(['perplexity original', l.perplexityA.toFixed(3)], ['perplexity optimized', l.perplexityB.toFixed(3)], ['perplexity ratio', (l.perplexityB / l.perplexityA).toFixed(4)]);
  }
  for (const o of v.outputs.slice(0, 4)) rows.push([`${o.name}: max abs / max rel / cosine`, `${o.maxAbs?.toPrecision(3)} / ${o.maxRel?.toPrecision(3)} / ${o.cosine?.toFixed(6)}`]);
  return `<table id="verification"><tr><th>metric</th><th>value</th></tr>${rows.map(([k, x]) => `<tr><td>${esc(k)}</td><td>${esc(x)}</td></tr>`).join('')}</table><p class="${v.passed ? 'pass' : 'fail'}">${v.passed ? 'PASSED' : `FAILED: ${esc(v.breaches.map((b) => b.message).join('; '))}`}</p>`;
}

function timings(r: OptimizationReport): string {
  return `<table id="timings"><tr><th>pass</th><th>ms</th><th>changed</th><th>statistics</th></tr>${r.passes
    .map((p) => `<tr><td><code>${esc(p.pass)}</code></td><td>${p.ms.toFixed(1)}</td><td>${p.modified ? 'yes' : 'no'}</td><td style="text-align:left">${esc(Object.entries(p.stats).map(([k, v]) => `${k}: ${v}`).join(', '))}</td></tr>`)
    .join('')}</table>`;
}

function latency(r: OptimizationReport): string {
  if (!r.latency?.length) return '';
  return `<h2>Latency</h2><table id="latency"><tr><th></th><th>before</th><th>after</th><th>speed-up</th></tr>${r.latency
    .map((x) => `<tr><td>${esc(x.label)}</td><td>${x.beforeMs.toFixed(1)} ms</td><td>${x.afterMs.toFixed(1)} ms</td><td>${(x.beforeMs / x.afterMs).toFixed(2)}×</td></tr>`)
    .join('')}</table>`;
}

/** A self-contained HTML report: inline CSS and SVG, no script, no network. */
export function renderHtmlReport(r: OptimizationReport): string {
  const kpi = (label: string, value: string) => `<div class="kpi"><b>${esc(value)}</b><span>${esc(label)}</span></div>`;
  const removed = r.attnPrune?.removed.length ?? 0;
  const groups = r.ffnFuse?.groups.length ?? 0;
  const kl = r.verify?.logits[0]?.klMean;
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1"><title>onnx-opt report</title><style>${CSS}</style></head><body><main>
<h1>onnx-opt report</h1>
<div class="sub"><code>${esc(r.input)}</code> → <code>${esc(r.output)}</code> · ${esc(r.createdAt)} · onnx-opt ${esc(r.tool.version)}</div>
<p>Pipeline <code id="pipeline">${esc(r.pipeline || '(empty)')}</code>${r.calibration ? ` · calibration: ${esc(r.calibration)}` : ''}</p>
<div class="grid">${kpi('attention sublayers removed', String(removed))}${kpi('FFN groups fused', String(groups))}${kpi('sequential depth', `${r.before.depth} → ${r.after.depth}`)}${kpi('parameters', `${formatCount(r.before.parameters)} → ${formatCount(r.after.parameters)}`)}${kl !== undefined ? kpi('KL (mean)', kl.toPrecision(3)) : ''}</div>
<h2>Model before and after</h2><div class="card">${summaryTable(r)}</div>
<h2>Attention scores per layer</h2><div class="card">${scoreChart(r)}</div>
<h2>FFN dependency matrix</h2><div class="card">${heatmap(r)}</div>
<h2>Verification</h2><div class="card">${verifyTable(r)}</div>
${latency(r)}
<h2>Passes</h2><div class="card">${timings(r)}</div>
<p class="sub">Methods: attention redundancy after LLM-Drop (He et al., 2024, arXiv 2406.15786); FFN dependency matrix and fusion after FFN Fusion (Bercovich et al., 2025, arXiv 2503.18908).</p>
</main></body></html>
`;
}
