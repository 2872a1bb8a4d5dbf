import { formatBytes, formatCount } from '../ir/summary.js';
import type { ExploreConfig } from './explore.js';
import type { ExploreDocument } from './explore-write.js';
import { CSS, esc, num } from './render-html.js';

/**
 * The explorer's HTML page: self-contained (inline CSS and SVG, no script). Stable hooks:
 * - `#tradeoff-chart .config-point[data-pipeline][data-kl][data-speedup][data-frontier]`, one per
 *   configuration, each with a `text.point-label`; `.frontier-line` joins the frontier;
 * - `#frontier-table` (one row per frontier configuration), `#all-configs`, `#recommended`, `#cost`.
 */
export function renderExploreHtml(d: ExploreDocument): string {
  const name = d.model.split(/[\\/]/).pop() ?? d.model;
  const frontier = d.configs.filter((c) => c.frontier).sort((a, b) => a.speedup - b.speedup);
  const rec = d.recommended;
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1"><title>onnx-opt explore · ${esc(name)}</title><style>${CSS}</style></head><body><main>
<header><div><h1>onnx-opt explore<small>${esc(name)}</small></h1><div class="sub">scored on ${esc(d.scoringSource)} · evaluated on ${esc(d.heldoutSource)}</div></div><div class="meta">${esc(d.createdAt)}</div></header>
<h2>KL against predicted decode speed-up</h2><div class="card" id="tradeoff-chart">${chart(d.configs, d.maxKl)}
<div class="legend"><span><i style="background:#d1495b"></i>Pareto frontier</span><span><i style="background:#a9b1bf"></i>dominated</span>${d.maxKl !== undefined ? '<span><i class="dash"></i>max-kl</span>' : ''}<span>speed-up: roofline, bytes read per batch-1 decode step at context ${esc(d.context)}</span></div></div>
<h2>Recommended</h2><div class="card" id="recommended">${
    d.maxKl === undefined
      ? '<span class="sub">no --max-kl given</span>'
      : rec
        ? `<p>Fastest configuration with KL ≤ ${esc(num(d.maxKl))}: <code>${esc(rec.pipeline || '(none: the original model)')}</code> — KL ${esc(num(rec.kl))}, top-1 ${esc((rec.top1 * 100).toFixed(1))}%, predicted ${esc(rec.speedup.toFixed(3))}× decode.</p>`
        : `<span class="sub">no configuration within KL ${esc(num(d.maxKl))}</span>`
  }</div>
<h2>Pareto frontier</h2><div class="card">${table(frontier, 'frontier-table')}</div>
<h2>All configurations</h2><div class="card">${table(d.configs, 'all-configs')}</div>
<h2>Cost</h2><div class="card" id="cost"><p>${esc(costLine(d))}</p></div>
<footer>Report schema ${esc(d.schema)} v${esc(d.version)}.</footer>
</main></body></html>
`;
}

/** The sweep's cost in words (the CLI prints the same line). */
export function costLine(d: Pick<ExploreDocument, 'evaluations' | 'modelEquivalents' | 'scoringModelEquivalents' | 'configs'>): string {
  const e = d.evaluations;
  const times = d.scoringModelEquivalents > 0 ? ` (${(d.modelEquivalents / d.scoringModelEquivalents).toFixed(1)}× the cosine scoring run)` : '';
  return `${e.total} model evaluations (cosine scoring ${e.scoring}, dependency matrix ${e.matrix}, held-out ${e.heldout}: the baseline and ${d.configs.length} configurations), ${d.modelEquivalents.toFixed(1)} model-equivalents${times}`;
}

/** A short label for a point: what was removed and fused. */
export function shortLabel(c: ExploreConfig): string {
  if (!c.removed.length && !c.groups.length) return 'original';
  const parts = [`−attn ${c.removed.join(',')}`];
  if (c.groups.length) parts.push(`fuse ${c.groups.map((g) => `${g[0]}–${g[1]}`).join(',')}`);
  return parts.join(' · ');
}

function chart(configs: readonly ExploreConfig[], maxKl: number | undefined): string {
  const W = 760, H = 420, L = 60, R = 24, T = 20, B = 46;
  const xs = configs.map((c) => c.speedup);
  const x0 = Math.min(1, ...xs);
  const x1 = Math.max(x0 + 1e-3, ...xs) * 1.02;
  const yMax = Math.max(1e-6, ...configs.map((c) => c.kl), maxKl ?? 0) * 1.08;
  const X = (v: number) => L + ((v - x0) / (x1 - x0)) * (W - L - R);
  const Y = (v: number) => T + (1 - v / yMax) * (H - T - B);
  const ticks = (lo: number, hi: number, n: number) => Array.from({ length: n + 1 }, (_, i) => lo + ((hi - lo) * i) / n);
  const grid = [
    ...ticks(0, yMax, 5).map((v) => `<line x1="${L}" x2="${W - R}" y1="${Y(v).toFixed(1)}" y2="${Y(v).toFixed(1)}" stroke="#e7eaf0"/><text x="${L - 6}" y="${(Y(v) + 4).toFixed(1)}" text-anchor="end">${esc(num(v))}</text>`),
    ...ticks(x0, x1, 5).map((v) => `<line y1="${T}" y2="${H - B}" x1="${X(v).toFixed(1)}" x2="${X(v).toFixed(1)}" stroke="#e7eaf0"/><text y="${H - B + 16}" x="${X(v).toFixed(1)}" text-anchor="middle">${esc(v.toFixed(3))}×</text>`),
  ].join('');
  const front = configs.filter((c) => c.frontier).sort((a, b) => a.speedup - b.speedup);
  const line = front.length > 1 ? `<polyline class="frontier-line" fill="none" stroke="#d1495b" stroke-width="1.5" points="${front.map((c) => `${X(c.speedup).toFixed(1)},${Y(c.kl).toFixed(1)}`).join(' ')}"/>` : '';
  const budget = maxKl !== undefined ? `<line class="max-kl" x1="${L}" x2="${W - R}" y1="${Y(maxKl).toFixed(1)}" y2="${Y(maxKl).toFixed(1)}" stroke="#7b8494" stroke-dasharray="5 4"/>` : '';
  // Dominated points first, so frontier points and labels draw on top.
  const ordered = [...configs].sort((a, b) => Number(a.frontier) - Number(b.frontier));
  const points = ordered
    .map((c) => {
      const x = X(c.speedup).toFixed(1);
      const y = Y(c.kl).toFixed(1);
      const label = shortLabel(c);
      // Near the right edge labels go to the left; dominated points label below, so a fused variant
      // at its pruned twin's position does not print over the frontier label.
      const left = X(c.speedup) > W * 0.72;
      const anchor = left ? ' text-anchor="end"' : '';
      const dx = left ? -7 : 7;
      const dy = c.frontier ? -6 : 14;
      return `<g class="config-point" data-pipeline="${esc(c.pipeline)}" data-kl="${c.kl}" data-speedup="${c.speedup}" data-frontier="${c.frontier}"><title>${esc(c.pipeline || '(original)')}\nKL ${esc(num(c.kl))}, top-1 ${esc((c.top1 * 100).toFixed(1))}%, ${esc(c.speedup.toFixed(3))}×</title><circle cx="${x}" cy="${y}" r="${c.frontier ? 5 : 4}" fill="${c.frontier ? '#d1495b' : '#fff'}" stroke="${c.frontier ? '#d1495b' : '#a9b1bf'}" stroke-width="1.5"/><text class="point-label" x="${x}" y="${y}" dx="${dx}" dy="${dy}"${anchor} transform="rotate(-20 ${x} ${y})" style="font-size:${c.frontier ? 10.5 : 9}px;fill:${c.frontier ? '#1d2330' : '#8a93a3'}">${esc(label)}</text></g>`;
    })
    .join('');
  const axes = `<line x1="${L}" x2="${W - R}" y1="${H - B}" y2="${H - B}" stroke="#5b6475"/><line x1="${L}" x2="${L}" y1="${T}" y2="${H - B}" stroke="#5b6475"/><text class="axis-title" x="${(L + W - R) / 2}" y="${H - 8}" text-anchor="middle">predicted decode speed-up (roofline)</text><text class="axis-title" transform="rotate(-90)" x="${-(T + H - B) / 2}" y="14" text-anchor="middle">mean KL on held-out tokens (nats)</text>`;
  return `<svg viewBox="0 0 ${W} ${H}" width="100%" role="img" aria-label="KL against predicted speed-up">${grid}${axes}${budget}${line}${points}</svg>`;
}

function table(configs: readonly ExploreConfig[], id: string): string {
  const rows = configs
    .map(
      (c) =>
        `<tr${c.frontier ? ' class="frontier"' : ''}><td class="l"><code>${esc(c.pipeline || '(original)')}</code></td><td>${esc(num(c.kl))}</td><td>${esc((c.top1 * 100).toFixed(1))}%</td><td>${esc(c.speedup.toFixed(3))}×</td><td>${esc(c.prefillSpeedup.toFixed(3))}×</td><td>${esc(formatCount(c.parameters))}</td><td>${esc(formatBytes(c.kvBytesPerToken))}</td><td>${esc(c.depth)}</td></tr>`,
    )
    .join('');
  return `<table id="${id}"><tr><th class="l">pipeline</th><th>KL</th><th>top-1</th><th>decode ×</th><th>prefill ×</th><th>parameters</th><th>KV / token</th><th>depth</th></tr>${rows}</table>`;
}
