import { OnnxOptError } from '../../errors.js';
import type { Model } from '../../ir/model.js';
import { summarizeModel } from '../../ir/summary.js';
import { cloneModel } from '../../ir/clone.js';
import { analysesOf } from '../analyses.js';
import { analyzeDecoder } from '../analysis/analyze-decoder.js';
import { originalLayerCount, type LayerMap } from '../analysis/layer-map.js';
import { ALL_SPELLINGS } from '../analysis/spellings/index.js';
import { resolveIndices } from '../attn-prune/select.js';
import type { DependencyMatrix } from '../ffn-fusion/dependency-matrix.js';
import { depth } from '../ffn-fusion/ffn-fuse.js';
import { calibrationFor } from '../measure/index.js';
import { definePass } from '../pass.js';
import { applyMatch, findMatches } from '../pattern/index.js';
import { blockMatrix, scoreWindows, selectWindows, type WindowScore } from './block-matrix.js';
import { parallelizeProblem, parallelizeWindow, type ParallelizeOptions } from './parallelize.js';
import { candidateWindows, overlaps } from './window.js';

/** What block-parallel leaves in `ctx.report['block-parallel']`. */
export interface BlockParallelReport {
  /** The block dependency matrix over the candidate windows' layers (absent for explicit windows). */
  matrix: DependencyMatrix | undefined;
  /** Every candidate window with its scores. */
  scores: WindowScore[];
  /** The windows parallelized, in layer order, with their scores when measured. */
  windows: { window: [number, number]; mMax?: number; mSum?: number; heads?: number; kvHeads?: number; ffnFused: boolean }[];
  mergeHeads: boolean;
  /** KV-cache graph inputs and outputs dropped (the merged layer keeps the first layer's), and the ones widened. */
  cache: { removedInputs: string[]; removedOutputs: string[]; resized: { name: string; dims: (number | string | null)[] }[] };
  evaluations: number;
  depthBefore: number;
  depthAfter: number;
  parametersBefore: number;
  parametersAfter: number;
}

export const blockParallel = definePass({
  name: 'block-parallel',
  summary: 'run windows of whole decoder blocks in parallel on one input, as one exact wide layer (Layer Parallelism / FFN Fusion App. B)',
  options: {
    window: { type: 'int', default: 2, min: 2, description: 'layers per window' },
    count: { type: 'int', default: 1, min: 0, description: 'windows to parallelize (lowest M_max first, ties by M_sum)' },
    windows: { type: 'int-list-list', min: -1024, description: 'explicit windows [[first,last],...] (no scoring)' },
    'merge-heads': { type: 'bool', default: true, description: "one attention with every layer's heads and one KV cache per window; false keeps separate attentions and caches" },
    'fuse-ffn': { type: 'bool', default: true, description: "concatenate the window's FFNs into one wide FFN (exact)" },
    protect: { type: 'int-list', default: [0, -1], description: 'layers never put in a scored window; -1 is the last' },
  },
  async run(model, ctx, o) {
    let map = analysesOf(ctx).layerMap(model);
    const rewrite: ParallelizeOptions = { mergeHeads: o['merge-heads'], fuseFfn: o['fuse-ffn'] };
    if (map.layers.length === 0) throw new OnnxOptError('UNSUPPORTED', `block-parallel: no decoder layers recognized${map.unrecognized.length ? ` (${map.unrecognized[0]!.reason})` : ''}; try --explain-rule`);
    const numLayers = originalLayerCount(map);
    const before = summarizeModel(model);
    const depthBefore = depth(map);
    let matrix: DependencyMatrix | undefined;
    let scores: WindowScore[] = [];
    let chosen: WindowScore[];
    let evaluations = 0;
    if (o.windows) {
      const given = o.windows.map((w) => resolveIndices(w, numLayers));
      for (const [n, w] of given.entries()) {
        if (w.length !== 2) throw new OnnxOptError('USAGE', `block-parallel: window [${w.join(',')}] must be [first, last]`);
        const other = given.slice(0, n).find((v) => overlaps(v, w));
        if (other) throw new OnnxOptError('USAGE', `block-parallel: windows [${other.join(',')}] and [${w.join(',')}] overlap`);
        const why = parallelizeProblem(map, w as [number, number], rewrite);
        if (why) throw new OnnxOptError('UNSUPPORTED', `block-parallel: window [${w.join(',')}]: ${why}`);
      }
      chosen = given.map((w) => ({ window: [w[0]!, w[1]!] as [number, number], mMax: Number.NaN, mSum: Number.NaN }));
    } else {
      const protect = new Set(resolveIndices(o.protect, numLayers));
      const candidates = candidateWindows(map, o.window, protect, (w) => parallelizeProblem(map, w, rewrite));
      for (const u of map.unrecognized) ctx.log(`layer ${u.index} not recognized, left out of windows: ${u.reason}`);
      if (o.count > 0 && candidates.length === 0) {
        const probe = [map.layers.find((l) => !protect.has(l.index))?.index ?? 0].map((j) => [j, j + o.window - 1]);
        throw new OnnxOptError('UNSUPPORTED', `block-parallel: no window of ${o.window} unprotected layers can be parallelized${probe[0] ? ` (e.g. [${probe[0].join(',')}]: ${parallelizeProblem(map, probe[0] as [number, number], rewrite) ?? 'protected'})` : ''}`);
      }
      if (o.count > 0) {
        const data = await calibrationFor(model, ctx);
        const cost = { modelEquivalents: 0, sessions: 0 };
        const measure = (calibration: typeof ctx.services.calibrationMode) => blockMatrix(model, map, candidates, { sequences: data.sequences, threads: ctx.services.threads, calibration, stats: cost });
        try {
          matrix = await measure(ctx.services.calibrationMode);
        } catch (e) {
          // Block-wise trials need the variants to cut where the base does; removing a whole block
          // behind fused Skip-norm joins can move the cuts, and then whole-model runs measure it.
          if (!(e instanceof OnnxOptError) || e.code !== 'UNSUPPORTED' || ctx.services.calibrationMode === 'whole' || !/no base boundary/.test(e.message)) throw e;
          ctx.log(`block dependency matrix: block-wise runs cannot cut the removal trials like the model (${e.message}); running whole models`);
          matrix = await measure('whole');
        }
        evaluations = matrix.evaluations;
        ctx.log(`block dependency matrix: ${evaluations} model evaluations cost ${cost.modelEquivalents.toFixed(2)} model-equivalents`);
        scores = scoreWindows(matrix, candidates);
      }
      chosen = selectWindows(scores, o.count);
      if (chosen.length < o.count) ctx.log(`only ${chosen.length} non-overlapping windows of ${o.window} were available (asked for ${o.count})`);
    }

    // From the last window back: each rewrite leaves the layers before it as the map saw them.
    const order = [...chosen].sort((a, b) => b.window[0] - a.window[0]);
    // FFN fusion widens plain MatMuls: the windows' projections are canonicalized first, once.
    const prepare = (m: Model, given: LayerMap) => (o['fuse-ffn'] && canonicalizeFfns(m, given, order.map((c) => c.window)) ? analyzeDecoder(m) : given);
    // Rehearsed on a clone, so a refusal met half-way (an op the head axis cannot pass) leaves the model as it was.
    const trial = cloneModel(model);
    const trialMap = prepare(trial, analyzeDecoder(trial));
    for (const c of order) parallelizeWindow(trial, trialMap, c.window, rewrite);
    map = prepare(model, map);
    const report: BlockParallelReport = {
      matrix,
      scores,
      windows: [],
      mergeHeads: o['merge-heads'],
      cache: { removedInputs: [], removedOutputs: [], resized: [] },
      evaluations,
      depthBefore,
      depthAfter: depthBefore,
      parametersBefore: before.parameters,
      parametersAfter: before.parameters,
    };
    for (const c of order) {
      const r = parallelizeWindow(model, map, c.window, rewrite);
      const scored = Number.isFinite(c.mMax) ? { mMax: c.mMax, mSum: c.mSum } : {};
      report.windows.unshift({ window: c.window, ...scored, ...(r.merged ? { heads: r.merged.heads, kvHeads: r.merged.kvHeads } : {}), ffnFused: r.ffnFused });
      if (r.merged) {
        report.cache.removedInputs.push(...r.merged.cacheInputsRemoved);
        report.cache.removedOutputs.push(...r.merged.cacheOutputsRemoved);
        report.cache.resized.push(...r.merged.cacheResized);
      }
      const s = Number.isFinite(c.mMax) ? ` (M_max ${c.mMax.toPrecision(3)}, M_sum ${c.mSum.toPrecision(3)})` : '';
      const heads = r.merged ? `, one attention with ${r.merged.heads} heads (${r.merged.kvHeads} KV)` : ', attentions side by side';
      ctx.log(`layers ${c.window[0]}–${c.window[1]} run in parallel${s}${heads}${r.ffnFused ? ', FFNs fused' : ''}`);
    }
    for (const list of [report.cache.removedInputs, report.cache.removedOutputs]) list.sort(byLayer);
    report.cache.resized.sort((a, b) => byLayer(a.name, b.name));
    if (report.cache.removedInputs.length) ctx.log(`KV cache: inputs ${report.cache.removedInputs.join(', ')} and outputs ${report.cache.removedOutputs.join(', ')} removed; ${report.cache.resized.map((r) => r.name).join(', ')} widened on the head axis`);
    const after = summarizeModel(model);
    report.parametersAfter = after.parameters;
    // Each window of n blocks becomes one attention step and one FFN step.
    report.depthAfter = depthBefore - chosen.reduce((d, c) => d + 2 * (c.window[1] - c.window[0]), 0);
    ctx.report['block-parallel'] = report;
    return { modified: chosen.length > 0, stats: { 'windows parallelized': chosen.length, 'model evaluations': evaluations } };
  },
});

/**
 * Applies the spellings' exact projection rewrites (GPT-2's Conv1D → MatMul) to the windows' FFNs,
 * so that ffn-fuse's widening finds plain MatMuls and keeps this pass's layer map. True if changed.
 */
function canonicalizeFfns(model: Model, map: LayerMap, windows: readonly [number, number][]): boolean {
  const within = map.layers.filter((l) => windows.some(([j, k]) => l.index >= j && l.index <= k)).flatMap((l) => l.ffn?.nodes ?? []);
  let changed = false;
  for (const rule of ALL_SPELLINGS.flatMap((s) => s.canonicalize ?? [])) {
    for (const m of findMatches(model, rule, { within })) {
      if (m.nodes.some((n) => n.graph !== model.graph)) continue;
      applyMatch(m, rule, model);
      changed = true;
    }
  }
  if (changed) model.graph.sortTopologically();
  return changed;
}

/** Cache names in layer order (`past_key_values.2.key` before `past_key_values.10.key`). */
function byLayer(a: string, b: string): number {
  return a.localeCompare(b, 'en', { numeric: true });
}
