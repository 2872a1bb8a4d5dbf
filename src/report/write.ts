import { mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, extname, join } from 'node:path';
import { OnnxOptError } from '../errors.js';
import { formatCount } from '../ir/summary.js';
import { renderHtmlReport } from './render-html.js';
import type { OptimizationReport } from './schema.js';

/** Writes the report as HTML (`.html`/`.htm`) or JSON (`.json`), atomically. */
export function writeReport(path: string, report: OptimizationReport): void {
  writeReportFile(path, report, renderHtmlReport);
}

/** Writes a report document as HTML (rendered by `html`) or JSON, by the path's extension, atomically. */
export function writeReportFile<T>(path: string, doc: T, html: (doc: T) => string): void {
  const ext = extname(path).toLowerCase();
  let text: string;
  if (ext === '.html' || ext === '.htm') text = html(doc);
  else if (ext === '.json') text = JSON.stringify(doc, null, 2) + '\n';
  else throw new OnnxOptError('USAGE', 'the report path must end in .html or .json', { file: path });
  mkdirSync(dirname(path), { recursive: true });
  const temp = join(dirname(path), `.${basename(path)}.${process.pid}.tmp`);
  try {
    writeFileSync(temp, text);
    renameSync(temp, path);
  } catch (e) {
    rmSync(temp, { force: true });
    throw new OnnxOptError('IO', `cannot write the report: ${(e as Error).message}`, { file: path, cause: e });
  }
}

/** A few plain-words lines: what was removed and fused, what it bought, what it cost. */
export function summarizeReport(r: OptimizationReport, reportPath?: string): string[] {
  const lines: string[] = [];
  const a = r.attnPrune;
  if (a) {
    const scores = a.removed.map((l) => a.scores.find((s) => s.layer === l)?.score).filter((s): s is number => s !== undefined && Number.isFinite(s));
    lines.push(
      a.removed.length
        ? `attention removed in layers ${a.removed.join(', ')}${scores.length ? ` (scores ${scores.map((s) => s.toPrecision(2)).join(', ')})` : ''}`
        : 'no attention sublayer removed',
    );
  }
  const f = r.ffnFuse;
  if (f) lines.push(f.groups.length ? `FFN groups fused: ${f.groups.map(([x, y]) => `${x}–${y}`).join(', ')} (dependency matrix: ${f.evaluations} model evaluations)` : 'no FFN group fused');
  lines.push(`parameters ${formatCount(r.before.parameters)} → ${formatCount(r.after.parameters)}, sequential depth ${r.before.depth} → ${r.after.depth} (FFN steps ${r.before.ffnSteps} → ${r.after.ffnSteps})`);
  const l = r.verify?.logits[0];
  if (r.verify) {
    lines.push(
      l
        ? `verification: KL ${l.klMean.toPrecision(3)}, top-1 ${(l.top1 * 100).toFixed(1)}%${l.perplexityRatio !== undefined ? `, perplexity ×${l.perplexityRatio.toFixed(3)}` : ''} — ${r.verify.passed ? 'passed' : 'FAILED'}`
        : `verification: ${r.verify.passed ? 'passed' : 'FAILED'}`,
    );
  }
  for (const x of r.latency ?? []) {
    lines.push(`latency ${x.label}: ${x.beforeMs.toFixed(1)} ms → ${x.afterMs.toFixed(1)} ms${x.afterMs > 0 ? ` (${(x.beforeMs / x.afterMs).toFixed(2)}×)` : ''}`);
  }
  if (reportPath) lines.push(`report: ${reportPath}`);
  return lines;
}
