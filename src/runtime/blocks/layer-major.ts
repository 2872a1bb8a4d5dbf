import type * as ort from 'onnxruntime-node';
import { OnnxOptError } from '../../errors.js';
import type { Model } from '../../ir/model.js';
import type { ModelSession, SessionOptions } from '../session.js';
import { planSlices, type Slice, type SlicePlan } from './plan.js';
import { openSlice } from './slice-session.js';

/** One model to run: the base (trial 0) or a variant of it (a clone with something removed). */
export interface Trial {
  model: Model;
  /** Values to hand to `onValue`: outputs (logits), probes. */
  wanted: readonly string[];
}

export interface LayerMajorOptions extends SessionOptions {
  /** Residual-stream value names to cut at, in stream order. */
  boundaries: readonly string[];
  /** The feeds of each calibration batch (graph inputs). */
  batches: readonly Record<string, ort.Tensor>[];
  /** Receives each wanted value of each trial and batch, batches in order for each trial. */
  onValue: (trial: number, batch: number, name: string, value: ort.Tensor) => void | Promise<void>;
}

export interface LayerMajorResult {
  /** Compute spent, in passes of the base model over all batches. */
  modelEquivalents: number;
  /** Sessions opened (each loads one slice's weights). */
  sessions: number;
  /** Largest weight bytes of one open session. */
  peakSliceBytes: number;
}

type State = Map<string, ort.Tensor>;

interface VariantPlan {
  plan: SlicePlan;
  /** Per slice: the base slice that computes the same thing, or -1. */
  shared: number[];
  /** First own slice (slices before it equal the base's), or slices.length when identical. */
  diverge: number;
  /** Base position where each slice starts. */
  at: number[];
}

/**
 * Runs a base model and variants of it slice by slice ("layer-major"): slice k of every trial runs
 * on every batch before slice k+1 opens, so one slice's weights are in memory at a time. A variant
 * shares the base's results up to its first changed slice (the cached prefix) and re-runs only
 * from there; later slices that equal the base's run in the base's session. Which slices are equal
 * is decided by the computation itself (same nodes, same shared tensors), never assumed.
 */
export async function runLayerMajor(trials: readonly Trial[], o: LayerMajorOptions): Promise<LayerMajorResult> {
  if (!trials.length) throw new OnnxOptError('USAGE', 'runLayerMajor needs at least one model');
  const union = [...new Set(trials.flatMap((t) => t.wanted))];
  const plans = trials.map((t) => {
    const names = new Set<string>();
    for (const v of t.model.graph.values()) names.add(v.name);
    const own = new Set(t.wanted);
    for (const w of own) if (!names.has(w)) throw new OnnxOptError('USAGE', `cannot compute '${w}': no value of that name in the main graph`);
    return planSlices(t.model, o.boundaries, union.filter((w) => names.has(w)));
  });
  const base = plans[0]!;
  // One model-equivalent: a pass through every slice that computes the model's outputs.
  const unit = planSlices(trials[0]!.model, o.boundaries, trials[0]!.model.graph.outputs.map((v) => v.name));
  const basePos = new Map(base.slices.map((s) => [s.start ?? '', s.index]));
  const variants: VariantPlan[] = plans.map((plan, t) => {
    const at = plan.slices.map((s) => {
      const p = basePos.get(s.start ?? '');
      if (p === undefined) throw new OnnxOptError('UNSUPPORTED', `trial ${t}: slice starts at '${s.start}', which is no base boundary`);
      return p;
    });
    const shared = plan.slices.map((s, k) => {
      const b = base.slices[at[k]!]!;
      return t > 0 && b.end === s.end && b.fingerprint === s.fingerprint ? b.index : t === 0 ? b.index : -1;
    });
    let diverge = shared.findIndex((b) => b < 0);
    if (diverge < 0) diverge = plan.slices.length;
    return { plan, shared, diverge, at };
  });
  const wanted = trials.map((t) => new Set(t.wanted));
  // The last base position at which each trial still wants a value: nothing after it is run for it.
  const lastNeeded = plans.map((plan, t) => {
    let last = -1;
    for (const sl of plan.slices) if (sl.outputs.some((n) => wanted[t]!.has(n))) last = Math.max(last, variants[t]!.at[sl.index]!);
    return last;
  });
  const forkAt = (t: number) => (variants[t]!.diverge < plans[t]!.slices.length ? variants[t]!.at[variants[t]!.diverge]! : base.slices.length);
  // The base runs where it wants values itself, or where a variant still on its prefix does.
  const baseRunsAt = (p: number) => p <= lastNeeded[0]! || trials.some((_, t) => t > 0 && forkAt(t) > p && lastNeeded[t]! >= p);
  const lastRead = plans.map((p, t) => {
    const m = new Map<string, number>();
    for (const s of p.slices) for (const i of s.inputs) m.set(i, Math.max(m.get(i) ?? -1, variants[t]!.at[s.index]!));
    return m;
  });

  const states: (State[] | undefined)[] = trials.map(() => undefined);
  states[0] = o.batches.map((f) => new Map(Object.entries(f)));
  let modelEquivalents = 0;
  let sessions = 0;
  let peakSliceBytes = 0;
  const open = async (plan: SlicePlan, slice: Slice, outputs: string[]) => {
    sessions++;
    peakSliceBytes = Math.max(peakSliceBytes, slice.weightBytes);
    return openSlice(plan, slice, outputs, o);
  };
  const runOn = async (session: ModelSession, t: number, slice: Slice, deliverTo: number[]) => {
    const st = states[t]!;
    for (let b = 0; b < o.batches.length; b++) {
      const s = st[b]!;
      const feeds: Record<string, ort.Tensor> = {};
      for (const n of session.inputNames) {
        const v = s.get(n);
        if (!v) throw new OnnxOptError('UNSUPPORTED', `slice ${slice.index} reads '${n}', which nothing computed`);
        feeds[n] = v;
      }
      const out = await session.run(feeds);
      for (const [name, v] of Object.entries(out)) {
        if (needLater(name)) s.set(name, v);
        for (const d of deliverTo) if (wanted[d]!.has(name)) await o.onValue(d, b, name, v);
      }
    }
  };
  const needLater = (name: string) => lastRead.some((m) => m.has(name));

  for (let p = 0; p < base.slices.length; p++) {
    // Variants that leave the base here take its state as it is before this slice.
    for (let t = 1; t < trials.length; t++) {
      if (!states[t] && forkAt(t) === p && p <= lastNeeded[t]!) states[t] = states[0]!.map((s) => new Map(s));
    }
    const slice = base.slices[p]!;
    const sharers = [];
    for (let t = 1; t < trials.length; t++) {
      const v = variants[t]!;
      const k = v.at.indexOf(p);
      if (k >= v.diverge && k >= 0 && v.shared[k] === p && states[t] && p <= lastNeeded[t]!) sharers.push(t);
    }
    // A slice whose outputs nobody reads (the head, when only probes are wanted) is not run.
    const outputs = slice.outputs.filter((n) => needLater(n) || wanted.some((w) => w.has(n)));
    const runBase = baseRunsAt(p);
    if ((runBase || sharers.length) && outputs.length) {
      const session = await open(base, slice, outputs);
      try {
        if (runBase) {
          // The base's values also go to variants whose prefix this still is.
          const to = [0, ...trials.map((_, t) => t).filter((t) => t > 0 && forkAt(t) > p && lastNeeded[t]! >= p)];
          await runOn(session, 0, slice, to);
          modelEquivalents += share(slice, unit);
        }
        for (const t of sharers) {
          await runOn(session, t, slice, [t]);
          modelEquivalents += share(slice, unit);
        }
      } finally {
        await session.release();
      }
    }
    for (let t = 1; t < trials.length; t++) {
      const v = variants[t]!;
      for (let k = v.diverge; k < v.plan.slices.length; k++) {
        if (v.at[k] !== p || v.shared[k]! >= 0 || p > lastNeeded[t]!) continue;
        const s = v.plan.slices[k]!;
        const outputs = s.outputs.filter((n) => needLater(n) || wanted[t]!.has(n));
        if (!outputs.length) continue;
        const session = await open(v.plan, s, outputs);
        try {
          await runOn(session, t, s, [t]);
          modelEquivalents += share(s, unit);
        } finally {
          await session.release();
        }
      }
    }
    // Free what no later slice of any trial reads.
    states.forEach((st, t) => {
      if (!st) return;
      for (const s of st) {
        for (const name of [...s.keys()]) {
          const last = t === 0 ? Math.max(lastRead[0]!.get(name) ?? -1, ...unforked(p).map((u) => lastRead[u]!.get(name) ?? -1)) : (lastRead[t]!.get(name) ?? -1);
          if (last <= p) s.delete(name);
        }
      }
    });
  }
  return { modelEquivalents, sessions, peakSliceBytes };

  function unforked(p: number): number[] {
    return trials.map((_, t) => t).filter((t) => t > 0 && !states[t] && forkAt(t) > p);
  }
}

/** A slice's share of one pass over the whole model (all batches). */
function share(slice: Slice, unit: SlicePlan): number {
  return unit.cost > 0 ? slice.cost / unit.cost : 1 / unit.slices.length;
}
