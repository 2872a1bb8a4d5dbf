import { OnnxOptError } from '../../errors.js';
import type { Model } from '../../ir/model.js';
import type { CalibrationData } from '../../runtime/calibration/types.js';
import { analyzeDecoder } from '../analysis/analyze-decoder.js';
import type { LayerInfo } from '../analysis/layer-map.js';
import { calibrationFor } from '../measure/index.js';
import type { PassContext } from '../pass.js';
import { progressOf } from '../progress.js';
import { collectEquations } from './collect.js';
import { heldoutKl } from './heldout-kl.js';
import { ProbedModel } from './runners.js';
import { mergeCorrection } from './merge.js';
import { changedSegments, siteOf, type HealSegment } from './segments.js';

/** Default relative ridge strength: λ = DEFAULT × mean(diag HᵀH). */
export const DEFAULT_HEAL_LAMBDA = 0.1;

/** One healed (or refused) segment, as `ctx.report.heal` records it. */
export interface HealSegmentReport {
  kind: HealSegment['kind'];
  /** The sublayer refitted: original layers [first, last] and which part. */
  layers: [number, number];
  part: 'ffn' | 'attention';
  /** Attention sublayers removed right after it (for `removed-attention`). */
  removedAttention: number[];
  /** The weight refitted (its initializer name before healing). */
  projection: string | undefined;
  lambda: number;
  /** Calibration tokens the fit used. */
  tokens: number;
  /** ‖R − HΔ‖² / ‖R‖² on the calibration tokens: the share of the stream's miss the fit leaves. */
  fitResidual: number | undefined;
  /** Held-out KL(reference ‖ model) before and after this segment's correction. */
  klBefore: number | undefined;
  klAfter: number | undefined;
  applied: boolean;
  /** Why it was applied or not, in words. */
  reason: string;
}

export interface HealRun {
  /** The pass that healed: `heal`, or `attn-prune`/`ffn-fuse` with `heal=true`. */
  by: string;
  lambda: number;
  /** The data the fit and the held-out check ran on. */
  fitOn: string | undefined;
  checkedOn: string | undefined;
  /** The check reused part of the calibration source (no held-out data was given). */
  weakCheck: boolean;
  /** Held-out KL(reference ‖ model) before any healing and after all of it. */
  klBefore: number | undefined;
  klAfter: number | undefined;
  segments: HealSegmentReport[];
  /** Set when nothing could be compared (e.g. unrecognized layers). */
  skipped?: string;
}

/** What `ctx.report.heal` holds: one run per pass that healed. */
export interface HealReport {
  runs: HealRun[];
}

export interface HealOptions {
  /** Relative ridge strength (λ / mean diag HᵀH); larger keeps the weights closer to what they were. */
  lambda: number;
  /** Who heals, for the report and the log. */
  by: string;
}

/**
 * Training-free healing (ReplaceMe-style, arXiv 2505.02819): for each segment where `model`
 * differs from `reference` (a fused FFN, or sublayers removed after a kept one), refits the last
 * linear map before it by ridge regression on calibration activations, so the residual stream
 * after it matches the reference's stream at the next point both models share, and merges the
 * correction into that weight (no new node). Segments go in stream order, each fitted on the
 * already-healed model. A correction is kept only if it lowers KL(reference ‖ model) on held-out
 * tokens.
 */
export async function healModel(reference: Model, model: Model, ctx: PassContext, o: HealOptions): Promise<HealRun> {
  const run: HealRun = { by: o.by, lambda: o.lambda, fitOn: undefined, checkedOn: undefined, weakCheck: false, klBefore: undefined, klAfter: undefined, segments: [] };
  record(ctx, run);
  const found = changedSegments(analyzeDecoder(reference), analyzeDecoder(model));
  if (typeof found === 'string') {
    run.skipped = found;
    ctx.log(`${o.by}: healing skipped: ${found}`);
    return run;
  }
  if (!found.length) {
    ctx.log(`${o.by}: nothing to heal (the model's sublayers match the reference's)`);
    return run;
  }
  const reports = found.map((s) => segmentReport(s, o.lambda));
  run.segments = reports;
  for (const s of found) if (s.problem) ctx.log(`${o.by}: ${describe(s)} not healed: ${s.problem}`);
  if (found.every((s) => s.problem)) return run;

  const { fit, check } = await dataFor(model, ctx, o.by);
  run.fitOn = fit.source.description;
  run.checkedOn = check.source.description;
  run.weakCheck = check.weak;
  const ro = { threads: ctx.services.threads };
  const healable = found.filter((s) => !s.problem);
  const targets = [...new Set(healable.map((s) => s.target.name))];
  const probes = [...new Set(healable.flatMap((s) => siteNames(model, s)))];
  const refRunner = await ProbedModel.open(reference, targets, ro);
  let current: ProbedModel | undefined;
  let kl: number;
  const bar = progressOf(ctx.services).start('healing', healable.length, 'segments');
  let done = 0;
  try {
    current = await ProbedModel.open(model, probes, ro);
    kl = await heldoutKl(refRunner, current, check.sequences, ro);
    run.klBefore = kl;
    for (const [k, first] of found.entries()) {
      const r = reports[k]!;
      if (first.problem) continue;
      const site = siteOf(layerOf(model, first.layer), first.part);
      if (typeof site === 'string') throw new Error(`heal: ${describe(first)} lost its projection: ${site}`);
      const eq = await collectEquations(refRunner, current, site, first.target.name, fit.sequences, ro);
      r.tokens = eq.rows;
      let delta: Float64Array;
      try {
        delta = eq.solve(o.lambda);
      } catch (e) {
        if (!(e instanceof OnnxOptError)) throw e;
        r.reason = e.message;
        bar.update(++done);
        continue;
      }
      r.fitResidual = eq.residualSquares > 0 ? eq.errorAfter(delta) / eq.residualSquares : 0;
      const merged = mergeCorrection(model, site.projection, delta);
      const next = await ProbedModel.open(model, probes, ro);
      const after = await heldoutKl(refRunner, next, check.sequences, ro).catch(async (e: unknown) => {
        await next.release();
        throw e;
      });
      r.klBefore = kl;
      r.klAfter = after;
      if (after < kl) {
        r.applied = true;
        r.reason = `held-out KL ${fmt(kl)} → ${fmt(after)}`;
        kl = after;
        await current.release();
        current = next;
      } else {
        await next.release();
        merged.undo();
        r.reason = `not applied: held-out KL would rise ${fmt(kl)} → ${fmt(after)}`;
      }
      ctx.log(`${o.by}: ${describe(first)}: ${r.reason} (the fit leaves ${(r.fitResidual * 100).toFixed(1)}% of the stream's miss on ${eq.rows} calibration tokens)`);
      bar.update(++done);
    }
  } finally {
    bar.stop();
    await current?.release();
    await refRunner.release();
  }
  run.klAfter = kl;
  const applied = reports.filter((r) => r.applied).length;
  ctx.log(`${o.by}: healed ${applied} of ${reports.length} segments, held-out KL ${fmt(run.klBefore)} → ${fmt(kl)}${check.weak ? ' (checked on calibration sequences held back from the fit: weaker than --heldout)' : ''}`);
  return run;
}

function layerOf(model: Model, index: number): LayerInfo {
  const layer = analyzeDecoder(model).layers.find((l) => l.index === index);
  if (!layer) throw new Error(`heal: layer ${index} is gone from the model being healed`);
  return layer;
}

/** The values a segment's fit reads in the current model. */
function siteNames(model: Model, s: HealSegment): string[] {
  const site = siteOf(layerOf(model, s.layer), s.part);
  return typeof site === 'string' ? [] : [site.input.name, site.streamBefore.name, site.increment.name];
}

function record(ctx: PassContext, run: HealRun): void {
  const existing = ctx.report.heal as HealReport | undefined;
  if (existing) existing.runs.push(run);
  else ctx.report.heal = { runs: [run] } satisfies HealReport;
}

function segmentReport(s: HealSegment, lambda: number): HealSegmentReport {
  return {
    kind: s.kind,
    layers: s.span,
    part: s.part,
    removedAttention: s.removedAttention,
    projection: s.projection,
    lambda,
    tokens: 0,
    fitResidual: undefined,
    klBefore: undefined,
    klAfter: undefined,
    applied: false,
    reason: s.problem ?? 'not fitted',
  };
}

function describe(s: HealSegment): string {
  const where = s.span[0] === s.span[1] ? `layer ${s.span[0]}` : `layers ${s.span[0]}–${s.span[1]}`;
  return s.kind === 'fused-ffn' ? `fused FFN of ${where}` : `${where} ${s.part === 'ffn' ? 'FFN' : 'attention'} before removed attention ${s.removedAttention.join(', ')}`;
}

const fmt = (x: number | undefined) => (x === undefined ? '—' : x.toPrecision(3));

/**
 * Calibration sequences to fit on and held-out sequences to check on: the caller's held-out data
 * (`--heldout`) when given, else the calibration sequences split in halves (fit on the first,
 * check on the second), which is a weaker check since both come from one source.
 */
async function dataFor(model: Model, ctx: PassContext, by: string): Promise<{ fit: CalibrationData; check: CalibrationData & { weak: boolean } }> {
  const calib = await calibrationFor(model, ctx);
  let held = ctx.services.heldout;
  if (!held && ctx.services.loadHeldout) {
    held = await ctx.services.loadHeldout(model);
    ctx.services.heldout = held;
  }
  if (held) return { fit: calib, check: { ...held, weak: false } };
  const n = calib.sequences.length;
  if (n < 2) throw new OnnxOptError('USAGE', `${by}: healing needs held-out data (--heldout) or at least 2 calibration sequences to split`);
  const half = Math.ceil(n / 2);
  ctx.log(`${by}: no held-out data given: fitting on calibration sequences 1–${half}, checking on ${half + 1}–${n} (a weaker check than --heldout)`);
  return {
    fit: { sequences: calib.sequences.slice(0, half), source: { ...calib.source, description: `${calib.source.description}, sequences 1–${half}` } },
    check: { sequences: calib.sequences.slice(half), source: { ...calib.source, description: `${calib.source.description}, sequences ${half + 1}–${n} (held back from the fit)` }, weak: true },
  };
}
