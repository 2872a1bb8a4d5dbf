import type { AttnPruneReport } from '../passes/attn-prune/attn-prune.js';
import type { FfnFuseReport } from '../passes/ffn-fusion/ffn-fuse.js';
import type { ComparisonResult } from '../verify/compare.js';

/**
 * The JSON report (`--report out.json`), versioned. Additive changes keep `version`; removing or
 * renaming a field bumps it. The HTML report renders exactly this data. See src/report/SCHEMA.md.
 */
export interface OptimizationReport {
  schema: 'onnx-opt.report';
  version: 1;
  createdAt: string;
  tool: { name: 'onnx-opt'; version: string };
  input: string;
  output: string;
  pipeline: string;
  /** Where calibration data came from (e.g. "sampled from the model (data-free)"), when any was used. */
  calibration?: string;
  before: ModelFacts;
  after: ModelFacts;
  passes: { pass: string; ms: number; modified: boolean; stats: Record<string, number | string> }[];
  attnPrune?: AttnPruneReport;
  ffnFuse?: FfnFuseReport;
  verify?: ComparisonResult;
  latency?: { label: string; beforeMs: number; afterMs: number }[];
}

export interface ModelFacts {
  parameters: number;
  parameterBytes: number;
  nodes: number;
  /** Decoder layers LayerMap recognized (a fused group counts once per original layer). */
  layers: number;
  attentionSublayers: number;
  /** Sequential FFN sublayers. */
  ffnSteps: number;
  /** Sequential sublayers, attention plus FFN. */
  depth: number;
}
