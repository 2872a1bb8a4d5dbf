import { formatBytes } from '../../ir/summary.js';
import type { Value } from '../../ir/value.js';
import { ALL_SPELLINGS } from './spellings/index.js';
import { attentionsOf, type LayerMap, type WeightRef } from './layer-map.js';
import type { AnyRule } from '../pattern/index.js';

/** One row per layer, as `inspect --layers` prints and `--json` returns. */
export interface LayerRow {
  layer: number;
  span?: [number, number];
  attentionNorm: string | null;
  attention: string | null;
  heads: string | null;
  kv: string[];
  ffnNorm: string | null;
  ffn: string | null;
  hidden: number | null;
  parameterBytes: number;
  parallel: boolean;
  /** A window of parallel attentions (block-parallel, merge-heads=false): how many. */
  parallelAttentions?: number;
}

function weightBytes(w: WeightRef | undefined): number {
  if (!w) return 0;
  const t = (v: Value | undefined) => (v?.constant ?? v?.initializer)?.byteLength ?? 0;
  return w.kind === 'matmulnbits' ? t(w.weight) + t(w.scales) + t(w.zeroPoints) : t(w.weight);
}

export function layerRows(map: LayerMap): LayerRow[] {
  return map.layers.map((l) => {
    const all = attentionsOf(l);
    const a = all[0];
    const f = l.ffn;
    const normName = (n: { kind: string; fused?: unknown } | undefined) => (n ? `${n.kind === 'rms' ? 'RMSNorm' : 'LayerNorm'}${n.fused ? ' (fused skip)' : ''}` : null);
    const bytes = [...all.flatMap((x) => [x.q, x.k, x.v, x.o, x.qkv]), f?.gate, f?.up, f?.down].reduce((s, w) => s + weightBytes(w), 0);
    return {
      layer: l.index,
      ...(l.span ? { span: l.span } : {}),
      attentionNorm: normName(a?.norm),
      attention: a ? (l.attentions ? `${a.op} ×${all.length} parallel` : a.op) : null,
      heads: a?.heads ? `${a.heads}/${a.kvHeads ?? a.heads}` : null,
      kv: all.flatMap((x) => [...x.cacheInputs, ...x.cacheOutputs]).map((v) => v.name),
      ffnNorm: normName(f?.norm),
      ffn: f ? f.kind : null,
      hidden: map.hiddenSize ?? null,
      parameterBytes: bytes,
      parallel: l.parallel,
      ...(l.attentions ? { parallelAttentions: l.attentions.length } : {}),
    };
  });
}

export function formatLayerTable(map: LayerMap): string {
  const rows = layerRows(map);
  const head = ['layer', 'attn norm', 'attention', 'heads q/kv', 'KV cache', 'FFN norm', 'FFN', 'hidden', 'params'];
  const body = rows.map((r) => [
    r.span ? `${r.span[0]}-${r.span[1]}` : String(r.layer),
    r.attentionNorm ?? '-',
    r.attention ?? (r.parallel ? 'parallel' : 'removed'),
    r.heads ?? '-',
    r.kv.length ? compactKv(r.kv) : '-',
    r.ffnNorm ?? '-',
    r.ffn ? (r.span ? `${r.ffn} (fused)` : r.ffn) : '-',
    r.hidden === null ? '-' : String(r.hidden),
    formatBytes(r.parameterBytes),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd();
  const out = [`spelling: ${map.spelling}, ${map.layers.length} layers recognized${map.unrecognized.length ? `, ${map.unrecognized.length} not` : ''}`, line(head), line(widths.map((w) => '-'.repeat(w))), ...body.map(line)];
  for (const u of map.unrecognized) out.push(`layer ${u.index}: not recognized: ${u.reason}`);
  return out.join('\n');
}

function compactKv(names: string[]): string {
  return names.length <= 2 ? names.join(', ') : `${names[0]} … (${names.length})`;
}

/** Every rule the decoder analysis uses, by name (for --explain-rule). */
export function analysisRules(): AnyRule[] {
  const seen = new Map<string, AnyRule>();
  for (const s of ALL_SPELLINGS) for (const r of [...s.norms, ...s.ffns]) seen.set(r.rule.name, r.rule);
  return [...seen.values()];
}
