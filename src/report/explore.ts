/**
 * The trade-off explorer: score once, then evaluate a sweep of configurations (attention removed
 * 0..n/2 by lowest cosine score, each with and without fusing the FFN runs that appear) on held-out
 * tokens. Every configuration is built from IR clones with explicit layers/groups, so nothing is
 * re-scored per configuration; its pipeline text reproduces it through `--passes`.
 */
import { OnnxOptError } from '../errors.js';
import type { Model } from '../ir/model.js';
import { summarizeModel } from '../ir/summary.js';
import { analyzeDecoder } from '../passes/analysis/analyze-decoder.js';
import { originalLayerCount } from '../passes/analysis/layer-map.js';
import { cosineScores, logitsOf, meanKl, withoutAttention, type LayerScore } from '../passes/attn-prune/scores.js';
import { resolveIndices } from '../passes/attn-prune/select.js';
import { candidateRuns } from '../passes/ffn-fusion/candidates.js';
import { dependencyMatrix, type DependencyMatrix } from '../passes/ffn-fusion/dependency-matrix.js';
import { depth } from '../passes/ffn-fusion/ffn-fuse.js';
import { fuseGroup } from '../passes/ffn-fusion/fuse.js';
import { selectGroups } from '../passes/ffn-fusion/select.js';
import type { CalibrationMode, CalibrationStats } from '../runtime/blocks/trials.js';
import { copyModel } from '../runtime/probes.js';
import { bestWithin, paretoFrontier } from './pareto.js';
import { decodeBytes, predictSpeedup, rooflineCounts } from './roofline.js';

export interface ExploreOptions {
  /** Sequences the scores (cosine, dependency matrix) are computed on. */
  scoring: readonly (readonly number[])[];
  /** Held-out sequences every configuration is evaluated on. */
  heldout: readonly (readonly number[])[];
  /** Most attention sublayers removed (default: half of them, within the unprotected ones). */
  maxRemoved?: number;
  /** Layers never removed (default first and last, as attn-prune). */
  protect?: number[];
  /** ffn-fuse's threshold on the dependency matrix (default 0.2, as ffn-fuse). */
  fuseThreshold?: number;
  /** Context length the headline decode speed-up is predicted at (default 512). */
  context?: number;
  /** Prefill length for the predicted prefill speed-up (default 512). */
  prefillTokens?: number;
  threads?: number;
  calibration?: CalibrationMode;
  /** Called after each configuration is evaluated. */
  onConfig?: (done: number, total: number) => void;
}

export interface ExploreConfig {
  /** Attention sublayers removed, ascending. */
  removed: number[];
  /** FFN groups fused, [first, last]. */
  groups: number[][];
  /** Pipeline text that rebuilds this configuration (`''` for the original model). */
  pipeline: string;
  /** Mean KL(original ‖ configuration) of the next-token distributions on the held-out tokens. */
  kl: number;
  /** Top-1 agreement with the original on the held-out tokens (0..1). */
  top1: number;
  /** Predicted batch-1 decode speed-up at `context` (roofline: bytes read per step). */
  speedup: number;
  /** Predicted prefill speed-up (roofline: FLOPs). */
  prefillSpeedup: number;
  /** Bytes read per decode step at `context`. */
  decodeBytes: number;
  parameters: number;
  kvBytesPerToken: number;
  /** Sequential sublayers (attention + FFN). */
  depth: number;
  /** On the Pareto frontier (lowest KL for its speed-up). */
  frontier: boolean;
}

export interface ExploreResult {
  context: number;
  prefillTokens: number;
  scores: LayerScore[];
  matrix: DependencyMatrix | undefined;
  configs: ExploreConfig[];
  /** Model evaluations (forward passes over a token set): cosine scoring, dependency matrix, held-out runs (baseline + configurations). */
  evaluations: { scoring: number; matrix: number; heldout: number; total: number };
  /** The same cost in forward passes of the whole model (block-wise runs re-run only what changed). */
  modelEquivalents: number;
  /** What the one cosine scoring run cost, in model-equivalents: the unit the sweep's cost is a multiple of. */
  scoringModelEquivalents: number;
  scoringTokens: number;
  heldoutTokens: number;
}

/** Runs the sweep on `model` (not modified). */
export async function explore(model: Model, o: ExploreOptions): Promise<ExploreResult> {
  if (!o.scoring.length || !o.heldout.length) throw new OnnxOptError('USAGE', 'explore: needs scoring and held-out sequences');
  const map = analyzeDecoder(model);
  const attn = map.layers.filter((l) => l.attention);
  if (!attn.length) throw new OnnxOptError('UNSUPPORTED', `explore: no decoder layer with attention recognized${map.unrecognized.length ? ` (${map.unrecognized[0]!.reason})` : ''}`);
  const numLayers = originalLayerCount(map);
  const protect = new Set(resolveIndices(o.protect ?? [0, -1], numLayers));
  const context = o.context ?? 512;
  const prefillTokens = o.prefillTokens ?? 512;
  const stats: CalibrationStats = { modelEquivalents: 0, sessions: 0 };
  const run = { threads: o.threads, calibration: o.calibration, stats };

  const scores = await cosineScores(model, map, { sequences: o.scoring, ...run });
  const scoringCost = stats.modelEquivalents;
  const ranked = scores.filter((s) => !protect.has(s.layer)).sort((a, b) => a.score - b.score || a.layer - b.layer).map((s) => s.layer);
  const maxRemoved = Math.min(o.maxRemoved ?? Math.floor(attn.length / 2), ranked.length);
  if (maxRemoved < 0 || !Number.isInteger(maxRemoved)) throw new OnnxOptError('USAGE', `explore: max-removed must be a non-negative integer, got ${o.maxRemoved}`);

  // One dependency matrix, on the most pruned model: every configuration removes a prefix of the same
  // ranking, so its runs lie inside these runs and its groups look their M values up here.
  const most = withoutAttention(model, ranked.slice(0, maxRemoved));
  const mostMap = analyzeDecoder(most);
  const runs = candidateRuns(mostMap);
  const matrix = runs.length ? await dependencyMatrix(most, mostMap, runs, { sequences: o.scoring, ...run }) : undefined;

  const baseline = await logitsOf(model, { sequences: o.heldout, ...run });
  const before = rooflineCounts(model);
  let heldoutEvals = 1;
  const configs: ExploreConfig[] = [];
  const total = (maxRemoved + 1) * (matrix ? 2 : 1);
  for (let k = 0; k <= maxRemoved; k++) {
    const removed = ranked.slice(0, k).sort((a, b) => a - b);
    const pruned = withoutAttention(model, removed);
    const variants: { model: Model; groups: number[][] }[] = [{ model: pruned, groups: [] }];
    if (matrix) {
      const fused = fuseRuns(pruned, matrix, o.fuseThreshold ?? 0.2);
      if (fused) variants.push(fused);
    }
    for (const v of variants) {
      const rows = await logitsOf(v.model, { sequences: o.heldout, ...run });
      heldoutEvals++;
      const after = rooflineCounts(v.model);
      const p = predictSpeedup(before, after, [context], prefillTokens);
      configs.push({
        removed,
        groups: v.groups,
        pipeline: pipelineText(removed, v.groups),
        kl: k === 0 && !v.groups.length ? 0 : meanKl(baseline, rows),
        top1: agreement(baseline, rows),
        speedup: p.decode[0]!.speedup,
        prefillSpeedup: p.prefill.speedup,
        decodeBytes: decodeBytes(after, context),
        parameters: summarizeModel(v.model).parameters,
        // The roofline's count: cache inputs, or the K/V projection widths for models without a cache.
        kvBytesPerToken: after.kvBytesPerToken,
        depth: depth(analyzeDecoder(v.model)),
        frontier: false,
      });
      o.onConfig?.(configs.length, total);
    }
  }
  for (const i of paretoFrontier(configs)) configs[i]!.frontier = true;
  return {
    context,
    prefillTokens,
    scores,
    matrix,
    configs,
    evaluations: { scoring: 1, matrix: matrix?.evaluations ?? 0, heldout: heldoutEvals, total: 1 + (matrix?.evaluations ?? 0) + heldoutEvals },
    modelEquivalents: stats.modelEquivalents,
    scoringModelEquivalents: scoringCost,
    scoringTokens: o.scoring.reduce((n, s) => n + s.length, 0),
    heldoutTokens: o.heldout.reduce((n, s) => n + s.length, 0),
  };
}

/** The pruned model with its runs fused by ffn-fuse's selection on `matrix`; undefined when nothing fuses. */
function fuseRuns(pruned: Model, matrix: DependencyMatrix, threshold: number): { model: Model; groups: number[][] } | undefined {
  const runs = candidateRuns(analyzeDecoder(pruned));
  const chosen = selectGroups(runs, matrix, { threshold, maxGroup: 8, minGroup: 2, keepLast: true });
  const fused = copyModel(pruned);
  const groups: number[][] = [];
  for (const g of chosen) {
    try {
      fuseGroup(fused, analyzeDecoder(fused), g as [number, number], 'exact');
      groups.push(g);
    } catch (e) {
      // A group the rewrite cannot do exactly is left unfused, as ffn-fuse does.
      if (!(e instanceof OnnxOptError) || e.code !== 'UNSUPPORTED') throw e;
    }
  }
  return groups.length ? { model: fused, groups } : undefined;
}

/** `attn-prune{layers=[3,5]},ffn-fuse{groups=[[4,6]]}`, ready for `--passes`. */
export function pipelineText(removed: readonly number[], groups: readonly number[][]): string {
  const parts: string[] = [];
  if (removed.length) parts.push(`attn-prune{layers=[${removed.join(',')}]}`);
  if (groups.length) parts.push(`ffn-fuse{groups=[${groups.map((g) => `[${g.join(',')}]`).join(',')}]}`);
  return parts.join(',');
}

/** Share of positions where both distributions have the same most likely token. */
function agreement(p: readonly Float64Array[], q: readonly Float64Array[]): number {
  let same = 0;
  for (let k = 0; k < p.length; k++) if (argmax(p[k]!) === argmax(q[k]!)) same++;
  return p.length ? same / p.length : 1;
}

function argmax(x: Float64Array): number {
  let best = 0;
  for (let i = 1; i < x.length; i++) if (x[i]! > x[best]!) best = i;
  return best;
}

/** The best configuration within `maxKl`: the highest predicted speed-up, then the lowest KL. */
export function bestUnder(configs: readonly ExploreConfig[], maxKl: number): ExploreConfig | undefined {
  const i = bestWithin(configs, maxKl);
  return i < 0 ? undefined : configs[i];
}
