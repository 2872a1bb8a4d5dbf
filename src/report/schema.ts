import type { AttnPruneReport } from '../passes/attn-prune/attn-prune.js';
import type { BlockParallelReport } from '../passes/block-parallel/block-parallel.js';
import type { FfnFuseReport } from '../passes/ffn-fusion/ffn-fuse.js';
import type { HealReport } from '../passes/heal/heal.js';
import type { ComparisonResult } from '../verify/compare.js';

/**
 * The JSON report (`--report out.json`), versioned. Additive changes keep `version`; removing or
 * renaming a field bumps it. The HTML report renders exactly this data. See src/report/SCHEMA.md.
 */
export interface OptimizationReport {
  schema: 'onnx-opt.report';
  version: 1;
  /** ISO 8601 time the report was made. */
  createdAt: string;
  tool: { name: 'onnx-opt'; version: string };
  /** The model read and the model written (paths as given). */
  input: string;
  output: string;
  /** The pipeline text as run, e.g. `attn-prune{count=4},ffn-fuse`. */
  pipeline: string;
  /** Each pass of the pipeline with its options: as written, and the defaults it ran with. */
  passOptions?: PassOptions[];
  /** Where calibration data came from (e.g. "sampled from the model (data-free)"), when any was used. */
  calibration?: string;
  before: ModelFacts;
  after: ModelFacts;
  /** One entry per pass run (a fixed-point group's passes once per round), in order. */
  passes: { pass: string; ms: number; modified: boolean; stats: Record<string, number | string> }[];
  attnPrune?: AttnPruneReport;
  ffnFuse?: FfnFuseReport;
  /** Windows of decoder blocks run in parallel (block-parallel). */
  blockParallel?: BlockParallelReport;
  /** Healing runs (the heal pass, or attn-prune/ffn-fuse with heal=true), in order. */
  heal?: HealReport;
  verify?: ComparisonResult;
  latency?: LatencyEntry[];
}

export interface PassOptions {
  pass: string;
  /** Options written in the pipeline, values as written. */
  options: Record<string, string>;
  /** The pass's defaults for the options not written (JSON text), when the pass is registered. */
  defaults?: Record<string, string>;
  /** The group element this pass runs inside (e.g. `fixed-point`), if any. */
  within?: string;
}

export interface LatencyEntry {
  /** What was timed, e.g. "prefill 128 tokens" or "decode, per token". */
  label: string;
  beforeMs: number;
  afterMs: number;
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
