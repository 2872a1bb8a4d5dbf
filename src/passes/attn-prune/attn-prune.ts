import { readFileSync } from 'node:fs';
import { OnnxOptError } from '../../errors.js';
import { byteSizeOf } from '../../ir/dtype.js';
import type { Model } from '../../ir/model.js';
import { summarizeModel } from '../../ir/summary.js';
import type { CalibrationData } from '../../runtime/calibration/types.js';
import { analysesOf } from '../analyses.js';
import { analyzeDecoder } from '../analysis/analyze-decoder.js';
import { attentionsOf, originalLayerCount, parallelWindowNote, type LayerMap } from '../analysis/layer-map.js';
import { calibrationFor } from '../measure/calibration.js';
import { definePass } from '../pass.js';
import { checkScoresFile } from '../scores-file.js';
import { progressOf } from '../progress.js';
import { cannotRemove, removeAttention } from './remove-attention.js';
import { cosineScores, klScores, logitsOf, meanKl, withoutAttention, type LayerScore, type ScoreMethod } from './scores.js';
import { parallelWindows, resolveIndices, selectLayers } from './select.js';
import { cloneModel } from '../../ir/clone.js';
import { DEFAULT_HEAL_LAMBDA, healModel } from '../heal/heal.js';

/** What attn-prune leaves in `ctx.report['attn-prune']` (and reads back from `--scores`). */
export interface AttnPruneReport {
  method: ScoreMethod | 'given';
  scores: { layer: number; score: number; removed: boolean; protected: boolean }[];
  removed: number[];
  calibration: string | undefined;
  parametersBefore: number;
  parametersAfter: number;
  kvBytesPerTokenBefore: number;
  kvBytesPerTokenAfter: number;
  evaluations: number;
  maxKl?: { limit: number; reached: number };
}

export const attnPrune = definePass({
  name: 'attn-prune',
  summary: 'score attention sublayers on calibration data and remove the redundant ones (LLM-Drop cosine, KL, greedy KL)',
  options: {
    method: { type: 'enum', values: ['cosine', 'kl', 'greedy-kl'], default: 'cosine', description: 'how layers are scored' },
    count: { type: 'int', min: 0, description: 'remove this many attention sublayers (lowest scores first)' },
    ratio: { type: 'float', min: 0, max: 1, description: 'remove this fraction of the attention sublayers' },
    threshold: { type: 'float', min: 0, description: 'remove every attention whose score is below this' },
    layers: { type: 'int-list', description: 'remove exactly these layers (no scoring)' },
    protect: { type: 'int-list', default: [0, -1], description: 'layers never removed; -1 is the last' },
    'max-kl': { type: 'float', min: 0, description: 'stop removing once the KL on calibration data would exceed this' },
    'keep-cache-io': { type: 'bool', default: false, description: 'keep removed layers\' KV inputs/outputs as pass-through (fixed signatures)' },
    scores: { type: 'string', description: 'JSON file with precomputed scores ({"attn-prune":{"scores":[{"layer":0,"score":0.1}]}} or a report)' },
    heal: { type: 'bool', default: false, description: 'afterwards, refit the projection before each removed attention against the model as it was (the heal pass)' },
    'heal-lambda': { type: 'float', default: DEFAULT_HEAL_LAMBDA, min: 0, description: "heal's ridge strength, relative to the mean of diag(HᵀH)" },
  },
  async run(model, ctx, o) {
    // The model before this pass, for heal=true (a clone shares the tensors: structure only).
    const healReference = o.heal ? cloneModel(model) : undefined;
    const map = analysesOf(ctx).layerMap(model);
    if (map.layers.length === 0) {
      throw new OnnxOptError('UNSUPPORTED', `attn-prune: no decoder layers recognized${map.unrecognized.length ? ` (${map.unrecognized[0]!.reason})` : ''}; try --explain-rule`);
    }
    for (const u of map.unrecognized) ctx.log(`layer ${u.index} not recognized, left alone: ${u.reason}`);
    for (const l of map.layers) if (l.attentions) ctx.log(`${parallelWindowNote(l)}: left alone`);
    const numLayers = originalLayerCount(map);
    const before = summarizeModel(model);
    const kvBefore = kvBytesPerToken(model, map);
    const protectedSet = new Set(resolveIndices(o.protect, numLayers));

    let method: AttnPruneReport['method'] = o.method as ScoreMethod;
    let scores: LayerScore[] = [];
    let evaluations = 0;
    let calibration: CalibrationData | undefined;
    // What the calibration runs cost, in forward passes of the model over the calibration tokens.
    const cost = { modelEquivalents: 0, sessions: 0 };
    const given = o.scores ? readScores(o.scores) : ctx.services.scores ? scoresFrom(ctx.services.scores, 'the --scores file') : undefined;
    if (o.layers) {
      method = 'given';
      scores = map.layers.filter((l) => l.attention).map((l) => ({ layer: l.index, score: Number.NaN }));
    } else if (given) {
      method = 'given';
      scores = given.filter((s) => map.layers.some((l) => l.index === s.layer && l.attention));
    } else {
      calibration = await calibrationFor(model, ctx);
      const so = { sequences: calibration.sequences, threads: ctx.services.threads, calibration: ctx.services.calibrationMode, stats: cost };
      if (method === 'cosine') {
        scores = await cosineScores(model, map, so);
        evaluations = 1;
      } else if (method === 'kl') {
        const pool = candidates(map, protectedSet);
        const bar = progressOf(ctx.services).start('attention KL scores', pool.length, 'layers');
        const r = await klScores(model, pool, { ...so, onEvaluation: (d) => bar.update(d) }).finally(() => bar.stop());
        scores = r.scores;
        evaluations = r.evaluations;
      }
    }

    let chosen: number[];
    let reached: number | undefined;
    if (method === 'greedy-kl') {
      calibration ??= await calibrationFor(model, ctx);
      const so = { sequences: calibration.sequences, threads: ctx.services.threads, calibration: ctx.services.calibrationMode, stats: cost };
      const target = o.count ?? (o.ratio !== undefined ? Math.round(o.ratio * candidates(map, new Set()).length) : undefined);
      if (target === undefined && o['max-kl'] === undefined) throw new OnnxOptError('USAGE', 'attn-prune: greedy-kl needs count, ratio or max-kl');
      const r = await greedy(model, candidates(map, protectedSet), target ?? Infinity, o['max-kl'], so, (m) => ctx.log(m));
      chosen = r.chosen;
      scores = r.scores;
      evaluations = r.evaluations;
      reached = r.reached;
    } else {
      chosen = selectLayers(scores, { count: o.count, ratio: o.ratio, threshold: o.threshold, layers: o.layers, protect: o.protect, numLayers, windows: parallelWindows(map) });
      if (o['max-kl'] !== undefined) {
        calibration ??= await calibrationFor(model, ctx);
        const so = { sequences: calibration.sequences, threads: ctx.services.threads, calibration: ctx.services.calibrationMode, stats: cost };
        const baseline = await logitsOf(model, so);
        evaluations++;
        const kept: number[] = [];
        for (const l of chosen) {
          const kl = meanKl(baseline, await logitsOf(withoutAttention(model, [...kept, l]), so));
          evaluations++;
          if (kl > o['max-kl']) {
            ctx.log(`stopping before layer ${l}: KL would be ${kl.toPrecision(3)} > max-kl ${o['max-kl']}`);
            break;
          }
          kept.push(l);
          reached = kl;
        }
        chosen = kept;
      }
    }

    for (const l of chosen) {
      const alsoRemoving = map.layers.filter((x) => chosen.includes(x.index));
      const why = cannotRemove(map.layers.find((x) => x.index === l)!, { keepCacheIo: o['keep-cache-io'], alsoRemoving });
      if (why) throw new OnnxOptError('UNSUPPORTED', `attn-prune: ${why}`);
    }
    const removed: number[] = [];
    for (const l of chosen) {
      // Each removal edits the graph, so the map is rebuilt for the next one.
      const layer = analyzeDecoder(model).layers.find((x) => x.index === l)!;
      removeAttention(model, layer, { keepCacheIo: o['keep-cache-io'] });
      removed.push(l);
      const s = scores.find((x) => x.layer === l)?.score;
      ctx.log(`layer ${l} attention removed${s !== undefined && !Number.isNaN(s) ? ` (score ${s.toPrecision(3)})` : ''}`);
    }
    const after = summarizeModel(model);
    if (scores.some((x) => Number.isFinite(x.score))) {
      ctx.log(`attn-prune scores (${method}):`);
      for (const x of [...scores].sort((a, b) => a.layer - b.layer)) {
        const mark = removed.includes(x.layer) ? 'removed' : protectedSet.has(x.layer) ? 'protected' : 'kept';
        ctx.log(`  layer ${String(x.layer).padStart(3)}  ${x.score.toExponential(3).padStart(10)}  ${mark}`);
      }
    }
    if (cost.sessions) ctx.log(`attn-prune calibration: ${evaluations} model evaluations cost ${cost.modelEquivalents.toFixed(2)} model-equivalents (${ctx.services.calibrationMode ?? 'blockwise'})`);
    const report: AttnPruneReport = {
      method,
      scores: scores.map((s) => ({ layer: s.layer, score: s.score, removed: removed.includes(s.layer), protected: protectedSet.has(s.layer) })).sort((a, b) => a.layer - b.layer),
      removed: [...removed].sort((a, b) => a - b),
      calibration: calibration?.source.description,
      parametersBefore: before.parameters,
      parametersAfter: after.parameters,
      kvBytesPerTokenBefore: kvBefore,
      kvBytesPerTokenAfter: kvBytesPerToken(model),
      evaluations,
      ...(o['max-kl'] !== undefined ? { maxKl: { limit: o['max-kl'], reached: reached ?? 0 } } : {}),
    };
    ctx.report['attn-prune'] = report;
    if (healReference && removed.length) await healModel(healReference, model, ctx, { lambda: o['heal-lambda'], by: 'attn-prune' });
    return {
      modified: removed.length > 0,
      stats: { 'attention removed': removed.length, 'parameters removed': before.parameters - after.parameters, 'model evaluations': evaluations },
    };
  },
});

function candidates(map: LayerMap, protect: Set<number>): number[] {
  return map.layers.filter((l) => l.attention && !protect.has(l.index)).map((l) => l.index);
}

async function greedy(
  model: Model,
  pool: number[],
  target: number,
  maxKl: number | undefined,
  so: { sequences: readonly (readonly number[])[]; threads?: number },
  log: (m: string) => void,
): Promise<{ chosen: number[]; scores: LayerScore[]; evaluations: number; reached: number | undefined }> {
  const chosen: number[] = [];
  let baseline: Float64Array[] | undefined;
  let evaluations = 0;
  let firstRound: LayerScore[] = [];
  let reached: number | undefined;
  let remaining = [...pool];
  while (chosen.length < target && remaining.length) {
    const r = await klScores(model, remaining, { ...so, baseline, alreadyRemoved: chosen });
    baseline = r.baseline;
    evaluations += r.evaluations;
    if (!firstRound.length) firstRound = r.scores;
    const best = [...r.scores].sort((a, b) => a.score - b.score)[0]!;
    if (maxKl !== undefined && best.score > maxKl) {
      log(`greedy-kl: stopping, the best next removal (layer ${best.layer}) would reach KL ${best.score.toPrecision(3)} > ${maxKl}`);
      break;
    }
    chosen.push(best.layer);
    reached = best.score;
    remaining = remaining.filter((l) => l !== best.layer);
  }
  return { chosen, scores: firstRound, evaluations, reached };
}

// The calibration home moved to passes/measure; re-exported for the passes that import it from here.
export { calibrationFor } from '../measure/calibration.js';

function readScores(path: string): LayerScore[] {
  let j: unknown;
  try {
    j = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new OnnxOptError('USAGE', `cannot read scores: ${(e as Error).message}`, { file: path });
  }
  return scoresFrom(j, path) ?? [];
}

/**
 * attn-prune scores from JSON: `{"attn-prune": {...}}`, a report (`attnPrune`), or the CLI's
 * --json output (`report["attn-prune"]`). undefined when the JSON has no attn-prune section.
 */
function scoresFrom(j: unknown, where: string): LayerScore[] | undefined {
  checkScoresFile(j, where);
  const o = j as Record<string, Record<string, unknown> | undefined>;
  const section = o['attn-prune'] ?? o.attnPrune ?? o.report?.['attn-prune'];
  if (section === undefined) return undefined;
  const list = (section as { scores?: unknown }).scores;
  if (!Array.isArray(list) || !list.every((s) => typeof s?.layer === 'number' && typeof s?.score === 'number')) {
    throw new OnnxOptError('USAGE', `${where}: scores must be {"attn-prune": {"scores": [{"layer": n, "score": x}, ...]}}`);
  }
  return list as LayerScore[];
}

/** KV-cache bytes per token over the layers' cache inputs: product of the non-batch, non-sequence dims. */
export function kvBytesPerToken(model: Model, map: LayerMap = analyzeDecoder(model)): number {
  let total = 0;
  const inputs = new Set(map.layers.flatMap((l) => attentionsOf(l).flatMap((a) => a.cacheInputs)));
  for (const v of inputs) {
    if (v.type?.kind !== 'tensor' || !v.type.shape) continue;
    const fixed = v.type.shape.filter((d): d is number => typeof d === 'number');
    total += byteSizeOf(v.type.dtype, fixed.reduce((a, b) => a * b, 1));
  }
  return total;
}
