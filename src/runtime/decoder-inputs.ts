import * as ort from 'onnxruntime-node';
import { OnnxOptError } from '../errors.js';
import { decoderSignature, type CacheSlot, type DecoderSignature, type IntDType } from '../ir/decoder-signature.js';
import type { Model } from '../ir/model.js';
import { float16ToNumber } from '../ir/tensor.js';
import { ModelSession, type SessionOptions } from './session.js';

// The signature is a pure graph fact (passes read it too); it lives in ir/ and is re-exported here.
export { decoderSignature, presentCandidates, type CacheSlot, type DecoderSignature, type IntDType } from '../ir/decoder-signature.js';

/** An empty cache tensor for a slot: the declared shape with batch B and sequence 0. */
export function emptyCache(slot: CacheSlot, batch: number): ort.Tensor {
  const dims = slot.shape.map((d, i) => (i === slot.batchAxis ? batch : i === slot.sequenceAxis ? 0 : (d as number)));
  return slot.dtype === 'float32' ? new ort.Tensor('float32', new Float32Array(0), dims) : new ort.Tensor('float16', new Uint16Array(0), dims);
}

/** An integer tensor of the given type from JS numbers. */
export function intTensor(dtype: IntDType, values: ArrayLike<number>, dims: readonly number[]): ort.Tensor {
  if (dtype === 'int32') return new ort.Tensor('int32', Int32Array.from(values as ArrayLike<number>), dims);
  const data = new BigInt64Array(values.length);
  for (let i = 0; i < values.length; i++) data[i] = BigInt(values[i]!);
  return new ort.Tensor('int64', data, dims);
}

/** Token ids as a batch: a single sequence becomes a batch of one. */
export function asBatch(tokens: readonly number[] | readonly (readonly number[])[]): number[][] {
  if (tokens.length === 0) return [];
  return typeof tokens[0] === 'number' ? [[...(tokens as readonly number[])]] : (tokens as readonly (readonly number[])[]).map((r) => [...r]);
}

export interface FeedOptions {
  /** Token used for left padding of shorter rows (default 0); padded positions get attention_mask 0. */
  padTokenId?: number;
  /** Feeds for inputs this module does not make (`otherInputs`). */
  extraFeeds?: Record<string, ort.Tensor>;
}

/** Left-padded rows and their 0/1 mask. Throws when rows differ in length and the model has no attention_mask. */
export function padLeft(sig: DecoderSignature, batch: readonly (readonly number[])[], padTokenId = 0): { ids: number[][]; mask: number[][] } {
  if (batch.length === 0) throw new OnnxOptError('USAGE', 'no token sequences');
  const len = Math.max(...batch.map((r) => r.length));
  if (batch.some((r) => r.length !== len) && !sig.attentionMask) {
    throw new OnnxOptError('USAGE', 'sequences of different lengths need padding, but the model has no attention_mask input; batch equal lengths');
  }
  if (batch.some((r) => r.length === 0)) throw new OnnxOptError('USAGE', 'empty token sequence');
  return {
    ids: batch.map((r) => [...new Array<number>(len - r.length).fill(padTokenId), ...r]),
    mask: batch.map((r) => [...new Array<number>(len - r.length).fill(0), ...new Array<number>(r.length).fill(1)]),
  };
}

/**
 * Every input of one run. `ids` are the new tokens ([B, S]); `mask` is the 0/1 mask over past and
 * new positions ([B, P+S]); `past` holds the cache tensors (empty ones are made when absent).
 */
export function buildFeeds(
  sig: DecoderSignature,
  ids: readonly (readonly number[])[],
  mask: readonly (readonly number[])[],
  past: Record<string, ort.Tensor> | undefined,
  extraFeeds: Record<string, ort.Tensor> = {},
): Record<string, ort.Tensor> {
  const B = ids.length;
  const S = ids[0]?.length ?? 0;
  const total = mask[0]?.length ?? 0;
  const P = total - S;
  const feeds: Record<string, ort.Tensor> = {};
  feeds[sig.inputIds.name] = intTensor(sig.inputIds.dtype, ids.flat(), [B, S]);
  if (sig.attentionMask) feeds[sig.attentionMask.name] = intTensor(sig.attentionMask.dtype, mask.flat(), [B, total]);
  if (sig.positionIds) {
    // HF convention: position = (number of real tokens before it), pads get 0.
    const pos: number[] = [];
    for (const row of mask) {
      let c = -1;
      const all = row.map((m) => (m ? ++c : 0));
      pos.push(...all.slice(P).map((p, j) => (row[P + j] ? p : 0)));
    }
    feeds[sig.positionIds.name] = intTensor(sig.positionIds.dtype, pos, [B, S]);
  }
  if (sig.seqlensK) feeds[sig.seqlensK] = new ort.Tensor('int32', Int32Array.from(mask, (r) => r.reduce((a, b) => a + b, 0) - 1), [B]);
  if (sig.totalSequenceLength) feeds[sig.totalSequenceLength] = new ort.Tensor('int32', Int32Array.from([total]), []);
  if (sig.useCacheBranch) feeds[sig.useCacheBranch] = new ort.Tensor('bool', Uint8Array.from([P > 0 ? 1 : 0]), [1]);
  for (const slot of sig.cache) feeds[slot.past] = past?.[slot.past] ?? emptyCache(slot, B);
  for (const name of sig.otherInputs) {
    const t = extraFeeds[name];
    if (!t) throw new OnnxOptError('USAGE', `the model input '${name}' is not a known decoder input; pass it in extraFeeds`);
    feeds[name] = t;
  }
  return feeds;
}

/**
 * Feeds for one uncached run over whole sequences (empty past): what calibration and comparison
 * runs use. Returns the 0/1 mask too (1 = real token), aligned with the logits' positions.
 */
export function sequenceFeeds(
  sig: DecoderSignature,
  tokens: readonly number[] | readonly (readonly number[])[],
  options: FeedOptions = {},
): { feeds: Record<string, ort.Tensor>; ids: number[][]; mask: number[][] } {
  const { ids, mask } = padLeft(sig, asBatch(tokens), options.padTokenId);
  return { feeds: buildFeeds(sig, ids, mask, undefined, options.extraFeeds), ids, mask };
}

/** Anything that runs feeds: a ModelSession, a ProbeSession. */
export interface FeedRunner {
  run(feeds: Record<string, ort.Tensor>): Promise<Record<string, ort.Tensor>>;
  release(): Promise<void>;
}

export interface DecoderRunnerOptions extends SessionOptions, FeedOptions {
  /** Feed the present outputs back as the next past (default: true when the model has a cache). */
  useCache?: boolean;
}

/** The result of one prefill or step. */
export interface DecoderStepResult {
  /** The logits output of this run: [B, S, V] (S = new tokens with a cache, all tokens without). */
  logits: ort.Tensor;
  /** Logits at each row's last position, as float32: the next-token distribution. */
  next: Float32Array[];
  /** Every output of the run. */
  outputs: Record<string, ort.Tensor>;
}

/**
 * Runs a decoder token by token. `prefill` starts a batch, `step` appends tokens; with a cache the
 * present outputs are fed back as past inputs, without one each step reruns the whole sequence
 * (so uncached exports work too, slowly).
 *
 * ```ts
 * const r = await DecoderRunner.create(model);
 * await r.prefill([1, 2, 3]);
 * const { next } = await r.step(4);   // next[0]: logits for the token after 1 2 3 4
 * await r.release();
 * ```
 */
export class DecoderRunner {
  private ids: number[][] = [];
  private mask: number[][] = [];
  private past: Record<string, ort.Tensor> | undefined;
  private readonly useCache: boolean;

  private constructor(
    private readonly runner: FeedRunner,
    readonly signature: DecoderSignature,
    private readonly options: DecoderRunnerOptions,
    private readonly owned: boolean,
  ) {
    this.useCache = (options.useCache ?? true) && signature.cache.length > 0;
  }

  /** Opens a session on `model` (released by {@link release}). */
  static async create(model: Model, options: DecoderRunnerOptions = {}): Promise<DecoderRunner> {
    const sig = decoderSignature(model);
    const session = await ModelSession.create(model, options);
    return new DecoderRunner(session, sig, options, true);
  }

  /** Wraps an open session (not released by {@link release}). */
  static over(runner: FeedRunner, signature: DecoderSignature, options: DecoderRunnerOptions = {}): DecoderRunner {
    return new DecoderRunner(runner, signature, options, false);
  }

  /** True when present outputs are fed back. */
  get cached(): boolean {
    return this.useCache;
  }

  /** Positions so far (padding included). */
  get length(): number {
    return this.mask[0]?.length ?? 0;
  }

  /** Tokens so far per row, without padding. */
  get tokens(): number[][] {
    return this.ids.map((r, b) => r.filter((_, j) => this.mask[b]![j]));
  }

  /** Forgets the batch and its cache. */
  reset(): void {
    this.ids = [];
    this.mask = [];
    this.past = undefined;
  }

  /** Starts a new batch (rows of different lengths are left-padded when the model has an attention_mask). */
  async prefill(tokens: readonly number[] | readonly (readonly number[])[]): Promise<DecoderStepResult> {
    this.reset();
    const batch = asBatch(tokens);
    if (batch.length === 0) throw new OnnxOptError('USAGE', 'prefill needs at least one sequence');
    const { ids, mask } = padLeft(this.signature, batch, this.options.padTokenId);
    return this.advance(ids, mask);
  }

  /**
   * Appends tokens: a number (batch of one, or the same token for every row), one number per row,
   * or several tokens per row (`number[][]`, equal lengths).
   */
  async step(tokens: number | readonly number[] | readonly (readonly number[])[]): Promise<DecoderStepResult> {
    const B = this.ids.length;
    if (B === 0) throw new OnnxOptError('USAGE', 'step before prefill');
    let add: number[][];
    if (typeof tokens === 'number') add = Array.from({ length: B }, () => [tokens]);
    else if (tokens.length > 0 && typeof tokens[0] !== 'number') add = (tokens as readonly (readonly number[])[]).map((r) => [...r]);
    else add = (tokens as readonly number[]).map((t) => [t]);
    if (add.length !== B) throw new OnnxOptError('USAGE', `step got ${add.length} rows; the batch has ${B}`);
    const S = add[0]!.length;
    if (S === 0 || add.some((r) => r.length !== S)) throw new OnnxOptError('USAGE', 'step needs the same number (≥ 1) of new tokens for every row');
    const mask = this.mask.map((r) => [...r, ...new Array<number>(S).fill(1)]);
    return this.advance(add, mask);
  }

  private async advance(newIds: number[][], mask: number[][]): Promise<DecoderStepResult> {
    const allIds = this.ids.length ? this.ids.map((r, b) => [...r, ...newIds[b]!]) : newIds;
    const feeds = this.useCache
      ? buildFeeds(this.signature, newIds, mask, this.past, this.options.extraFeeds)
      : buildFeeds(this.signature, allIds, mask, undefined, this.options.extraFeeds);
    const outputs = await this.runner.run(feeds);
    const logits = outputs[this.signature.logits];
    if (!logits) throw new OnnxOptError('UNSUPPORTED', `the run gave no '${this.signature.logits}' output`);
    if (this.useCache) {
      const past: Record<string, ort.Tensor> = {};
      for (const slot of this.signature.cache) {
        const t = outputs[slot.present];
        if (!t) throw new OnnxOptError('UNSUPPORTED', `the run gave no '${slot.present}' output`);
        if (t.dims[slot.sequenceAxis] !== mask[0]!.length) {
          throw new OnnxOptError('UNSUPPORTED', `'${slot.present}' has ${t.dims[slot.sequenceAxis]} positions, expected ${mask[0]!.length}`);
        }
        past[slot.past] = t;
      }
      this.past = past;
    }
    this.ids = allIds;
    this.mask = mask;
    return { logits, next: lastPositionLogits(logits), outputs };
  }

  /** Greedy decoding: `n` new tokens per row after `prompt`. */
  async greedy(prompt: readonly number[] | readonly (readonly number[])[], n: number): Promise<number[][]> {
    return this.generate(prompt, n, (row) => argmax(row));
  }

  /** Decodes `n` new tokens per row after `prompt`, choosing each with `pick(logits, row)`. */
  async generate(
    prompt: readonly number[] | readonly (readonly number[])[],
    n: number,
    pick: (logits: Float32Array, row: number) => number,
  ): Promise<number[][]> {
    const batch = asBatch(prompt);
    const out: number[][] = batch.map(() => []);
    if (n <= 0) return out;
    let r = await this.prefill(batch);
    for (let k = 0; k < n; k++) {
      const chosen = r.next.map((row, b) => pick(row, b));
      chosen.forEach((t, b) => out[b]!.push(t));
      if (k < n - 1) r = await this.step(chosen);
    }
    return out;
  }

  async release(): Promise<void> {
    this.reset();
    if (this.owned) await this.runner.release();
  }
}

/** A float tensor's elements as float32 (float16 decoded). */
export function floatData(t: ort.Tensor): Float32Array {
  if (t.type === 'float32') return t.data as Float32Array;
  if (t.type === 'float16') return Float32Array.from(t.data as Uint16Array, float16ToNumber);
  if (t.type === 'float64') return Float32Array.from(t.data as Float64Array);
  throw new OnnxOptError('UNSUPPORTED', `expected a float tensor, got ${t.type}`);
}

/** Logits at each row's last position: [B, S, V] → B rows of V (a [B, V] tensor is taken as is). */
export function lastPositionLogits(logits: ort.Tensor): Float32Array[] {
  const d = logits.dims;
  const data = floatData(logits);
  const B = d[0]!;
  const V = d[d.length - 1]!;
  const S = d.length >= 3 ? d[d.length - 2]! : 1;
  return Array.from({ length: B }, (_, b) => data.slice((b * S + S - 1) * V, (b * S + S) * V));
}

export function argmax(a: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < a.length; i++) if (a[i]! > a[best]!) best = i;
  return best;
}
