import { dtypeShortName } from './dtype.js';
import type { Graph } from './graph.js';
import type { Model } from './model.js';
import { formatType } from './types.js';

export interface ModelSummary {
  irVersion: number;
  opsets: Record<string, number>;
  producer: string;
  nodes: number;
  opHistogram: Record<string, number>;
  inputs: { name: string; type: string }[];
  outputs: { name: string; type: string }[];
  parameters: number;
  parameterBytes: number;
  parametersByDtype: Record<string, number>;
  externalData: { location: string; tensors: number; bytes: number }[];
}

/** What `inspect` prints and reports embed: counts from the IR, no weight is read. */
export function summarizeModel(model: Model): ModelSummary {
  const hist = new Map<string, number>();
  let nodes = 0;
  for (const n of model.graph.allNodes()) {
    nodes++;
    hist.set(n.qualifiedOp, (hist.get(n.qualifiedOp) ?? 0) + 1);
  }
  let parameters = 0;
  let parameterBytes = 0;
  const byDtype = new Map<string, number>();
  const ext = new Map<string, { tensors: number; bytes: number }>();
  for (const g of graphs(model.graph)) {
    for (const v of g.initializers.values()) {
      const t = v.initializer!;
      parameters += t.size;
      parameterBytes += t.byteLength;
      const k = dtypeShortName(t.dtype);
      byDtype.set(k, (byDtype.get(k) ?? 0) + t.size);
      if (t.storage.kind === 'external') {
        const e = ext.get(t.storage.location) ?? { tensors: 0, bytes: 0 };
        e.tensors++;
        e.bytes += t.byteLength;
        ext.set(t.storage.location, e);
      }
    }
  }
  return {
    irVersion: model.irVersion,
    opsets: Object.fromEntries(model.opsetImports.map((o) => [o.domain || 'ai.onnx', o.version])),
    producer: [model.producerName, model.producerVersion].filter(Boolean).join(' '),
    nodes,
    opHistogram: Object.fromEntries([...hist].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))),
    inputs: model.graph.inputs.filter((v) => !v.initializer).map((v) => ({ name: v.name, type: formatType(v.type) })),
    outputs: model.graph.outputs.map((v) => ({ name: v.name, type: formatType(v.type) })),
    parameters,
    parameterBytes,
    parametersByDtype: Object.fromEntries(byDtype),
    externalData: [...ext].map(([location, e]) => ({ location, ...e })),
  };
}

function* graphs(g: Graph): Generator<Graph> {
  yield g;
  for (const n of g.nodes) for (const s of n.subgraphs) yield* graphs(s);
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let u = -1;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${v.toFixed(v < 10 ? 2 : 1)} ${units[u]}`;
}

export function formatCount(n: number): string {
  if (n >= 1e9) return `${(n / 1e9).toFixed(2)} B`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(2)} M`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)} K`;
  return String(n);
}

export function formatSummary(s: ModelSummary): string {
  const lines: string[] = [];
  lines.push(`ir_version ${s.irVersion}, opsets ${Object.entries(s.opsets).map(([d, v]) => `${d}:${v}`).join(', ')}${s.producer ? `, producer ${s.producer}` : ''}`);
  lines.push(`parameters ${formatCount(s.parameters)} (${formatBytes(s.parameterBytes)}; ${Object.entries(s.parametersByDtype).map(([d, n]) => `${d} ${formatCount(n)}`).join(', ')})`);
  lines.push('inputs:');
  for (const i of s.inputs) lines.push(`  ${i.name}: ${i.type}`);
  lines.push('outputs:');
  for (const o of s.outputs) lines.push(`  ${o.name}: ${o.type}`);
  if (s.externalData.length) {
    lines.push('external data:');
    for (const e of s.externalData) lines.push(`  ${e.location}: ${e.tensors} tensors, ${formatBytes(e.bytes)}`);
  }
  lines.push(`${s.nodes} nodes:`);
  for (const [op, n] of Object.entries(s.opHistogram)) lines.push(`  ${String(n).padStart(6)}  ${op}`);
  return lines.join('\n');
}
