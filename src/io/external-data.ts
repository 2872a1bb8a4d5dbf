import { realpathSync, statSync } from 'node:fs';
import { isAbsolute, posix, relative, resolve, sep } from 'node:path';
import type { TensorProto } from 'onnx-buf';
import { OnnxOptError } from '../errors.js';

export interface ExternalDataRef {
  /** The location normalized (`./w.bin` and `w.bin` are one file, so writers see one name). */
  location: string;
  /** Absolute real path of the data file, checked to lie inside the model's folder. */
  path: string;
  offset: number;
  length: number | undefined;
}

/**
 * Resolves external-data locations against the model's folder and refuses anything that could
 * read outside it: absolute paths, `..` segments, and symlinks whose target leaves the folder.
 * File sizes are cached so each data file is stat'ed once per load.
 */
export class ExternalDataResolver {
  private readonly realRoot: string;
  private readonly realModel: string | undefined;
  private readonly sizes = new Map<string, number>();

  constructor(
    private readonly modelDir: string,
    private readonly modelFile: string,
  ) {
    this.realRoot = realpathSync(modelDir);
    try {
      this.realModel = realpathSync(resolve(modelFile));
    } catch {
      this.realModel = undefined; // bytes loaded without a file (loadModelFromBytes)
    }
  }

  /** Real paths of every data file resolved so far. */
  dataFiles(): string[] {
    return [...this.sizes.keys()];
  }

  /** Parses a TensorProto's external_data entries and validates the path and range. */
  resolve(t: TensorProto, expectedLength: number | undefined): ExternalDataRef {
    const kv = new Map(t.externalData.map((e) => [e.key, e.value]));
    const location = kv.get('location');
    const fail = (code: 'EXTERNAL_DATA_PATH' | 'EXTERNAL_DATA_RANGE' | 'EXTERNAL_DATA_MISSING', msg: string) =>
      new OnnxOptError(code, `tensor '${t.name}': ${msg}`, { file: this.modelFile });
    if (!location) throw fail('EXTERNAL_DATA_PATH', 'external data has no location');
    if (isAbsolute(location) || /^[a-zA-Z]:[\\/]/.test(location) || location.startsWith('\\')) {
      throw fail('EXTERNAL_DATA_PATH', `external data location '${location}' is absolute; it must be relative to the model's folder`);
    }
    if (location.split(/[\\/]/).some((seg) => seg === '..')) {
      throw fail('EXTERNAL_DATA_PATH', `external data location '${location}' contains '..'; it must stay inside the model's folder`);
    }
    if (location.includes('\0')) throw fail('EXTERNAL_DATA_PATH', 'external data location contains a NUL byte');
    // A trailing slash names a directory (open() fails on it), though realpath would drop it.
    if (/[\\/]$/.test(location)) throw fail('EXTERNAL_DATA_PATH', `external data location '${location}' ends with a slash; it must name a file`);
    const normalized = posix.normalize(location);
    const joined = resolve(this.modelDir, normalized);
    let real: string;
    try {
      real = realpathSync(joined);
    } catch {
      throw fail('EXTERNAL_DATA_MISSING', `external data file '${location}' does not exist`);
    }
    const rel = relative(this.realRoot, real);
    if (rel === '' || rel.startsWith('..') || isAbsolute(rel) || rel.split(sep)[0] === '..') {
      throw fail('EXTERNAL_DATA_PATH', `external data location '${location}' leads out of the model's folder (through a symlink)`);
    }
    if (real === this.realModel) throw fail('EXTERNAL_DATA_PATH', `external data location '${location}' is the model file itself`);
    const size = this.fileSize(real, location, fail);
    const offset = parseNonNegative(kv.get('offset'), 'offset', fail) ?? 0;
    const length = parseNonNegative(kv.get('length'), 'length', fail);
    const effective = length ?? (expectedLength ?? size - offset);
    if (offset > size || offset + effective > size) {
      throw fail('EXTERNAL_DATA_RANGE', `external data range [${offset}, ${offset + effective}) is past the end of '${location}' (${size} bytes)`);
    }
    if (expectedLength !== undefined && effective !== expectedLength) {
      throw fail('EXTERNAL_DATA_RANGE', `external data length ${effective} does not match the tensor's shape and type (${expectedLength} bytes)`);
    }
    return { location: normalized, path: real, offset, length: effective };
  }

  private fileSize(real: string, location: string, fail: (c: 'EXTERNAL_DATA_MISSING', m: string) => OnnxOptError): number {
    let size = this.sizes.get(real);
    if (size === undefined) {
      const st = statSync(real, { throwIfNoEntry: false });
      if (!st || !st.isFile()) throw fail('EXTERNAL_DATA_MISSING', `external data '${location}' is not a regular file`);
      size = st.size;
      this.sizes.set(real, size);
    }
    return size;
  }
}

function parseNonNegative(
  s: string | undefined,
  what: string,
  fail: (c: 'EXTERNAL_DATA_RANGE', m: string) => OnnxOptError,
): number | undefined {
  if (s === undefined) return undefined;
  if (!/^\d+$/.test(s.trim())) throw fail('EXTERNAL_DATA_RANGE', `external data ${what} '${s}' is not a non-negative integer`);
  const n = Number(s.trim());
  if (!Number.isSafeInteger(n)) throw fail('EXTERNAL_DATA_RANGE', `external data ${what} ${s} is out of range`);
  return n;
}

