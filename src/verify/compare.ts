/**
 * Runs a reference model and a candidate (e.g. the optimized one) on the same inputs and measures
 * how far the candidate's outputs drift (DESIGN.md §5).
 */
import type * as ort from 'onnxruntime-node';
import { OnnxOptError } from '../errors.js';
import type { Model } from '../ir/model.js';
import type { CalibrationData, CalibrationSourceInfo } from '../runtime/calibration/types.js';
import { tokenBatches } from '../runtime/calibration/batches.js';
import { decoderSignature, sequenceFeeds, type FeedOptions } from '../runtime/decoder-inputs.js';
import { ModelSession, type SessionOptions } from '../runtime/session.js';
import { DiffAccumulator, LogitsAccumulator, toFloat64, type DiffMetrics, type LogitsMetrics } from './metrics.js';

/** Pass/fail limits; each one left out is not checked. */
export interface Thresholds {
  /** Largest allowed mean KL(a ‖ b) of the next-token distributions (nats per position). */
  maxKl?: number;
  /** Smallest allowed top-1 agreement (0..1). */
  minTop1?: number;
  /** Largest allowed max |a − b|, checked on every compared output. */
  maxAbs?: number;
}

/** Inputs to compare on: feed records, token sequences, or calibration data. */
export type CompareInputs = readonly Record<string, ort.Tensor>[] | readonly (readonly number[])[] | CalibrationData;

export interface CompareOptions extends SessionOptions, FeedOptions {
  thresholds?: Thresholds;
  /** Token sequences per run (default 8); runs go one after another. */
  batchSize?: number;
  /** Compare only these outputs (default: every output both models have). */
  outputs?: readonly string[];
  /** Outputs whose last dimension is this are treated as logits too (besides outputs named `logits`). */
  vocabSize?: number;
  /** Denominator floor for the relative error (default 1e-3). */
  relFloor?: number;
  /** Names for the two models in the table (default `a`, `b`). */
  labels?: readonly [string, string];
}

export interface OutputComparison extends DiffMetrics {
  name: string;
  /** Set when the two models gave different shapes (no metrics then). */
  shapeMismatch?: string;
}

export interface LogitsComparison extends LogitsMetrics {
  /** The output the statistics are for. */
  output: string;
}

export interface Breach {
  metric: 'maxKl' | 'minTop1' | 'maxAbs' | 'shape' | 'nan';
  output: string;
  value: number;
  threshold: number;
  message: string;
}

export interface ComparisonResult {
  labels: readonly [string, string];
  /** Runs of each model. */
  runs: number;
  outputs: OutputComparison[];
  /** Next-token statistics for each logits output (usually one). */
  logits: LogitsComparison[];
  /** Outputs only one model has (not compared). */
  onlyInA: string[];
  onlyInB: string[];
  /** The calibration source, when the inputs were calibration data. */
  source?: CalibrationSourceInfo;
  thresholds: Thresholds;
  passed: boolean;
  breaches: Breach[];
}

/**
 * Runs `a` (the reference) and `b` on the same inputs, batch by batch, and compares every output
 * they share. Token sequences are turned into each model's own inputs (so a model that lost some
 * KV-cache inputs still compares), with an empty cache. Logits outputs also get KL(a ‖ b), top-1
 * agreement and, with tokens known, perplexity.
 */
export async function compareModels(a: Model, b: Model, inputs: CompareInputs, options: CompareOptions = {}): Promise<ComparisonResult> {
  const labels = options.labels ?? ['a', 'b'];
  const thresholds = options.thresholds ?? {};
  const aOut = a.graph.outputs.map((v) => v.name);
  const bOut = new Set(b.graph.outputs.map((v) => v.name));
  let names = aOut.filter((n) => bOut.has(n));
  if (options.outputs) {
    for (const n of options.outputs) if (!names.includes(n)) throw new OnnxOptError('USAGE', `output '${n}' is not an output of both models`);
    names = names.filter((n) => options.outputs!.includes(n));
  }
  if (names.length === 0) throw new OnnxOptError('VERIFY', 'the two models have no output in common');
  const onlyInA = aOut.filter((n) => !bOut.has(n));
  const onlyInB = [...bOut].filter((n) => !aOut.includes(n));

  const { batches, source } = normalizeInputs(inputs, options.batchSize ?? 8);
  const sigA = batches.kind === 'tokens' ? decoderSignature(a) : undefined;
  const sigB = batches.kind === 'tokens' ? decoderSignature(b) : undefined;
  const equalLength = !!sigA && (!sigA.attentionMask || !sigB!.attentionMask);

  const diffs = new Map(names.map((n) => [n, new DiffAccumulator(options.relFloor)]));
  const shapeMismatch = new Map<string, string>();
  const logitsAcc = new Map<string, LogitsAccumulator>();
  const isLogits = (name: string, t: ort.Tensor) =>
    /logits/i.test(name) || (options.vocabSize !== undefined && t.dims.length >= 2 && t.dims[t.dims.length - 1] === options.vocabSize);

  const sa = await ModelSession.create(a, options);
  let runs = 0;
  try {
    const sb = await ModelSession.create(b, options);
    try {
      const run = async (feedsA: Record<string, ort.Tensor>, feedsB: Record<string, ort.Tensor>, ids?: number[][], mask?: number[][]) => {
        const ra = await sa.run(feedsA, names);
        const rb = await sb.run(feedsB, names);
        runs++;
        for (const n of names) {
          const ta = ra[n]!;
          const tb = rb[n]!;
          if (ta.dims.length !== tb.dims.length || ta.dims.some((d, i) => d !== tb.dims[i])) {
            if (!shapeMismatch.has(n)) shapeMismatch.set(n, `[${ta.dims.join(',')}] vs [${tb.dims.join(',')}]`);
            continue;
          }
          const xa = toFloat64(ta);
          const xb = toFloat64(tb);
          diffs.get(n)!.add(xa, xb);
          if ((ta.type === 'float32' || ta.type === 'float16' || ta.type === 'float64') && isLogits(n, ta)) {
            let acc = logitsAcc.get(n);
            if (!acc) logitsAcc.set(n, (acc = new LogitsAccumulator()));
            acc.add(xa, xb, ta.dims, { ids, mask });
          }
        }
      };
      if (batches.kind === 'tokens') {
        for (const batch of tokenBatches(batches.sequences, batches.batchSize, { equalLength })) {
          const fa = sequenceFeeds(sigA!, batch, options);
          const fb = sequenceFeeds(sigB!, batch, options);
          await run(fa.feeds, fb.feeds, fa.ids, fa.mask);
        }
      } else {
        for (const feeds of batches.feeds) {
          const ids = feeds['input_ids'] ? tokenRows(feeds['input_ids']) : undefined;
          const mask = feeds['attention_mask'] ? tokenRows(feeds['attention_mask']) : undefined;
          await run(pick(feeds, sa, 'a'), pick(feeds, sb, 'b'), ids, mask);
        }
      }
    } finally {
      await sb.release();
    }
  } finally {
    await sa.release();
  }

  const outputs: OutputComparison[] = names.map((name) => ({ name, ...diffs.get(name)!.result(), shapeMismatch: shapeMismatch.get(name) }));
  const logits: LogitsComparison[] = [...logitsAcc].map(([output, acc]) => ({ output, ...acc.result() }));
  const breaches = checkThresholds(outputs, logits, thresholds);
  return { labels, runs, outputs, logits, onlyInA, onlyInB, source, thresholds, passed: breaches.length === 0, breaches };
}

type Batches =
  | { kind: 'tokens'; sequences: readonly (readonly number[])[]; batchSize: number }
  | { kind: 'feeds'; feeds: readonly Record<string, ort.Tensor>[] };

function normalizeInputs(inputs: CompareInputs, batchSize: number): { batches: Batches; source?: CalibrationSourceInfo } {
  if (!Array.isArray(inputs)) {
    const data = inputs as CalibrationData;
    return { batches: { kind: 'tokens', sequences: data.sequences, batchSize }, source: data.source };
  }
  if (inputs.length === 0) throw new OnnxOptError('USAGE', 'no inputs to compare on');
  if (Array.isArray(inputs[0])) {
    return { batches: { kind: 'tokens', sequences: inputs as readonly (readonly number[])[], batchSize } };
  }
  return { batches: { kind: 'feeds', feeds: inputs as readonly Record<string, ort.Tensor>[] } };
}

/** The feeds a session declares; a missing one is an error. */
function pick(feeds: Record<string, ort.Tensor>, s: ModelSession, label: string): Record<string, ort.Tensor> {
  const out: Record<string, ort.Tensor> = {};
  for (const n of s.inputNames) {
    const t = feeds[n];
    if (!t) throw new OnnxOptError('USAGE', `model ${label} needs input '${n}', which the feeds lack`);
    out[n] = t;
  }
  return out;
}

/** A [B, S] integer tensor as rows of numbers. */
function tokenRows(t: ort.Tensor): number[][] | undefined {
  if (t.dims.length !== 2) return undefined;
  const [B, S] = t.dims as [number, number];
  const v = toFloat64(t);
  return Array.from({ length: B }, (_, r) => Array.from(v.subarray(r * S, (r + 1) * S)));
}

function checkThresholds(outputs: OutputComparison[], logits: LogitsComparison[], t: Thresholds): Breach[] {
  const out: Breach[] = [];
  for (const o of outputs) {
    if (o.shapeMismatch) {
      out.push({ metric: 'shape', output: o.name, value: NaN, threshold: NaN, message: `${o.name}: shapes differ (${o.shapeMismatch})` });
      continue;
    }
    if (o.nanMismatches > 0) {
      out.push({ metric: 'nan', output: o.name, value: o.nanMismatches, threshold: 0, message: `${o.name}: ${o.nanMismatches} elements NaN/Inf on one side only` });
    }
    if (t.maxAbs !== undefined && !(o.maxAbs <= t.maxAbs)) {
      out.push({ metric: 'maxAbs', output: o.name, value: o.maxAbs, threshold: t.maxAbs, message: `${o.name}: max abs error ${fmt(o.maxAbs)} > ${fmt(t.maxAbs)}` });
    }
  }
  for (const l of logits) {
    if (t.maxKl !== undefined && !(l.klMean <= t.maxKl)) {
      out.push({ metric: 'maxKl', output: l.output, value: l.klMean, threshold: t.maxKl, message: `${l.output}: mean KL ${fmt(l.klMean)} > ${fmt(t.maxKl)}` });
    }
    if (t.minTop1 !== undefined && !(l.top1 >= t.minTop1)) {
      out.push({ metric: 'minTop1', output: l.output, value: l.top1, threshold: t.minTop1, message: `${l.output}: top-1 agreement ${fmt(l.top1)} < ${fmt(t.minTop1)}` });
    }
  }
  if ((t.maxKl !== undefined || t.minTop1 !== undefined) && logits.length === 0) {
    out.push({ metric: t.maxKl !== undefined ? 'maxKl' : 'minTop1', output: '', value: NaN, threshold: (t.maxKl ?? t.minTop1)!, message: 'no logits output to check KL/top-1 on' });
  }
  return out;
}

function fmt(x: number | undefined): string {
  if (x === undefined || Number.isNaN(x)) return '-';
  if (x === 0) return '0';
  const a = Math.abs(x);
  return a >= 1e4 || a < 1e-3 ? x.toExponential(3) : x.toPrecision(4);
}

/** The comparison as a plain-text report: a table per output, logits statistics, and the verdict. */
export function formatComparison(r: ComparisonResult): string {
  const [la, lb] = r.labels;
  const lines: string[] = [];
  lines.push(`compare ${la} (reference) vs ${lb}: ${r.runs} run${r.runs === 1 ? '' : 's'}${r.source ? `, ${r.source.description}` : ''}`);
  lines.push('');
  lines.push(
    table(
      ['output', 'max abs', 'max rel', 'cosine', 'elements'],
      r.outputs.map((o) => (o.shapeMismatch ? [o.name, `shape ${o.shapeMismatch}`, '', '', ''] : [o.name, fmt(o.maxAbs), fmt(o.maxRel), o.cosine.toFixed(6), String(o.elements)])),
    ),
  );
  for (const l of r.logits) {
    lines.push('');
    lines.push(`${l.output}: ${l.positions} positions`);
    const rows: string[][] = [
      [`KL(${la}‖${lb}) mean`, fmt(l.klMean)],
      [`KL(${la}‖${lb}) p95`, fmt(l.klP95)],
      [`KL(${la}‖${lb}) max`, fmt(l.klMax)],
      ['top-1 agreement', `${(l.top1 * 100).toFixed(2)}%`],
    ];
    if (l.perplexityA !== undefined) {
      rows.push([`perplexity ${la}`, fmt(l.perplexityA)], [`perplexity ${lb}`, fmt(l.perplexityB)], [`perplexity ${lb}/${la}`, fmt(l.perplexityRatio)]);
    }
    lines.push(table(['metric', 'value'], rows));
  }
  if (r.onlyInA.length) lines.push('', `only in ${la}: ${r.onlyInA.join(', ')}`);
  if (r.onlyInB.length) lines.push('', `only in ${lb}: ${r.onlyInB.join(', ')}`);
  lines.push('');
  lines.push(r.passed ? 'PASSED' : `FAILED: ${r.breaches.length} breach${r.breaches.length === 1 ? '' : 'es'}`);
  for (const b of r.breaches) lines.push(`  - ${b.message}`);
  return lines.join('\n');
}

function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ').trimEnd();
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}
