import type * as ort from 'onnxruntime-node';
import { OnnxOptError } from '../errors.js';
import { AttributeType } from '../ir/attribute.js';
import { cloneModel } from '../ir/clone.js';
import { DataType } from '../ir/dtype.js';
import type { Model } from '../ir/model.js';
import type { Tensor } from '../ir/tensor.js';
import { tensorType } from '../ir/types.js';
import type { Value } from '../ir/value.js';
import { ModelSession, type SessionOptions } from './session.js';

/**
 * An independent copy of a model for a trial (probes, a removed layer): an IR clone, so tensors
 * are shared, not re-encoded; external weights stay references to their source files.
 */
export function copyModel(model: Model): Model {
  return cloneModel(model);
}

/**
 * A copy of `model` whose graph also outputs the named values (after the regular outputs, in the
 * order given). The original is not touched. Values that are already outputs are left as they are.
 * With `typed`, probes of unknown type get an element type guessed from their producers (ORT
 * 1.30 accepts untyped graph outputs, so this is only a fallback).
 */
export function withProbeOutputs(model: Model, valueNames: readonly string[], options: { typed?: boolean } = {}): Model {
  const copy = copyModel(model);
  const g = copy.graph;
  const byName = new Map<string, Value>();
  for (const v of g.values()) byName.set(v.name, v);
  for (const name of valueNames) {
    const v = byName.get(name);
    if (!v) throw new OnnxOptError('USAGE', `cannot probe '${name}': no value of that name in the main graph`);
    if (v.isGraphOutput) continue;
    if (options.typed && !v.type) {
      const dtype = guessElemType(v);
      if (dtype !== undefined) v.type = tensorType(dtype);
    }
    g.addOutput(v);
  }
  return copy;
}

/**
 * A session that returns chosen intermediate values besides the model's outputs. Make it once and
 * run it on many calibration batches: opening a session costs far more than a small run.
 */
export class ProbeSession {
  private constructor(
    readonly session: ModelSession,
    /** The probed value names, as asked for. */
    readonly probeNames: readonly string[],
    private readonly inputProbes: ReadonlySet<string>,
    /** The model's own outputs. */
    readonly modelOutputNames: readonly string[],
  ) {}

  static async create(model: Model, valueNames: readonly string[], options: SessionOptions = {}): Promise<ProbeSession> {
    const names = [...new Set(valueNames)];
    // Graph inputs are returned from the feeds: no graph output is needed for them.
    const inputNames = new Set(model.graph.inputs.map((v) => v.name));
    const inputProbes = new Set(names.filter((n) => inputNames.has(n)));
    const toOutput = names.filter((n) => !inputProbes.has(n));
    const modelOutputs = model.graph.outputs.map((v) => v.name);
    if (toOutput.every((n) => modelOutputs.includes(n))) {
      return new ProbeSession(await ModelSession.create(model, options), names, inputProbes, modelOutputs);
    }
    let session: ModelSession;
    try {
      session = await ModelSession.create(withProbeOutputs(model, toOutput), options);
    } catch (e) {
      // Should a runtime refuse untyped graph outputs, retry with guessed element types.
      if (!(e instanceof OnnxOptError) || e.code !== 'UNSUPPORTED') throw e;
      session = await ModelSession.create(withProbeOutputs(model, toOutput, { typed: true }), options);
    }
    return new ProbeSession(session, names, inputProbes, modelOutputs);
  }

  get inputNames(): readonly string[] {
    return this.session.inputNames;
  }

  get outputNames(): readonly string[] {
    return this.session.outputNames;
  }

  /** Runs the model; the result holds every regular output and every probe, by name. */
  async run(feeds: Record<string, ort.Tensor>): Promise<Record<string, ort.Tensor>> {
    for (const n of this.inputProbes) {
      if (!feeds[n]) throw new OnnxOptError('USAGE', `probe '${n}' is a graph input, but no feed was given for it`);
    }
    const out = await this.session.run(feeds);
    for (const n of this.inputProbes) out[n] = feeds[n]!;
    return out;
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}

/**
 * Runs `model` once and returns its regular outputs plus the named intermediate values (any value
 * of the main graph: node outputs, initializers, graph inputs). The model is not modified: the
 * probes are added to a copy. For many runs use {@link ProbeSession}.
 */
export async function runWithProbes(
  model: Model,
  feeds: Record<string, ort.Tensor>,
  valueNames: readonly string[],
  options: SessionOptions = {},
): Promise<Record<string, ort.Tensor>> {
  const s = await ProbeSession.create(model, valueNames, options);
  try {
    return await s.run(feeds);
  } finally {
    await s.release();
  }
}

const INT64_OPS = new Set(['Shape', 'Size', 'ArgMax', 'ArgMin', 'NonZero', 'NonMaxSuppression', 'TopK:1']);
const BOOL_OPS = new Set(['Equal', 'Less', 'LessOrEqual', 'Greater', 'GreaterOrEqual', 'Not', 'And', 'Or', 'Xor', 'IsNaN', 'IsInf']);
/** Ops whose output type is that of input `k` (default 0). */
const TYPE_FROM_INPUT: Record<string, number> = { Where: 1, Expand: 0, Reshape: 0, Gather: 0, GatherElements: 0, Slice: 0, Tile: 0, Pad: 0 };

/**
 * A best-effort element type for a value of unknown type: Cast's `to`, fixed-type ops (Shape,
 * comparisons), Constant's tensor, else the type of the producer's first typed input, followed
 * through producers. undefined when nothing tells.
 */
export function guessElemType(v: Value, depth = 0): DataType | undefined {
  if (v.type?.kind === 'tensor') return v.type.dtype;
  if (v.initializer) return v.initializer.dtype;
  const n = v.producer;
  if (!n || depth > 64) return undefined;
  if (n.domain === '' || n.domain === 'ai.onnx') {
    if (n.opType === 'Cast') return n.attrInt('to') as DataType | undefined;
    if (n.opType === 'CastLike') return n.input(1) ? guessElemType(n.input(1)!, depth + 1) : undefined;
    if (INT64_OPS.has(n.opType) || INT64_OPS.has(`${n.opType}:${v.outputIndex}`)) return DataType.INT64;
    if (BOOL_OPS.has(n.opType)) return DataType.BOOL;
    if (n.opType === 'Constant' || n.opType === 'ConstantOfShape') {
      const a = n.attr('value');
      if (a?.type === AttributeType.TENSOR) return (a.value as Tensor).dtype;
      if (n.opType === 'ConstantOfShape') return DataType.FLOAT;
      if (n.attr('value_int') || n.attr('value_ints')) return DataType.INT64;
      if (n.attr('value_float') || n.attr('value_floats')) return DataType.FLOAT;
      return undefined;
    }
    const k = TYPE_FROM_INPUT[n.opType];
    if (k !== undefined) {
      const src = n.input(k);
      return src ? guessElemType(src, depth + 1) : undefined;
    }
  }
  for (const i of n.inputs) {
    if (!i) continue;
    const t = guessElemType(i, depth + 1);
    if (t !== undefined) return t;
  }
  return undefined;
}
