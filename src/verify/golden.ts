import { fromBinary, toBinary, create } from '@bufbuild/protobuf';
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type * as ort from 'onnxruntime-node';
import { TensorProtoSchema, type TensorProto } from 'onnx-buf';
import { inlineTensorProto } from '../io/encode.js';
import { OnnxOptError } from '../errors.js';
import { readInputFile } from '../io/file-checks.js';
import { DataType, dtypeShortName, isFloatType } from '../ir/dtype.js';
import type { Model } from '../ir/model.js';
import type { Tensor } from '../ir/tensor.js';
import { formatType } from '../ir/types.js';
import { decodeTensor } from '../io/decode.js';
import { ModelSession, type SessionOptions } from '../runtime/session.js';
import { fromOrtTensor, ortTypeOf, stringsOf, toOrtTensor } from '../runtime/tensors.js';

/**
 * ONNX's test-data-set layout, as the backend conformance tests use it:
 *
 *     model_dir/model.onnx
 *     model_dir/test_data_set_0/input_0.pb   (a serialized TensorProto named after graph input 0)
 *     model_dir/test_data_set_0/output_0.pb  (expected value of graph output 0)
 *
 * Only tensor data sets are handled; SequenceProto/OptionalProto/MapProto files belong to models
 * whose signature has non-tensor types, which `unsupportedSignature` reports up front.
 */

export interface TestDataSet {
  inputs: Tensor[];
  outputs: Tensor[];
}

/** Reads one serialized TensorProto. */
export function readTensorFile(path: string): Tensor {
  let proto: TensorProto;
  // A data set's .pb may be a symlink to a device; refuse it before reading (2 GiB: protobuf's limit).
  const bytes = readInputFile(path, 2 ** 31 - 1);
  try {
    proto = fromBinary(TensorProtoSchema, bytes);
  } catch (e) {
    throw new OnnxOptError('PARSE', `not a TensorProto: ${(e as Error).message}`, { file: path, cause: e });
  }
  return decodeTensor(proto, { file: path });
}

/** Writes a tensor as a serialized TensorProto (data inline). */
export function writeTensorFile(path: string, tensor: Tensor): void {
  let proto: TensorProto;
  if (tensor.dtype === DataType.STRING) {
    const enc = new TextEncoder();
    proto = create(TensorProtoSchema, {
      name: tensor.name,
      dataType: DataType.STRING,
      dims: tensor.dims.map((d) => BigInt(d)),
      stringData: stringsOf(tensor).map((s) => enc.encode(s)),
    });
  } else {
    proto = inlineTensorProto(tensor);
  }
  writeFileSync(path, toBinary(TensorProtoSchema, proto));
}

/** `prefix_K.pb` files of a folder, sorted by K numerically. */
function numbered(dir: string, prefix: string): string[] {
  const re = new RegExp(`^${prefix}_(\\d+)\\.pb$`);
  return readdirSync(dir)
    .map((f) => [f, re.exec(f)] as const)
    .filter((e): e is readonly [string, RegExpExecArray] => e[1] !== null)
    .sort((a, b) => Number(a[1][1]) - Number(b[1][1]))
    .map(([f]) => join(dir, f));
}

/** Reads `input_K.pb` and `output_K.pb` of one test data set folder, each sorted by K. */
export function readTestDataSet(dir: string): TestDataSet {
  return { inputs: numbered(dir, 'input').map(readTensorFile), outputs: numbered(dir, 'output').map(readTensorFile) };
}

/** Writes `input_K.pb` / `output_K.pb` (the folder is created). */
export function writeTestDataSet(dir: string, inputs: readonly Tensor[], outputs: readonly Tensor[]): void {
  mkdirSync(dir, { recursive: true });
  inputs.forEach((t, k) => writeTensorFile(join(dir, `input_${k}.pb`), t));
  outputs.forEach((t, k) => writeTensorFile(join(dir, `output_${k}.pb`), t));
}

/** The `test_data_set_N` folders of a model folder (full paths), sorted by N. */
export function listTestDataSets(modelDir: string): string[] {
  return readdirSync(modelDir, { withFileTypes: true })
    .filter((e) => e.isDirectory() && /^test_data_set_\d+$/.test(e.name))
    .map((e) => e.name)
    .sort((a, b) => Number(a.slice('test_data_set_'.length)) - Number(b.slice('test_data_set_'.length)))
    .map((n) => join(modelDir, n));
}

/**
 * Why the model's signature cannot be driven with tensor data sets (a sequence, optional or map
 * input/output, or a tensor type ORT's JS binding lacks), or undefined when it can.
 */
export function unsupportedSignature(model: Model): string | undefined {
  const g = model.graph;
  for (const [role, list] of [
    ['input', g.inputs],
    ['output', g.outputs],
  ] as const) {
    for (const v of list) {
      if (v.type?.kind === 'other') return `${role} '${v.name}' has type ${formatType(v.type)} (only tensors are supported)`;
      if (v.type?.kind === 'tensor' && v.type.dtype !== DataType.UNDEFINED && !ortTypeOf(v.type.dtype)) {
        return `${role} '${v.name}' is ${dtypeShortName(v.type.dtype)}, which onnxruntime-node cannot carry`;
      }
    }
  }
  return undefined;
}

export interface Tolerance {
  rtol: number;
  atol: number;
}

/** ONNX backend-test tolerance. */
export const BACKEND_TOLERANCE: Tolerance = { rtol: 1e-3, atol: 1e-7 };

/**
 * Compares an actual tensor with an expected one the way ONNX's backend tests do: same element
 * type and shape; floats within |a-b| <= atol + rtol*|b| (NaN equals NaN, infinities must match);
 * everything else exactly. Returns a description of the first mismatch, or undefined.
 */
export function compareTensors(actual: Tensor, expected: Tensor, tol: Tolerance = BACKEND_TOLERANCE): string | undefined {
  if (actual.dtype !== expected.dtype) return `type ${dtypeShortName(actual.dtype)}, expected ${dtypeShortName(expected.dtype)}`;
  if (actual.dims.length !== expected.dims.length || actual.dims.some((d, i) => d !== expected.dims[i])) {
    return `shape [${actual.dims.join(',')}], expected [${expected.dims.join(',')}]`;
  }
  if (actual.dtype === DataType.STRING) {
    const a = stringsOf(actual);
    const e = stringsOf(expected);
    const i = a.findIndex((s, k) => s !== e[k]);
    return i < 0 ? undefined : `element ${i} is ${JSON.stringify(a[i])}, expected ${JSON.stringify(e[i])}`;
  }
  if (isFloatType(actual.dtype)) {
    const a = actual.toNumbers();
    const e = expected.toNumbers();
    let bad = 0;
    let first = -1;
    for (let i = 0; i < a.length; i++) {
      const x = a[i]!;
      const y = e[i]!;
      if (x === y || (Number.isNaN(x) && Number.isNaN(y))) continue;
      if (Number.isFinite(x) && Number.isFinite(y) && Math.abs(x - y) <= tol.atol + tol.rtol * Math.abs(y)) continue;
      if (first < 0) first = i;
      bad++;
    }
    return bad === 0 ? undefined : `${bad}/${a.length} elements differ; element ${first} is ${a[first]}, expected ${e[first]}`;
  }
  const a = actual.toArray() as ArrayLike<number | bigint>;
  const e = expected.toArray() as ArrayLike<number | bigint>;
  for (let i = 0; i < a.length; i++) if (a[i] !== e[i]) return `element ${i} is ${a[i]}, expected ${e[i]}`;
  return undefined;
}

/** Feeds for one data set: input_K goes to the graph input of its name, else to the K-th input that has no initializer. */
export function feedsFor(model: Model, inputs: readonly Tensor[]): Record<string, ort.Tensor> {
  const g = model.graph;
  const names = new Set(g.inputs.map((v) => v.name));
  const positional = g.inputs.filter((v) => !v.isInitializer);
  const feeds: Record<string, ort.Tensor> = {};
  inputs.forEach((t, k) => {
    const name = names.has(t.name) ? t.name : positional[k]?.name;
    if (!name) throw new OnnxOptError('USAGE', `input_${k}.pb has no matching graph input (the model has ${positional.length})`);
    feeds[name] = toOrtTensor(t);
  });
  return feeds;
}

export type GoldenResult = { ok: true } | { ok: false; stage: 'signature' | 'load' | 'run' | 'mismatch'; reason: string };

/**
 * Runs `model` with onnxruntime on every data set and compares each graph output with the
 * expected one (output_K is graph output K). Never throws for model problems: the result says
 * which stage failed and why.
 */
export async function checkGolden(
  model: Model,
  dataSets: readonly TestDataSet[],
  options: { tolerance?: Tolerance; session?: SessionOptions } = {},
): Promise<GoldenResult> {
  const sig = unsupportedSignature(model);
  if (sig) return { ok: false, stage: 'signature', reason: sig };
  let session: ModelSession;
  try {
    session = await ModelSession.create(model, { threads: 1, ...options.session });
  } catch (e) {
    return { ok: false, stage: 'load', reason: oneLine(e) };
  }
  try {
    for (const [n, ds] of dataSets.entries()) {
      let results: Record<string, ort.Tensor>;
      try {
        results = await session.run(feedsFor(model, ds.inputs));
      } catch (e) {
        return { ok: false, stage: 'run', reason: oneLine(e) };
      }
      for (const [k, expected] of ds.outputs.entries()) {
        const out = model.graph.outputs[k];
        if (!out) return { ok: false, stage: 'mismatch', reason: `data set ${n} expects output ${k}, the model has ${model.graph.outputs.length}` };
        const got = results[out.name];
        if (!got) return { ok: false, stage: 'run', reason: `data set ${n}: output '${out.name}' missing from the results` };
        let actual: Tensor;
        try {
          actual = fromOrtTensor(out.name, got);
        } catch (e) {
          return { ok: false, stage: 'run', reason: oneLine(e) };
        }
        const diff = compareTensors(actual, expected, options.tolerance);
        if (diff) return { ok: false, stage: 'mismatch', reason: `data set ${n}, output '${out.name}': ${diff}` };
      }
    }
    return { ok: true };
  } finally {
    await session.release();
  }
}

function oneLine(e: unknown): string {
  return conciseOrtMessage(String((e as Error).message ?? e));
}

/**
 * One short line from an onnxruntime error: the first line, without the source path and C++
 * function signature ORT puts before the human-readable part.
 */
export function conciseOrtMessage(message: string): string {
  let s = message.split('\n')[0]!;
  const at = s.search(/\/onnxruntime_src\/\S+:\d+ /);
  if (at >= 0) {
    const head = s.slice(0, at);
    let rest = s.slice(at).replace(/^\S+:\d+ /, '');
    // Skip the function signature: up to the parenthesis that closes its parameter list.
    const open = rest.indexOf('(');
    if (open >= 0 && open < rest.indexOf(' ') + 200) {
      let depth = 0;
      let i = open;
      for (; i < rest.length; i++) {
        if (rest[i] === '(') depth++;
        else if (rest[i] === ')' && --depth === 0) break;
      }
      const end = rest.indexOf(' ', i);
      if (end > 0) rest = rest.slice(end + 1);
    }
    s = head + rest;
  }
  return s.replace(/\s+/g, ' ').trim().slice(0, 200);
}
