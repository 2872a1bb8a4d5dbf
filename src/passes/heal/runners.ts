import type * as ort from 'onnxruntime-node';
import type { Model } from '../../ir/model.js';
import { decoderSignature, ProbeSession, sequenceFeeds, tokenBatches } from '../measure/index.js';

export interface RunnerOptions {
  threads?: number;
  /** Sequences per run (default 8). */
  batchSize?: number;
}

/**
 * One ORT session over a model with probes on the values healing reads. A weight merge only swaps
 * an initializer, so every probe name stays valid: one session per model state serves both the
 * next fit and the held-out check.
 */
export class ProbedModel {
  private constructor(
    private readonly session: ProbeSession,
    readonly model: Model,
    /** The model's logits output. */
    readonly logits: string,
  ) {}

  static async open(model: Model, probes: readonly string[], o: RunnerOptions): Promise<ProbedModel> {
    return new ProbedModel(await ProbeSession.create(model, probes, { threads: o.threads }), model, decoderSignature(model).logits);
  }

  /** The named values (probes or outputs) for one batch of sequences, and its 0/1 mask. */
  async run(batch: readonly (readonly number[])[], names: readonly string[]): Promise<{ values: Record<string, ort.Tensor>; mask: number[][] }> {
    const { feeds, mask } = sequenceFeeds(decoderSignature(this.model), batch);
    const values: Record<string, ort.Tensor> = {};
    const computed = names.filter((n) => {
      if (!feeds[n]) return true;
      values[n] = feeds[n];
      return false;
    });
    if (computed.length) Object.assign(values, await this.session.session.run(feeds, computed));
    return { values, mask };
  }

  release(): Promise<void> {
    return this.session.release();
  }
}

/** The batches both models are run on, in order (equal lengths when a model cannot pad). */
export function batchesOf(model: Model, sequences: readonly (readonly number[])[], o: RunnerOptions): number[][][] {
  return [...tokenBatches(sequences, o.batchSize ?? 8, { equalLength: !decoderSignature(model).attentionMask })];
}
