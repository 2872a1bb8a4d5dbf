import { fromBinary } from '@bufbuild/protobuf';
import { readFileSync, realpathSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { ModelProtoSchema, type ModelProto } from 'onnx-buf';
import { OnnxOptError } from '../errors.js';
import type { Model } from '../ir/model.js';
import { verifyModel } from '../ir/verifier.js';
import { decodeModel } from './decode.js';
import { ExternalDataResolver } from './external-data.js';
import { kindOf } from './file-checks.js';

/** protobuf cannot address more than 2 GiB in one message; bigger models must use external data. */
export const MAX_PROTO_BYTES = 2 ** 31 - 1;

export interface LoadOptions {
  /** Run the structural verifier after loading (default true): cycles and dangling uses are refused. */
  verify?: boolean;
}

/**
 * Reads a model. The protobuf is decoded in one piece; embedded raw_data stays a view into the
 * file buffer, and external data stays on disk as validated (path, offset, length) references.
 */
export function loadModel(path: string, options: LoadOptions = {}): Model {
  const file = resolve(path);
  const st = statSync(file, { throwIfNoEntry: false });
  if (!st) throw new OnnxOptError('FILE_NOT_FOUND', 'no such file', { file: path });
  if (st.isDirectory()) throw new OnnxOptError('USAGE', 'is a directory, not an .onnx file', { file: path });
  // A device (/dev/zero) or pipe has no size to check and may never end.
  if (!st.isFile()) throw new OnnxOptError('USAGE', `is ${kindOf(st)}, not an .onnx file`, { file: path });
  if (st.size > MAX_PROTO_BYTES) {
    throw new OnnxOptError(
      'MODEL_TOO_LARGE',
      `the protobuf is ${(st.size / 2 ** 30).toFixed(2)} GiB; ONNX files over 2 GiB are invalid. Save the weights as external data (e.g. onnx.save_model(..., save_as_external_data=True))`,
      { file: path },
    );
  }
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(file);
  } catch (e) {
    throw new OnnxOptError('IO', `cannot read: ${(e as Error).message}`, { file: path, cause: e });
  }
  return loadModelFromBytes(bytes, path, options);
}

const sourceFiles = new WeakMap<Model, string[]>();

/**
 * The real paths of the files a loaded model was read from: its .onnx and every external data
 * file it referenced at load time (passes may drop tensors, but the input still needs them all).
 * The writer never overwrites or deletes these.
 */
export function inputFilesOf(model: Model): string[] {
  return sourceFiles.get(model) ?? [];
}

function realPathOf(path: string): string | undefined {
  try {
    return realpathSync(path);
  } catch {
    return undefined;
  }
}

/** Decodes model bytes; `path` names the file in errors and anchors external data. */
export function loadModelFromBytes(bytes: Uint8Array, path: string, options: LoadOptions = {}): Model {
  const proto = parseModelProto(bytes, path);
  const external = new ExternalDataResolver(dirname(resolve(path)), path);
  let model: Model;
  try {
    model = decodeModel(proto, { file: path, external });
  } catch (e) {
    if (e instanceof OnnxOptError) throw e;
    throw new OnnxOptError('INVALID_MODEL', `cannot decode: ${(e as Error).message}`, { file: path, cause: e });
  }
  model.sourcePath = resolve(path);
  sourceFiles.set(model, [...(realPathOf(path) ? [realPathOf(path)!] : []), ...external.dataFiles()]);
  if (options.verify ?? true) {
    const problems = verifyModel(model, { structuralOnly: true });
    if (problems.length) {
      const more = problems.length > 1 ? ` (and ${problems.length - 1} more)` : '';
      throw new OnnxOptError('INVALID_MODEL', `${problems[0]!.message}${more}`, { file: path });
    }
  }
  return model;
}

export function parseModelProto(bytes: Uint8Array, path: string): ModelProto {
  if (bytes.byteLength === 0) throw new OnnxOptError('PARSE', 'the file is empty', { file: path });
  try {
    return fromBinary(ModelProtoSchema, bytes, { readUnknownFields: true });
  } catch (e) {
    const why = (e as Error).message.replace(/^\[[^\]]*\]\s*/, '');
    throw new OnnxOptError('PARSE', `not a valid ONNX model (truncated or corrupt protobuf: ${why})`, { file: path, cause: e });
  }
}
