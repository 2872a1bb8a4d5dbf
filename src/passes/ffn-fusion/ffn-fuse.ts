import { readFileSync } from 'node:fs';
import { OnnxOptError } from '../../errors.js';
import type { Model } from '../../ir/model.js';
import { summarizeModel } from '../../ir/summary.js';
import { cloneModel } from '../../ir/clone.js';
import { analysesOf } from '../analyses.js';
import { analyzeDecoder } from '../analysis/analyze-decoder.js';
import { hasAttention, type LayerMap } from '../analysis/layer-map.js';
import { calibrationFor, logitsOf, meanKl } from '../measure/index.js';
import { definePass } from '../pass.js';
import { checkScoresFile } from '../scores-file.js';
import { progressOf } from '../progress.js';
import { candidateRuns, groupProblem } from './candidates.js';
import { dependencyMatrix, type DependencyMatrix } from './dependency-matrix.js';
import { fuseGroup, type FuseMode } from './fuse.js';
import { selectGroups } from './select.js';
import { DEFAULT_HEAL_LAMBDA, healModel } from '../heal/heal.js';

/** What ffn-fuse leaves in `ctx.report['ffn-fuse']` (and reads back from `--scores`). */
export interface FfnFuseReport {
  mode: FuseMode;
  candidateRuns: number[][];
  matrix: DependencyMatrix | undefined;
  groups: number[][];
  threshold: number;
  evaluations: number;
  /** Sequential FFN sublayers before and after. */
  ffnStepsBefore: number;
  ffnStepsAfter: number;
  /** Sequential sublayers (attention + FFN) before and after. */
  depthBefore: number;
  depthAfter: number;
  parametersBefore: number;
  parametersAfter: number;
  maxKl?: { limit: number; reached: number };
}

export const ffnFuse = definePass({
  name: 'ffn-fuse',
  summary: 'fuse runs of consecutive attention-free FFNs into one wide FFN (FFN Fusion, exact norm fold)',
  options: {
    threshold: { type: 'float', default: 0.2, min: 0, description: 'largest pairwise dependency M_ij allowed inside a group' },
    'max-group': { type: 'int', default: 8, min: 2, description: 'most FFNs in one fused group' },
    'min-group': { type: 'int', default: 2, min: 2, description: 'fewest FFNs worth fusing' },
    'max-run': { type: 'int', default: 64, min: 2, description: 'longest candidate run analyzed (longer runs are split)' },
    'keep-last': { type: 'bool', default: true, description: "leave each run's final FFN unfused (the paper found it sensitive)" },
    groups: { type: 'int-list-list', min: 0, description: 'explicit groups [[first,last],...] (no scoring); each must be a legal run' },
    mode: { type: 'enum', values: ['exact', 'paper'], default: 'exact', description: "exact: fold each layer's norm scale into its weights; paper: use the last layer's norm for all" },
    'max-kl': { type: 'float', min: 0, description: 'accept a group only while the KL on calibration data stays under this' },
    scores: { type: 'string', description: 'JSON with a precomputed matrix ({"ffn-fuse":{"matrix":{"layers":[...],"values":[[...]]}}} or a report)' },
    heal: { type: 'bool', default: false, description: "afterwards, refit each fused FFN's down projection against the model as it was (the heal pass)" },
    'heal-lambda': { type: 'float', default: DEFAULT_HEAL_LAMBDA, min: 0, description: "heal's ridge strength, relative to the mean of diag(HᵀH)" },
  },
  async run(model, ctx, o) {
    // The model before this pass, for heal=true (a clone shares the tensors: structure only).
    const healReference = o.heal ? cloneModel(model) : undefined;
    const map = analysesOf(ctx).layerMap(model);
    if (map.layers.length === 0) throw new OnnxOptError('UNSUPPORTED', 'ffn-fuse: no decoder layers recognized; try --explain-rule');
    const before = summarizeModel(model);
    const depthBefore = depth(map);
    const runs = candidateRuns(map).flatMap((r) => split(r, o['max-run']));
    let groups: number[][];
    let matrix: DependencyMatrix | undefined;
    let evaluations = 0;
    if (o.groups) {
      for (const gr of o.groups) {
        const why = groupProblem(map, gr);
        if (why) throw new OnnxOptError('USAGE', `ffn-fuse: group [${gr.join(',')}] is not a legal run: ${why}`);
      }
      groups = o.groups.map((gr) => [...gr]);
    } else {
      if (runs.length === 0) ctx.log('no runs of consecutive attention-free FFNs: nothing to fuse (run attn-prune first)');
      const given = o.scores ? readMatrix(o.scores) : ctx.services.scores ? matrixFrom(ctx.services.scores, 'the --scores file') : undefined;
      if (given) matrix = given;
      else if (runs.length) {
        const data = await calibrationFor(model, ctx);
        const bar = progressOf(ctx.services).start('dependency matrix', runs.reduce((n, r) => n + r.length - 1, 0) + 1, 'runs');
        try {
          const cost = { modelEquivalents: 0, sessions: 0 };
          matrix = await dependencyMatrix(model, map, runs, { sequences: data.sequences, threads: ctx.services.threads, calibration: ctx.services.calibrationMode, stats: cost, onEvaluation: (d, t) => bar.update(d, t) });
          ctx.log(`dependency matrix: ${matrix.evaluations} model evaluations cost ${cost.modelEquivalents.toFixed(2)} model-equivalents (${ctx.services.calibrationMode ?? 'blockwise'})`);
        } finally {
          bar.stop();
        }
        evaluations = matrix.evaluations;
      }
      groups = matrix ? selectGroups(runs, matrix, { threshold: o.threshold, maxGroup: o['max-group'], minGroup: o['min-group'], keepLast: o['keep-last'] }) : [];
      // A chosen group the rewrite cannot do exactly (int4 layers with different norm scales) is
      // left unfused with the reason; explicit groups are refused instead.
      groups = groups.filter((gr) => {
        try {
          const trial = cloneModel(model);
          fuseGroup(trial, analyzeDecoder(trial), gr as [number, number], o.mode as FuseMode);
          return true;
        } catch (e) {
          if (!(e instanceof OnnxOptError) || e.code !== 'UNSUPPORTED') throw e;
          ctx.log(`group [${gr.join(',')}] left unfused: ${e.message.replace(/^ffn-fuse: group \[[^\]]*\]: /, '')}`);
          return false;
        }
      });
    }

    let reached: number | undefined;
    if (o['max-kl'] !== undefined && groups.length) {
      const data = await calibrationFor(model, ctx);
      const so = { sequences: data.sequences, threads: ctx.services.threads, calibration: ctx.services.calibrationMode };
      const baseline = await logitsOf(model, so);
      evaluations++;
      const accepted: number[][] = [];
      for (const gr of groups) {
        // Shrink the group from its end until the cumulative KL fits.
        for (let last = gr[1]!; last - gr[0]! + 1 >= o['min-group']; last--) {
          const trial = cloneModel(model);
          for (const a of [...accepted, [gr[0]!, last]]) fuseGroup(trial, analyzeDecoder(trial), a as [number, number], o.mode as FuseMode);
          const kl = meanKl(baseline, await logitsOf(trial, so));
          evaluations++;
          if (kl <= o['max-kl']) {
            accepted.push([gr[0]!, last]);
            reached = kl;
            break;
          }
          ctx.log(`group [${gr[0]},${last}] would reach KL ${kl.toPrecision(3)} > max-kl ${o['max-kl']}`);
        }
      }
      groups = accepted;
    }

    for (const gr of groups) {
      fuseGroup(model, analyzeDecoder(model), gr as [number, number], o.mode as FuseMode);
      ctx.log(`FFNs of layers ${gr[0]}–${gr[1]} fused into one (${gr[1]! - gr[0]! + 1} sequential FFN steps → 1)`);
    }
    const mapAfter = groups.length ? analyzeDecoder(model) : map;
    const after = summarizeModel(model);
    const report: FfnFuseReport = {
      mode: o.mode as FuseMode,
      candidateRuns: runs,
      matrix,
      groups,
      threshold: o.threshold,
      evaluations,
      ffnStepsBefore: map.layers.filter((l) => l.ffn).length,
      ffnStepsAfter: mapAfter.layers.filter((l) => l.ffn).length,
      depthBefore,
      depthAfter: depth(mapAfter),
      parametersBefore: before.parameters,
      parametersAfter: after.parameters,
      ...(o['max-kl'] !== undefined ? { maxKl: { limit: o['max-kl'], reached: reached ?? 0 } } : {}),
    };
    ctx.report['ffn-fuse'] = report;
    if (healReference && groups.length) await healModel(healReference, model, ctx, { lambda: o['heal-lambda'], by: 'ffn-fuse' });
    return { modified: groups.length > 0, stats: { 'groups fused': groups.length, 'FFN steps removed': report.ffnStepsBefore - report.ffnStepsAfter, 'model evaluations': evaluations } };
  },
});

/** Sequential sublayers: attention sublayers plus FFN sublayers (a parallel block counts once, a window of parallel attentions as one step). */
export function depth(map: LayerMap): number {
  return map.layers.reduce((d, l) => d + (l.parallel ? 1 : (hasAttention(l) ? 1 : 0) + (l.ffn ? 1 : 0)), 0);
}

function split(run: number[], max: number): number[][] {
  const out: number[][] = [];
  for (let i = 0; i < run.length; i += max) out.push(run.slice(i, i + max));
  return out.filter((r) => r.length >= 2);
}

function readMatrix(path: string): DependencyMatrix {
  let j: Record<string, unknown>;
  try {
    j = JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
  } catch (e) {
    throw new OnnxOptError('USAGE', `cannot read scores: ${(e as Error).message}`, { file: path });
  }
  const m = matrixFrom(j, path);
  if (!m) throw new OnnxOptError('USAGE', 'scores file must hold {"ffn-fuse": {"matrix": {"layers": [...], "values": [[...]]}}}', { file: path });
  return m;
}

/** The matrix from `{"ffn-fuse": …}`, a report (`ffnFuse`) or the CLI's --json output; undefined if absent. */
function matrixFrom(j: unknown, where: string): DependencyMatrix | undefined {
  checkScoresFile(j, where);
  const o = j as Record<string, Record<string, unknown> | undefined>;
  const section = (o['ffn-fuse'] ?? o.ffnFuse ?? o.report?.['ffn-fuse']) as { matrix?: DependencyMatrix } | undefined;
  if (!section?.matrix) return undefined;
  const m = section.matrix;
  if (!Array.isArray(m.layers) || !Array.isArray(m.values) || m.values.length !== m.layers.length) {
    throw new OnnxOptError('USAGE', `${where}: the ffn-fuse matrix must be {"layers": [...], "values": [[...]]} with one row per layer`);
  }
  return { layers: m.layers, values: m.values, evaluations: 0 };
}
