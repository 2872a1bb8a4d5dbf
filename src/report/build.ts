import { readFileSync } from 'node:fs';
import type { Model } from '../ir/model.js';
import { summarizeModel } from '../ir/summary.js';
import type { AnalysisManager } from '../passes/analyses.js';
import { analyzeDecoder } from '../passes/analysis/analyze-decoder.js';
import { attentionsOf } from '../passes/analysis/layer-map.js';
import type { AttnPruneReport } from '../passes/attn-prune/attn-prune.js';
import type { BlockParallelReport } from '../passes/block-parallel/block-parallel.js';
import type { FfnFuseReport } from '../passes/ffn-fusion/ffn-fuse.js';
import type { HealReport } from '../passes/heal/heal.js';
import { depth } from '../passes/ffn-fusion/ffn-fuse.js';
import type { PipelineRun } from '../passes/pass-manager.js';
import { parsePipeline, type PipelineElement } from '../passes/pipeline.js';
import { defaultRegistry, type PassRegistry } from '../passes/registry.js';
import type { ComparisonResult } from '../verify/compare.js';
import type { LatencyEntry, ModelFacts, OptimizationReport, PassOptions } from './schema.js';

/** Counts for the before/after summary; the layer facts are best effort (0 if no decoder is found). `analyses` shares the layer map with the passes. */
export function modelFacts(model: Model, analyses?: AnalysisManager): ModelFacts {
  const s = summarizeModel(model);
  let layers = 0;
  let attention = 0;
  let ffn = 0;
  let d = 0;
  try {
    const map = analyses ? analyses.layerMap(model) : analyzeDecoder(model);
    layers = map.layers.reduce((n, l) => n + (l.span ? l.span[1] - l.span[0] + 1 : 1), 0) + map.unrecognized.length;
    attention = map.layers.reduce((n, l) => n + attentionsOf(l).length, 0);
    ffn = map.layers.filter((l) => l.ffn).length;
    d = depth(map);
  } catch {
    // Not a decoder: the model summary still stands.
  }
  return { parameters: s.parameters, parameterBytes: s.parameterBytes, nodes: s.nodes, layers, attentionSublayers: attention, ffnSteps: ffn, depth: d };
}

export function toolVersion(): string {
  try {
    return (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

export function buildReport(o: {
  input: string;
  output: string;
  pipeline: string;
  before: ModelFacts;
  after: ModelFacts;
  run: PipelineRun;
  verify?: ComparisonResult;
  calibration?: string;
  latency?: LatencyEntry[];
}): OptimizationReport {
  const attnPrune = o.run.report['attn-prune'] as AttnPruneReport | undefined;
  const ffnFuse = o.run.report['ffn-fuse'] as FfnFuseReport | undefined;
  const blockParallel = o.run.report['block-parallel'] as BlockParallelReport | undefined;
  const heal = o.run.report.heal as HealReport | undefined;
  return {
    schema: 'onnx-opt.report',
    version: 1,
    createdAt: new Date().toISOString(),
    tool: { name: 'onnx-opt', version: toolVersion() },
    input: o.input,
    output: o.output,
    pipeline: o.pipeline,
    passOptions: passOptions(o.pipeline),
    ...(o.calibration ? { calibration: o.calibration } : {}),
    before: o.before,
    after: o.after,
    passes: o.run.timings.map((t) => ({ pass: t.pass, ms: t.ms, modified: t.modified, stats: t.stats })),
    ...(attnPrune ? { attnPrune } : {}),
    ...(ffnFuse ? { ffnFuse } : {}),
    ...(blockParallel ? { blockParallel } : {}),
    ...(heal ? { heal } : {}),
    ...(o.verify ? { verify: o.verify } : {}),
    ...(o.latency?.length ? { latency: o.latency } : {}),
  };
}

/**
 * The pipeline's passes with their options as written and the defaults they ran with (best effort:
 * an unparsable pipeline gives an empty list; aliases such as `canonicalize` have no defaults).
 */
export function passOptions(pipeline: string, registry: PassRegistry = defaultRegistry): PassOptions[] {
  let elements: PipelineElement[];
  try {
    elements = parsePipeline(pipeline);
  } catch {
    return [];
  }
  const out: PassOptions[] = [];
  const walk = (list: PipelineElement[], within?: string) => {
    for (const e of list) {
      const options = Object.fromEntries(e.options);
      const specs = registry.get(e.name)?.options;
      const entry: PassOptions = { pass: e.name, options };
      if (specs) {
        const defaults = Object.entries(specs).filter(([k, spec]) => !(k in options) && spec.default !== undefined);
        entry.defaults = Object.fromEntries(defaults.map(([k, spec]) => [k, JSON.stringify(spec.default)]));
      }
      if (within) entry.within = within;
      out.push(entry);
      if (e.children) walk(e.children, within ? `${within} › ${e.name}` : e.name);
    }
  };
  walk(elements);
  return out;
}
