import type * as ort from 'onnxruntime-node';
import { OnnxOptError } from '../../errors.js';
import type { Model } from '../../ir/model.js';
import type { FeedRunner } from '../decoder-inputs.js';
import type { ModelSession, SessionOptions } from '../session.js';
import { planSlices, type SlicePlan } from './plan.js';
import { openSlice } from './slice-session.js';

export interface BlockwiseSessionOptions extends SessionOptions {
  /** Residual-stream value names to cut at, in stream order. */
  boundaries: readonly string[];
  /** Values every run returns (default: the graph outputs). */
  outputs?: readonly string[];
  /**
   * Weight bytes of slice sessions kept open between runs (default 512 MiB). A model under the
   * budget stays open whole (as fast as one session); a bigger one reopens slices per run, so
   * memory stays at about one slice.
   */
  residentBytes?: number;
}

/**
 * A model run slice by slice, token-major: each `run` passes the feeds through every slice in
 * order, so it stands in for a whole-model session (e.g. under a DecoderRunner that decodes with
 * the KV cache: each slice reads and returns the cache of its own layers).
 */
export class BlockwiseSession implements FeedRunner {
  private readonly open = new Map<number, ModelSession>();
  /** Slice runs so far, weighted by cost: passes of the whole model. */
  modelEquivalents = 0;
  sessionsOpened = 0;

  private constructor(
    readonly plan: SlicePlan,
    private readonly outputs: readonly string[],
    private readonly options: BlockwiseSessionOptions,
  ) {}

  static create(model: Model, options: BlockwiseSessionOptions): BlockwiseSession {
    const outputs = options.outputs ?? model.graph.outputs.map((v) => v.name);
    return new BlockwiseSession(planSlices(model, options.boundaries, outputs), outputs, options);
  }

  async run(feeds: Record<string, ort.Tensor>): Promise<Record<string, ort.Tensor>> {
    const state = new Map(Object.entries(feeds));
    const result: Record<string, ort.Tensor> = {};
    const wanted = new Set(this.outputs);
    for (const n of wanted) if (state.has(n)) result[n] = state.get(n)!;
    const budget = this.options.residentBytes ?? 512 * 2 ** 20;
    for (const slice of this.plan.slices) {
      // Nothing wanted depends on it (a head when only the stream is asked for).
      if (!slice.outputs.length) continue;
      let session = this.open.get(slice.index);
      if (!session) {
        session = await openSlice(this.plan, slice, slice.outputs, this.options);
        this.sessionsOpened++;
      }
      try {
        const f: Record<string, ort.Tensor> = {};
        for (const n of session.inputNames) {
          const v = state.get(n);
          if (!v) throw new OnnxOptError('USAGE', `slice ${slice.index} reads '${n}': not fed`);
          f[n] = v;
        }
        const out = await session.run(f);
        for (const [n, v] of Object.entries(out)) {
          state.set(n, v);
          if (wanted.has(n)) result[n] = v;
        }
        for (const n of slice.inputs) if ((this.plan.lastUse.get(n) ?? -1) <= slice.index && !wanted.has(n) && !(n in feeds)) state.delete(n);
        this.modelEquivalents += this.plan.cost > 0 ? slice.cost / this.plan.cost : 1 / this.plan.slices.length;
      } finally {
        if (!this.open.has(slice.index)) {
          if (this.residentBytes() + slice.weightBytes <= budget) this.open.set(slice.index, session);
          else await session.release();
        }
      }
    }
    return result;
  }

  private residentBytes(): number {
    let total = 0;
    for (const k of this.open.keys()) total += this.plan.slices[k]!.weightBytes;
    return total;
  }

  async release(): Promise<void> {
    const all = [...this.open.values()];
    this.open.clear();
    for (const s of all) await s.release();
  }
}
