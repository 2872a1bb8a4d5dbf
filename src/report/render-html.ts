import { formatBytes, formatCount } from '../ir/summary.js';
import type { ModelFacts, OptimizationReport } from './schema.js';

/**
 * The HTML report: one self-contained page (inline CSS and SVG; no script, no font, no image, no
 * network). Stable hooks for tests and tools:
 * - `#summary`, `#pipeline`, `#pass-options`, `#verification`, `#verification-outputs`, `#verdict`,
 *   `#latency`, `#timings`: tables and values;
 * - `#attn-scores .score-bar[data-layer][data-score][data-removed][data-protected]`, one `rect.bar` each;
 * - `#dependency-heatmap .heatmap-cell[data-i][data-j][data-value]` (defined M_ij, i<j),
 *   `.heatmap-empty` (i<j without a value), `.run-outline[data-run]`, `.group-outline[data-group]`;
 * - `#heatmap-legend .legend-tick[data-exponent]` (log-scale ticks, one per decade or so).
 */

/** HTML-escapes text (paths and pipeline strings may hold `<`, `&`, quotes). */
export function esc(s: unknown): string {
  return String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

const C = {
  ink: '#1d2330',
  muted: '#5b6475',
  grid: '#e7eaf0',
  kept: '#3b7dd8',
  removed: '#d1495b',
  protected: '#a9b1bf',
  outline: '#e0245e',
  run: '#7b8494',
  empty: '#f1f3f7',
};

export const CSS = `
*{box-sizing:border-box}
body{font:14px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;margin:0;background:#f5f6f8;color:${C.ink}}
main{max-width:1080px;margin:0 auto;padding:28px 28px 48px}
header{display:flex;justify-content:space-between;align-items:flex-end;gap:16px;flex-wrap:wrap;margin-bottom:14px}
h1{font-size:22px;margin:0;letter-spacing:-.01em}h1 small{font-weight:400;color:${C.muted};font-size:14px;margin-left:8px}
h2{font-size:15px;margin:26px 0 10px;text-transform:uppercase;letter-spacing:.04em;color:#39404e}
h3{font-size:13px;margin:0 0 8px;color:${C.muted};font-weight:600}
.sub{color:${C.muted};font-size:13px}.meta{color:${C.muted};font-size:12.5px;text-align:right}
.card{background:#fff;border:1px solid #e2e6ee;border-radius:10px;padding:16px 18px;box-shadow:0 1px 2px rgba(16,24,40,.04)}
code{font:12.5px/1.4 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;background:#eef1f6;padding:1px 6px;border-radius:4px;word-break:break-all}
table{border-collapse:collapse;width:100%;font-size:13px;font-variant-numeric:tabular-nums}
th,td{text-align:right;padding:6px 10px;border-bottom:1px solid #eef0f4;vertical-align:top}
tr:last-child td{border-bottom:0}
th:first-child,td:first-child{text-align:left}th{color:${C.muted};font-weight:600;font-size:12px;border-bottom:1px solid #dfe3ea}
td.l,th.l{text-align:left}td:not(.l){white-space:nowrap}td code{word-break:normal}
.kpis{display:grid;grid-template-columns:repeat(auto-fit,minmax(170px,1fr));gap:10px}
.kpi{background:#fff;border:1px solid #e2e6ee;border-radius:10px;padding:12px 14px}
.kpi b{display:block;font-size:22px;line-height:1.2;white-space:nowrap;font-variant-numeric:tabular-nums}
.kpi .label{color:${C.muted};font-size:12px;text-transform:uppercase;letter-spacing:.03em}
.kpi .note{color:${C.muted};font-size:12px;white-space:nowrap}
.down{color:#17803d}.up{color:#b4261a}
.pill{display:inline-block;border-radius:999px;padding:2px 10px;font-weight:600;font-size:12px}
.pill.pass{background:#e3f4e8;color:#17803d}.pill.fail{background:#fde8e6;color:#b4261a}
.opt{display:inline-block;margin:1px 4px 1px 0}.opt.dflt code{background:transparent;color:${C.muted};border:1px dashed #d5dae3}
.legend{display:flex;flex-wrap:wrap;gap:6px 16px;font-size:12px;color:${C.muted};margin-top:8px;align-items:center}
.legend i{display:inline-block;width:11px;height:11px;border-radius:2px;margin-right:5px;vertical-align:-1px}
.legend i.box{background:none;border:2px solid ${C.outline};border-radius:2px}.legend i.dash{background:none;border:1.5px dashed ${C.run}}
.legend i.none{background:${C.empty};border:1px solid #dfe3ea}
.split{display:flex;gap:28px;align-items:flex-start;flex-wrap:wrap}.split>div{min-width:0}
.facts{margin:10px 0 0;padding:0;list-style:none;font-size:13px}.facts li{padding:3px 0;border-bottom:1px dashed #eef0f4}.facts li b{font-weight:600}
.meter{height:6px;background:#dbe6f7;border-radius:3px;overflow:hidden;min-width:60px}.meter span{display:block;height:100%;background:${C.kept}}
svg text{font:11px system-ui,-apple-system,"Segoe UI",Roboto,Arial,sans-serif;fill:#3b4454}
svg .axis-title{fill:${C.muted};font-size:11.5px}
.nw{white-space:nowrap}
footer{margin-top:28px;color:${C.muted};font-size:12px}
`;

/** Viridis (matplotlib), 11 stops: dark = low. */
const VIRIDIS = ['#440154', '#482475', '#414487', '#355f8d', '#2a788e', '#21918c', '#22a884', '#44bf70', '#7ad151', '#bddf26', '#fde725'];

function ramp(t: number): string {
  const x = Math.min(1, Math.max(0, t)) * (VIRIDIS.length - 1);
  const i = Math.min(Math.floor(x), VIRIDIS.length - 2);
  const f = x - i;
  const a = VIRIDIS[i]!;
  const b = VIRIDIS[i + 1]!;
  const mix = (k: number) => Math.round(parseInt(a.slice(k, k + 2), 16) * (1 - f) + parseInt(b.slice(k, k + 2), 16) * f);
  return `rgb(${mix(1)},${mix(3)},${mix(5)})`;
}

/** Perceived lightness of a ramp position, to pick black or white text on a cell. */
function darkAt(t: number): boolean {
  return t < 0.62;
}

/** Numbers for people: 0, 0.0123, 12.35, 1.23e-7. */
export function num(x: number | null | undefined, digits = 3): string {
  if (x === undefined || x === null || Number.isNaN(x)) return '–';
  if (!Number.isFinite(x)) return x > 0 ? '∞' : '−∞';
  if (x === 0) return '0';
  const a = Math.abs(x);
  if (a < 1e-3 || a >= 1e6) return x.toExponential(digits - 1).replace('e+', 'e');
  return String(Number(x.toPrecision(digits)));
}

function pct(x: number, digits = 1): string {
  return `${(x * 100).toFixed(digits)}%`;
}

/** "−15.4%" (a decrease reads as good), "" when nothing changed. */
function delta(before: number, after: number): string {
  if (!before || before === after) return '';
  const d = (after - before) / before;
  return `<span class="${d < 0 ? 'down' : 'up'}">${d < 0 ? '−' : '+'}${Math.abs(d * 100).toFixed(1)}%</span>`;
}

function ranges(layers: readonly number[][]): string {
  return layers.map((g) => (g.length === 1 ? `${g[0]}` : `${g[0]}–${g[g.length - 1]}`)).join(', ');
}

/** Escaped ranges, each kept on one line. */
function rangesHtml(layers: readonly number[][]): string {
  return layers.map((g) => `<span class="nw">${esc(ranges([g]))}</span>`).join(', ');
}

function header(r: OptimizationReport): string {
  return `<header><div><h1>onnx-opt report<small>${esc(r.tool.name)} ${esc(r.tool.version)}</small></h1>
<div class="sub"><code id="input-path">${esc(r.input)}</code> → <code id="output-path">${esc(r.output)}</code></div></div>
<div class="meta">${esc(r.createdAt.replace('T', ' ').replace(/\.\d+Z$/, ' UTC'))}</div></header>`;
}

function kpis(r: OptimizationReport): string {
  const card = (label: string, value: string, note: string, id: string) =>
    `<div class="kpi" id="kpi-${id}"><span class="label">${esc(label)}</span><b>${value}</b><span class="note">${note}</span></div>`;
  const out: string[] = [];
  out.push(card('sequential depth', `${r.after.depth}`, `from ${r.before.depth} ${delta(r.before.depth, r.after.depth)}`, 'depth'));
  out.push(card('parameters', esc(formatCount(r.after.parameters)), `from ${esc(formatCount(r.before.parameters))} ${delta(r.before.parameters, r.after.parameters)}`, 'parameters'));
  if (r.attnPrune) out.push(card('attention removed', `${r.attnPrune.removed.length}`, `of ${r.attnPrune.scores.length || r.before.attentionSublayers} sublayers`, 'attention'));
  if (r.ffnFuse) out.push(card('FFN groups fused', `${r.ffnFuse.groups.length}`, r.ffnFuse.groups.length ? `layers ${esc(ranges(r.ffnFuse.groups))}` : 'none below threshold', 'groups'));
  const l = r.verify?.logits[0];
  if (l) out.push(card('KL mean', esc(num(l.klMean)), `top-1 ${pct(l.top1)}`, 'kl'));
  else if (r.verify) out.push(card('verification', r.verify.passed ? 'passed' : 'failed', `${r.verify.outputs.length} outputs compared`, 'verify'));
  const lat = r.latency?.[0];
  if (lat && lat.afterMs > 0) out.push(card('speed-up', `${(lat.beforeMs / lat.afterMs).toFixed(2)}×`, esc(lat.label), 'speedup'));
  return `<div class="kpis">${out.join('')}</div>`;
}

function summaryTable(r: OptimizationReport): string {
  const rows: [string, (f: ModelFacts) => number, (n: number) => string][] = [
    ['parameters', (f) => f.parameters, formatCount],
    ['weights', (f) => f.parameterBytes, formatBytes],
    ['nodes', (f) => f.nodes, String],
    ['decoder layers', (f) => f.layers, String],
    ['attention sublayers', (f) => f.attentionSublayers, String],
    ['sequential FFN steps', (f) => f.ffnSteps, String],
    ['sequential depth (attention + FFN)', (f) => f.depth, String],
  ];
  return `<table id="summary"><tr><th></th><th>before</th><th>after</th><th>change</th></tr>${rows
    .map(([k, get, fmt]) => `<tr><td>${esc(k)}</td><td>${esc(fmt(get(r.before)))}</td><td>${esc(fmt(get(r.after)))}</td><td>${delta(get(r.before), get(r.after)) || '<span class="sub">–</span>'}</td></tr>`)
    .join('')}</table>`;
}

function pipelineSection(r: OptimizationReport): string {
  const opts = r.passOptions ?? [];
  const chips = (o: Record<string, string>, cls: string) =>
    Object.entries(o)
      .map(([k, v]) => `<span class="opt ${cls}"><code>${esc(k)}=${esc(v)}</code></span>`)
      .join('');
  const table = opts.length
    ? `<table id="pass-options" style="margin-top:10px"><tr><th>pass</th><th class="l">options set</th><th class="l">defaults used</th></tr>${opts
        .map(
          (p) =>
            `<tr data-pass="${esc(p.pass)}"><td><code>${esc(p.pass)}</code>${p.within ? ` <span class="sub">in ${esc(p.within)}</span>` : ''}</td><td class="l">${chips(p.options, 'set') || '<span class="sub">–</span>'}</td><td class="l">${p.defaults ? chips(p.defaults, 'dflt') || '<span class="sub">–</span>' : '<span class="sub">n/a</span>'}</td></tr>`,
        )
        .join('')}</table>`
    : '';
  return `<div>Pipeline <code id="pipeline">${esc(r.pipeline || '(empty)')}</code></div>${r.calibration ? `<div class="sub" id="calibration" style="margin-top:4px">Calibration: ${esc(r.calibration)}</div>` : ''}${table}`;
}

/** Round tick step for an axis from 0 to max. */
function niceStep(max: number, count: number): number {
  const raw = max / count;
  const p = 10 ** Math.floor(Math.log10(raw));
  const m = raw / p;
  return (m <= 1 ? 1 : m <= 2 ? 2 : m <= 2.5 ? 2.5 : m <= 5 ? 5 : 10) * p;
}

function scoreChart(r: OptimizationReport): string {
  const a = r.attnPrune;
  if (!a) return '<p class="sub" id="attn-not-run">attn-prune not run.</p>';
  const finite = a.scores.filter((s) => Number.isFinite(s.score));
  if (!finite.length) return `<p class="sub">No scores: layers were given explicitly (removed: ${esc(a.removed.join(', ') || 'none')}).</p>`;
  const n = a.scores.length;
  const W = 1000;
  const H = 260;
  const pad = { l: 64, r: 12, t: 22, b: 42 };
  const top = Math.max(...finite.map((s) => s.score), 0);
  const step = niceStep(top > 0 ? top : 1, 4);
  const max = Math.max(step, Math.ceil((top * 1.04) / step) * step);
  const plotH = H - pad.t - pad.b;
  const bw = (W - pad.l - pad.r) / n;
  const y = (v: number) => pad.t + plotH * (1 - Math.max(0, v) / max);
  const ticks: string[] = [];
  for (let v = 0; v <= max + step / 2; v += step) {
    ticks.push(`<line x1="${pad.l}" x2="${W - pad.r}" y1="${y(v).toFixed(1)}" y2="${y(v).toFixed(1)}" stroke="${v === 0 ? '#c9ced8' : C.grid}"/><text x="${pad.l - 8}" y="${(y(v) + 4).toFixed(1)}" text-anchor="end">${esc(num(v))}</text>`);
  }
  const labelEvery = Math.ceil(n / 32);
  const valueLabels = n <= 24;
  const bars = a.scores.map((s, k) => {
    const x = pad.l + k * bw + bw * 0.14;
    const w = bw * 0.72;
    const cx = x + w / 2;
    const finiteScore = Number.isFinite(s.score);
    const v = finiteScore ? s.score : 0;
    const fill = s.removed ? C.removed : s.protected ? C.protected : C.kept;
    const h = Math.max(2.5, H - pad.b - y(v));
    const status = s.removed ? 'removed' : s.protected ? 'protected' : 'kept';
    const parts = [
      ...(s.removed ? [`<rect class="removed-band" x="${(pad.l + k * bw + 1).toFixed(1)}" y="${pad.t}" width="${(bw - 2).toFixed(1)}" height="${plotH}" fill="${C.removed}" fill-opacity="0.07"/>`] : []),
      `<rect class="bar" x="${x.toFixed(1)}" y="${(H - pad.b - h).toFixed(1)}" width="${w.toFixed(1)}" height="${h.toFixed(1)}" fill="${fill}" rx="2"><title>layer ${s.layer}: score ${esc(num(v, 4))} (${status})</title></rect>`,
    ];
    if (valueLabels && finiteScore) parts.push(`<text x="${cx.toFixed(1)}" y="${(H - pad.b - h - 5).toFixed(1)}" text-anchor="middle" style="font-size:10px;fill:${s.removed ? C.removed : C.muted}">${esc(num(v, 2))}</text>`);
    if (k % labelEvery === 0 || (s.removed && labelEvery === 1)) parts.push(`<text x="${cx.toFixed(1)}" y="${H - pad.b + 15}" text-anchor="middle"${s.removed ? ` style="fill:${C.removed};font-weight:600"` : ''}>${s.layer}</text>`);
    return `<g class="score-bar" data-layer="${s.layer}" data-score="${finiteScore ? s.score : ''}" data-removed="${s.removed}" data-protected="${s.protected}">${parts.join('')}</g>`;
  });
  const yTitle = a.method === 'cosine' ? 'score  1 − cos(x, x + aᵢ)' : 'score  KL(removed ‖ original)';
  const axis = `<text class="axis-title" transform="translate(14 ${pad.t + plotH / 2}) rotate(-90)" text-anchor="middle">${esc(yTitle)}</text><text class="axis-title" x="${pad.l + (W - pad.l - pad.r) / 2}" y="${H - 2}" text-anchor="middle">decoder layer</text>`;
  const explain =
    a.method === 'cosine'
      ? 'cosine redundancy (LLM-Drop): a low score means the attention sublayer barely changes the residual stream'
      : `${a.method}: KL divergence of the next-token distribution with the sublayer removed; low means redundant`;
  const facts: string[] = [
    `<li><b>Removed:</b> ${a.removed.length ? `layers ${esc(a.removed.join(', '))}` : 'none'}</li>`,
    `<li><b>KV cache per token:</b> ${esc(formatBytes(a.kvBytesPerTokenBefore))} → ${esc(formatBytes(a.kvBytesPerTokenAfter))} ${delta(a.kvBytesPerTokenBefore, a.kvBytesPerTokenAfter)}</li>`,
    `<li><b>Parameters:</b> ${esc(formatCount(a.parametersBefore))} → ${esc(formatCount(a.parametersAfter))} ${delta(a.parametersBefore, a.parametersAfter)}</li>`,
    `<li><b>Model evaluations:</b> ${esc(a.evaluations)}${a.calibration ? ` · calibration: ${esc(a.calibration)}` : ''}</li>`,
  ];
  if (a.maxKl) facts.push(`<li><b>KL limit:</b> ${esc(num(a.maxKl.limit))} (reached ${esc(num(a.maxKl.reached))})</li>`);
  return `<svg id="attn-scores" viewBox="0 0 ${W} ${H}" width="100%" role="img" aria-label="attention scores per layer">${ticks.join('')}${axis}${bars.join('')}</svg>
<div class="legend"><span><i style="background:${C.removed}"></i>removed</span><span><i style="background:${C.kept}"></i>kept</span><span><i style="background:${C.protected}"></i>protected (never removed)</span></div>
<p class="sub" style="margin:6px 0 0">Method <code>${esc(a.method)}</code>: ${esc(explain)}.</p>
<ul class="facts">${facts.join('')}</ul>`;
}

/** 10⁻³ as SVG text. */
function powerOfTen(e: number): string {
  return e === 0 ? '1' : `10<tspan dy="-5" style="font-size:8.5px">${e < 0 ? '−' : ''}${Math.abs(e)}</tspan>`;
}

function heatmap(r: OptimizationReport): string {
  const f = r.ffnFuse;
  if (!f) return '<p class="sub" id="ffn-not-run">ffn-fuse not run.</p>';
  const m = f.matrix;
  if (!m || m.layers.length === 0) {
    return `<p class="sub">No dependency matrix${f.groups.length ? ` (groups given explicitly: ${esc(ranges(f.groups))})` : ' (no candidate runs of attention-free FFNs: run attn-prune first)'}.</p>`;
  }
  const n = m.layers.length;
  const cell = Math.max(5, Math.min(46, Math.floor(460 / n)));
  const off = { l: 62, t: 58 };
  const size = { w: off.l + n * cell + 8, h: off.t + n * cell + 8 };
  const defined = m.values.flat().filter((v): v is number => typeof v === 'number' && Number.isFinite(v));
  const positive = defined.filter((v) => v > 0);
  let lo = positive.length ? Math.floor(Math.log10(Math.min(...positive))) : -6;
  let hi = positive.length ? Math.ceil(Math.log10(Math.max(...positive))) : 0;
  if (f.threshold > 0 && Number.isFinite(f.threshold)) {
    lo = Math.min(lo, Math.floor(Math.log10(f.threshold)));
    hi = Math.max(hi, Math.ceil(Math.log10(f.threshold)));
  }
  if (hi <= lo) hi = lo + 1;
  const t = (v: number) => (v > 0 ? (Math.log10(v) - lo) / (hi - lo) : 0);
  const at = (layer: number) => m.layers.indexOf(layer);
  const px = (k: number) => off.l + k * cell;
  const py = (k: number) => off.t + k * cell;
  const showValues = cell >= 40;
  // Small cells lose their white gap, which would otherwise dominate the picture.
  const gap = cell >= 14 ? 1 : 0;

  const cells: string[] = [];
  m.values.forEach((row, i) =>
    row.forEach((v, j) => {
      if (j <= i) return;
      const li = m.layers[i]!;
      const lj = m.layers[j]!;
      if (v === null || v === undefined || !Number.isFinite(v)) {
        cells.push(`<rect class="heatmap-empty" data-i="${li}" data-j="${lj}" x="${px(j) + gap / 2}" y="${py(i) + gap / 2}" width="${cell - gap}" height="${cell - gap}" fill="${C.empty}"><title>M[${li}][${lj}]: not measured (different runs)</title></rect>`);
        return;
      }
      const tv = t(v);
      cells.push(`<rect class="heatmap-cell" data-i="${li}" data-j="${lj}" data-value="${v}" x="${px(j) + gap / 2}" y="${py(i) + gap / 2}" width="${cell - gap}" height="${cell - gap}" fill="${ramp(tv)}"><title>M[${li}][${lj}] = ${esc(num(v, 3))}: FFN ${lj}'s output with vs without FFN ${li}</title></rect>`);
      if (showValues) cells.push(`<text x="${px(j) + cell / 2}" y="${py(i) + cell / 2 + 3.5}" text-anchor="middle" style="font-size:9px;fill:${darkAt(tv) ? '#fff' : '#1d2330'}" pointer-events="none">${esc(num(v, 2))}</text>`);
    }),
  );
  // The lower triangle is undefined by construction; a faint diagonal marks where it starts.
  const diag = cell < 14 ? '' : m.layers.map((_, k) => `<rect x="${px(k) + 0.5}" y="${py(k) + 0.5}" width="${cell - 1}" height="${cell - 1}" fill="none" stroke="#e2e6ee" stroke-dasharray="2 2"/>`).join('');
  const every = Math.ceil(n / 24);
  const labels = m.layers
    .map((l, k) => (k % every === 0 ? `<text x="${off.l - 6}" y="${py(k) + cell / 2 + 4}" text-anchor="end">${l}</text><text x="${px(k) + cell / 2}" y="${off.t - 7}" text-anchor="middle">${l}</text>` : ''))
    .join('');
  const axes = `<text class="axis-title" x="${off.l + (n * cell) / 2}" y="14" text-anchor="middle">j — FFN whose output is measured</text><text class="axis-title" transform="translate(14 ${off.t + (n * cell) / 2}) rotate(-90)" text-anchor="middle">i — FFN removed</text>`;
  const block = (first: number, last: number, cls: string, attrs: string, style: string, inset: number) => {
    const i0 = at(first);
    const i1 = at(last);
    if (i0 < 0 || i1 < 0) return '';
    const s = (i1 - i0 + 1) * cell;
    return `<rect class="${cls}" ${attrs} x="${px(i0) - inset}" y="${py(i0) - inset}" width="${s + 2 * inset}" height="${s + 2 * inset}" fill="none" ${style}/>`;
  };
  const runOutlines = f.candidateRuns
    .filter((run) => run.length > 1)
    .map((run) => block(run[0]!, run[run.length - 1]!, 'run-outline', `data-run="${run[0]}-${run[run.length - 1]}"`, `stroke="${C.run}" stroke-width="1.2" stroke-dasharray="4 3"`, 0.5))
    .join('');
  const groupOutlines = f.groups
    .map((g) => block(g[0]!, g[g.length - 1]!, 'group-outline', `data-group="${g[0]}-${g[g.length - 1]}"`, `stroke="${C.outline}" stroke-width="2.5" rx="2"`, 1.5))
    .join('');

  // Vertical colour bar with a tick per decade (thinned when the range is wide), like the paper's figure.
  const barH = Math.max(160, Math.min(n * cell, 300));
  const lg = { x: 8, y: 12, w: 16 };
  const stops = Array.from({ length: 21 }, (_, k) => `<stop offset="${k * 5}%" stop-color="${ramp(1 - k / 20)}"/>`).join('');
  const stride = Math.ceil((hi - lo) / 8);
  const ly = (e: number) => lg.y + barH * (1 - (e - lo) / (hi - lo));
  const ticks: string[] = [];
  for (let e = lo; e <= hi; e++) {
    if ((e - lo) % stride !== 0 && e !== hi) continue;
    ticks.push(`<g class="legend-tick" data-exponent="${e}"><line x1="${lg.x + lg.w}" x2="${lg.x + lg.w + 4}" y1="${ly(e)}" y2="${ly(e)}" stroke="#3b4454"/><text x="${lg.x + lg.w + 7}" y="${ly(e) + 4}">${powerOfTen(e)}</text></g>`);
  }
  let thr = '';
  if (f.threshold > 0 && Number.isFinite(f.threshold)) {
    const yy = ly(Math.log10(f.threshold));
    thr = `<g id="legend-threshold"><line x1="${lg.x - 4}" x2="${lg.x + lg.w + 4}" y1="${yy}" y2="${yy}" stroke="${C.outline}" stroke-width="2"/><text x="${lg.x + lg.w + 40}" y="${yy + 4}" style="fill:${C.outline}">threshold ${esc(num(f.threshold))}</text></g>`;
  }
  const legend = `<svg id="heatmap-legend" viewBox="0 0 150 ${barH + 40}" width="150" height="${barH + 40}" role="img" aria-label="colour scale, logarithmic"><defs><linearGradient id="heat-ramp" x1="0" y1="0" x2="0" y2="1">${stops}</linearGradient></defs><rect x="${lg.x}" y="${lg.y}" width="${lg.w}" height="${barH}" fill="url(#heat-ramp)" stroke="#c9ced8" stroke-width=".5"/>${ticks.join('')}${thr}<text class="axis-title" x="${lg.x}" y="${barH + 34}">M<tspan dy="3" style="font-size:8.5px">ij</tspan><tspan dy="-3"> (log scale)</tspan></text></svg>`;

  const facts = [
    `<li><b>Candidate runs</b> (consecutive attention-free FFNs): ${f.candidateRuns.length ? rangesHtml(f.candidateRuns) : 'none'}</li>`,
    `<li><b>Fused groups:</b> ${f.groups.length ? rangesHtml(f.groups) : 'none'}</li>`,
    `<li><b>Sequential FFN steps:</b> ${esc(f.ffnStepsBefore)} → ${esc(f.ffnStepsAfter)} · <b>depth</b> ${esc(f.depthBefore)} → ${esc(f.depthAfter)}</li>`,
    `<li><b>Mode:</b> ${esc(f.mode)} · <b>threshold:</b> ${esc(num(f.threshold))} · <b>model evaluations:</b> ${esc(f.evaluations)}</li>`,
  ];
  if (f.maxKl) facts.push(`<li><b>KL limit:</b> ${esc(num(f.maxKl.limit))} (reached ${esc(num(f.maxKl.reached))})</li>`);
  const heat = `<svg id="dependency-heatmap" viewBox="0 0 ${size.w} ${size.h}" width="${size.w}" style="max-width:100%" role="img" aria-label="FFN dependency matrix, log colour scale">${axes}${labels}${diag}${cells.join('')}${runOutlines}${groupOutlines}</svg>`;
  return `<div class="split"><div>${heat}</div><div>${legend}</div><div style="flex:1;min-width:260px">
<p class="sub" style="margin-top:0">M<sub>ij</sub> = cosine distance between FFN j's contribution to the residual with and without FFN i (i&lt;j). Dark: j barely depends on i, so the two can run in parallel on the same input. Solid outlines are the fused groups; dashed ones the candidate runs.</p>
<div class="legend"><span><i class="box"></i>fused group</span><span><i class="dash"></i>candidate run</span><span><i class="none"></i>not measured</span></div>
<ul class="facts">${facts.join('')}</ul></div></div>`;
}

function verifyTables(r: OptimizationReport): string {
  const v = r.verify;
  if (!v) return '<p class="sub" id="verify-not-run">Verification not run (use <code>--verify</code>).</p>';
  const [la, lb] = v.labels;
  const th = v.thresholds;
  const l = v.logits[0];
  const rows: [string, string, string][] = [];
  if (l) {
    rows.push(
      [`KL(${la}‖${lb}) mean`, num(l.klMean), th.maxKl !== undefined ? `≤ ${num(th.maxKl)}` : ''],
      [`KL(${la}‖${lb}) p95`, num(l.klP95), ''],
      [`KL(${la}‖${lb}) max`, num(l.klMax), ''],
      ['top-1 agreement', pct(l.top1, 2), th.minTop1 !== undefined ? `≥ ${pct(th.minTop1, 1)}` : ''],
    );
    if (l.perplexityA !== undefined && l.perplexityB !== undefined) {
      const ratio = l.perplexityRatio ?? l.perplexityB / l.perplexityA;
      rows.push([`perplexity ${la}`, num(l.perplexityA, 6), ''], [`perplexity ${lb}`, num(l.perplexityB, 6), ''], ['perplexity ratio', `×${ratio.toPrecision(6)}`, '']);
    }
    rows.push(['positions compared', String(l.positions), '']);
  }
  const hasLimits = rows.some((x) => x[2]);
  const logitsTable = rows.length
    ? `<div style="flex:1;min-width:300px"><h3>Next-token distribution${l ? ` (<code>${esc(l.output)}</code>)` : ''}</h3><table id="verification"><tr><th>metric</th><th>value</th>${hasLimits ? '<th>limit</th>' : ''}</tr>${rows
        .map(([k, x, lim]) => `<tr><td>${esc(k)}</td><td>${esc(x)}</td>${hasLimits ? `<td class="sub">${esc(lim)}</td>` : ''}</tr>`)
        .join('')}</table></div>`
    : '<div><p class="sub">No logits output: only elementwise errors were compared.</p></div>';
  // Logits first, then the worst outputs by max abs error; the rest are folded into one line.
  const sorted = [...v.outputs].sort((a, b) => Number(/logits/i.test(b.name)) - Number(/logits/i.test(a.name)) || (b.maxAbs ?? 0) - (a.maxAbs ?? 0));
  const shown = sorted.slice(0, 6);
  const rest = sorted.slice(6);
  const outRows = shown.map((o) =>
    o.shapeMismatch
      ? `<tr><td><code>${esc(o.name)}</code></td><td colspan="3" class="fail">shapes differ: ${esc(o.shapeMismatch)}</td></tr>`
      : `<tr data-output="${esc(o.name)}"><td><code>${esc(o.name)}</code></td><td>${esc(num(o.maxAbs))}</td><td>${esc(num(o.maxRel))}</td><td>${esc(o.cosine.toFixed(6))}</td></tr>`,
  );
  if (rest.length) {
    const ok = rest.filter((o) => !o.shapeMismatch);
    const worstAbs = Math.max(0, ...ok.map((o) => o.maxAbs));
    const worstRel = Math.max(0, ...ok.map((o) => o.maxRel));
    const minCos = Math.min(1, ...ok.map((o) => o.cosine));
    outRows.push(`<tr class="sub"><td>${rest.length} more outputs (worst)</td><td>${esc(num(worstAbs))}</td><td>${esc(num(worstRel))}</td><td>${esc(minCos.toFixed(6))}</td></tr>`);
  }
  const outputsTable = `<div style="flex:1.2;min-width:340px"><h3>Per output (elementwise)</h3><table id="verification-outputs"><tr><th>output</th><th>max abs</th><th>max rel</th><th>cosine</th></tr>${outRows.join('')}</table></div>`;
  const verdict = `<p id="verdict" style="margin:14px 0 0"><span class="pill ${v.passed ? 'pass' : 'fail'}">${v.passed ? 'PASSED' : 'FAILED'}</span> <span class="sub">${esc(la)} vs ${esc(lb)}, ${esc(v.runs)} run${v.runs === 1 ? '' : 's'}${v.source ? ` · inputs: ${esc(v.source.description)}` : ''}${v.passed ? '' : `: ${esc(v.breaches.map((b) => b.message).join('; '))}`}</span></p>`;
  const only = [...(v.onlyInA.length ? [`only in ${esc(la)}: ${esc(v.onlyInA.join(', '))}`] : []), ...(v.onlyInB.length ? [`only in ${esc(lb)}: ${esc(v.onlyInB.join(', '))}`] : [])];
  return `<div class="split">${logitsTable}${outputsTable}</div>${only.length ? `<p class="sub">Not compared: ${only.join('; ')}</p>` : ''}${verdict}`;
}

/** block-parallel: the windows run in parallel with their scores, how each attention was kept, the KV cache change and the depth. */
function blockParallelSection(r: OptimizationReport): string {
  const b = r.blockParallel;
  if (!b) return '';
  const span = (w: readonly number[]) => `${w[0]}–${w[1]}`;
  const rows = b.windows.map(
    (w) =>
      `<tr data-window="${w.window[0]}-${w.window[1]}"><td>${esc(span(w.window))}</td><td>${esc(num(w.mMax))}</td><td>${esc(num(w.mSum))}</td><td class="l">${w.heads !== undefined ? `one attention, ${esc(w.heads)} heads (${esc(w.kvHeads ?? w.heads)} KV)` : 'attentions side by side'}</td><td>${w.ffnFused ? 'fused' : '<span class="sub">side by side</span>'}</td></tr>`,
  );
  const chosen = new Set(b.windows.map((w) => span(w.window)));
  const others = b.scores.filter((s) => !chosen.has(span(s.window)));
  const c = b.cache;
  const facts = [
    `<li><b>Depth:</b> ${esc(b.depthBefore)} → ${esc(b.depthAfter)} · <b>parameters</b> ${esc(b.parametersBefore.toLocaleString('en-US'))} → ${esc(b.parametersAfter.toLocaleString('en-US'))}</li>`,
    `<li><b>merge-heads:</b> ${b.mergeHeads ? 'yes' : 'no'} · <b>model evaluations:</b> ${esc(b.evaluations)}${b.matrix ? ` · <b>block dependency matrix</b> over layers ${esc(ranges([b.matrix.layers]))}` : ' · explicit windows (not scored)'}</li>`,
  ];
  if (c.removedInputs.length || c.removedOutputs.length || c.resized.length) {
    facts.push(`<li id="block-parallel-cache"><b>KV cache:</b> removed inputs <code>${esc(c.removedInputs.join(', ') || '–')}</code>, removed outputs <code>${esc(c.removedOutputs.join(', ') || '–')}</code>; widened ${c.resized.map((x) => `<code>${esc(x.name)}</code> [${esc(x.dims.map((d) => d ?? '?').join(', '))}]`).join(', ') || '–'}</li>`);
  }
  if (others.length) facts.push(`<li><b>Other candidate windows</b> (M_max / M_sum): ${others.map((s) => `<span class="nw">${esc(span(s.window))}: ${esc(num(s.mMax))} / ${esc(num(s.mSum))}</span>`).join(', ')}</li>`);
  const table = rows.length
    ? `<table id="block-parallel-windows"><tr><th>layers</th><th>M_max</th><th>M_sum</th><th class="l">attention</th><th>FFNs</th></tr>${rows.join('')}</table>`
    : '<p class="sub">No window parallelized.</p>';
  return `<h2>Parallel blocks</h2><div class="card" id="block-parallel-section"><p class="sub" style="margin-top:0">Each window's blocks read the window's input: x' = x + Σ Attn(N(x)), x'' = x' + Σ FFN(N(x')). M_max and M_sum are the largest and summed block dependencies M_ij inside the window (lower: more independent).</p>${table}<ul class="facts">${facts.join('')}</ul></div>`;
}

/** What healing bought: held-out KL before and after, per segment, with the reason for each decision. */
function healSection(r: OptimizationReport): string {
  if (!r.heal?.runs.length) return '';
  const runs = r.heal.runs.map((h) => {
    const where = (s: (typeof h.segments)[number]) => `${s.kind === 'fused-ffn' ? 'fused FFN' : s.part === 'ffn' ? 'FFN' : 'attention'} ${s.layers[0] === s.layers[1] ? s.layers[0] : `${s.layers[0]}–${s.layers[1]}`}${s.removedAttention.length ? ` (before removed attention ${s.removedAttention.join(', ')})` : ''}`;
    const rows = h.segments.map((s) => `<tr><td>${esc(where(s))}</td><td><code>${esc(s.projection ?? '–')}</code></td><td>${esc(num(s.klBefore))}</td><td>${esc(num(s.klAfter))}</td><td>${s.applied ? 'yes' : '<span class="sub">no</span>'}</td><td class="l">${esc(s.reason)}</td></tr>`);
    const head = `<p class="sub" style="margin-top:0"><b>${esc(h.by)}</b>, λ ${esc(num(h.lambda))}: held-out KL ${esc(num(h.klBefore))} → <b>${esc(num(h.klAfter))}</b>${h.fitOn ? ` · fitted on ${esc(h.fitOn)} · checked on ${esc(h.checkedOn)}${h.weakCheck ? ' (no --heldout: a weaker check)' : ''}` : ''}${h.skipped ? ` · skipped: ${esc(h.skipped)}` : ''}</p>`;
    return `${head}${rows.length ? `<table class="heal"><tr><th>segment</th><th>weight refitted</th><th>KL before</th><th>KL after</th><th>applied</th><th class="l">why</th></tr>${rows.join('')}</table>` : '<p class="sub">Nothing to heal.</p>'}`;
  });
  return `<h2>Healing</h2><div class="card" id="heal-section">${runs.join('')}</div>`;
}

function latency(r: OptimizationReport): string {
  if (!r.latency?.length) return '';
  const max = Math.max(...r.latency.flatMap((x) => [x.beforeMs, x.afterMs]), 1e-9);
  const bar = (ms: number, colour: string) => `<div class="meter" style="background:#eef1f6"><span style="width:${((100 * ms) / max).toFixed(1)}%;background:${colour}"></span></div>`;
  return `<h2>Latency</h2><div class="card"><table id="latency"><tr><th>measured</th><th>before</th><th>after</th><th class="l" style="width:30%"></th><th>speed-up</th></tr>${r.latency
    .map(
      (x) =>
        `<tr><td>${esc(x.label)}</td><td>${esc(x.beforeMs.toFixed(2))} ms</td><td>${esc(x.afterMs.toFixed(2))} ms</td><td class="l">${bar(x.beforeMs, C.protected)}<div style="height:3px"></div>${bar(x.afterMs, C.kept)}</td><td><b>${x.afterMs > 0 ? `${(x.beforeMs / x.afterMs).toFixed(2)}×` : '–'}</b></td></tr>`,
    )
    .join('')}</table></div>`;
}

function timings(r: OptimizationReport): string {
  if (!r.passes.length) return '<p class="sub">No pass ran.</p>';
  const total = r.passes.reduce((s, p) => s + p.ms, 0) || 1;
  return `<table id="timings"><tr><th>pass</th><th>time</th><th class="l" style="width:18%"></th><th>changed</th><th class="l">statistics</th></tr>${r.passes
    .map(
      (p) =>
        `<tr><td><code>${esc(p.pass)}</code></td><td>${esc(p.ms >= 1000 ? `${(p.ms / 1000).toFixed(2)} s` : `${p.ms.toFixed(1)} ms`)}</td><td class="l"><div class="meter" style="margin-top:7px"><span style="width:${((100 * p.ms) / total).toFixed(1)}%"></span></div></td><td>${p.modified ? 'yes' : '<span class="sub">no</span>'}</td><td class="l">${esc(Object.entries(p.stats).map(([k, v]) => `${k}: ${v}`).join(' · '))}</td></tr>`,
    )
    .join('')}<tr><td class="sub">total</td><td class="sub">${esc(total >= 1000 ? `${(total / 1000).toFixed(2)} s` : `${total.toFixed(1)} ms`)}</td><td colspan="3"></td></tr></table>`;
}

/** A self-contained HTML report: inline CSS and SVG, no script, no network. */
export function renderHtmlReport(r: OptimizationReport): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1"><title>onnx-opt report · ${esc(r.input.split(/[\\/]/).pop() ?? r.input)}</title><style>${CSS}</style></head><body><main>
${header(r)}
${kpis(r)}
<h2>Pipeline</h2><div class="card">${pipelineSection(r)}</div>
<h2>Model before and after</h2><div class="card">${summaryTable(r)}</div>
<h2>Attention scores per layer</h2><div class="card" id="attn-section">${scoreChart(r)}</div>
<h2>FFN dependency matrix</h2><div class="card" id="ffn-section">${heatmap(r)}</div>
${blockParallelSection(r)}
${healSection(r)}
<h2>Verification</h2><div class="card" id="verify-section">${verifyTables(r)}</div>
${latency(r)}
<h2>Passes</h2><div class="card">${timings(r)}</div>
<footer>Methods: attention redundancy after LLM-Drop (He et al., 2024, arXiv 2406.15786); FFN dependency matrix and fusion after FFN Fusion (Bercovich et al., 2025, arXiv 2503.18908). Report schema ${esc(r.schema)} v${esc(r.version)}.</footer>
</main></body></html>
`;
}
