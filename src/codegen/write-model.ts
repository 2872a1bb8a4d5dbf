import { fromBinary, toBinary } from '@bufbuild/protobuf';
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, statSync, writeSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { ModelProtoSchema, type GraphProto, type TensorProto } from 'onnx-buf';
import { OnnxOptError } from '../errors.js';
import type { Graph } from '../ir/graph.js';
import type { Model } from '../ir/model.js';
import type { Tensor } from '../ir/tensor.js';
import { MAX_PROTO_BYTES } from '../io/read-model.js';
import { encodeModel, externalTensorProto, inlineTensorProto } from './encode.js';

export interface SaveOptions {
  /**
   * - `auto` (default): external if the source model used external data or the weights pass
   *   `maxInlineBytes`, else inline.
   * - `inline`: everything inside the .onnx (refused over 2 GiB).
   * - `external`: tensors of at least `sizeThreshold` bytes go to one data file.
   * - `keep`: tensors stay where they were (inline or in data files of the same names); new
   *   tensors of at least `sizeThreshold` bytes join the first data file.
   */
  externalData?: 'auto' | 'inline' | 'external' | 'keep';
  /** Data file name for `external`/`auto`, relative to the output folder (default `<model file>.data`). */
  location?: string;
  /** Tensors smaller than this stay inline in external modes (default 1024 bytes). */
  sizeThreshold?: number;
  /** Offset alignment for tensors of at least `alignThreshold` bytes (default 4096). */
  align?: number;
  alignThreshold?: number;
  /** Start a new data file once one reaches this many bytes (default: one file). */
  shardSize?: number;
  /** Inline total above which `auto` goes external (default 1.5 GiB, leaving room under protobuf's 2 GiB). */
  maxInlineBytes?: number;
  /**
   * fsync every file before the renames (default false). The rename alone already guarantees that
   * a killed process leaves the old file or the new one; fsync adds durability across power loss,
   * at the cost of waiting for the disk.
   */
  fsync?: boolean;
  /** Called as external data is written: bytes so far, of the total. */
  onProgress?: (done: number, total: number) => void;
}

export interface SaveResult {
  modelPath: string;
  dataFiles: string[];
  bytesWritten: number;
}

interface Placement {
  tensor: Tensor;
  file: number;
  offset: number;
}

const COPY_CHUNK = 16 << 20;

/**
 * Writes a model atomically: data files and the .onnx are written under temporary names in the
 * output folder, flushed, then renamed into place (the .onnx last). External tensors are streamed
 * from their source files in chunks, so no weight is ever held whole in memory. Writing over the
 * input works too: nothing is renamed until every source byte has been read.
 */
export function saveModel(model: Model, path: string, options: SaveOptions = {}): SaveResult {
  const out = resolve(path);
  const dir = dirname(out);
  mkdirSync(dir, { recursive: true });
  const st = statSync(out, { throwIfNoEntry: false });
  if (st?.isDirectory()) throw new OnnxOptError('USAGE', 'the output path is a directory', { file: path });

  const mode = chooseMode(model, options);
  const sizeThreshold = options.sizeThreshold ?? 1024;
  const align = options.align ?? 4096;
  const alignThreshold = options.alignThreshold ?? 1024;
  const defaultLocation = options.location ?? `${basename(out)}.data`;
  checkLocation(defaultLocation, path);

  // Data file k has a final location name; bytes are laid out before anything is written.
  const locations: string[] = [];
  const sizes: number[] = [];
  const placements: Placement[] = [];
  // A data file name already on disk (the old output's, or the input's when writing over it) is
  // never reused: the new data goes to a new name, so until the .onnx is renamed the old model
  // still finds its own data, and after it the new model finds the new data.
  const freshName = (name: string): string => {
    let candidate = name;
    for (let v = 1; existsSync(join(dir, candidate)) || locations.includes(candidate); v++) {
      candidate = name.endsWith('.data') ? `${name.slice(0, -5)}.v${v}.data` : `${name}.v${v}`;
    }
    return candidate;
  };
  const oldDataFiles = st ? dataLocationsOf(out) : [];
  const currentFile = new Map<string, number>();
  const shardsOf = new Map<string, number>();
  /** The data file a tensor of `bytes` goes to, for a base location (a new shard when full). */
  const fileFor = (base: string, bytes: number): number => {
    let k = currentFile.get(base);
    if (k === undefined || (options.shardSize && sizes[k]! > 0 && sizes[k]! + bytes > options.shardSize)) {
      const n = shardsOf.get(base) ?? 0;
      shardsOf.set(base, n + 1);
      locations.push(freshName(n === 0 ? base : shardName(base, n)));
      sizes.push(0);
      k = locations.length - 1;
      currentFile.set(base, k);
    }
    return k;
  };
  const placed = new Map<Tensor, TensorProto>();

  const emit = (t: Tensor): TensorProto => {
    const cached = placed.get(t);
    if (cached) return cached;
    let proto: TensorProto;
    const external =
      mode === 'inline'
        ? false
        : mode === 'keep'
          ? t.storage.kind === 'external' || (!t.sourceProto && t.byteLength >= sizeThreshold)
          : t.byteLength >= sizeThreshold;
    if (!external) {
      proto = inlineTensorProto(t);
    } else {
      const base = mode === 'keep' && t.storage.kind === 'external' ? t.storage.location : mode === 'keep' && locations[0] ? locations[0] : defaultLocation;
      const k = fileFor(base, t.byteLength);
      const a = t.byteLength >= alignThreshold ? align : 16;
      const offset = Math.ceil(sizes[k]! / a) * a;
      sizes[k] = offset + t.byteLength;
      placements.push({ tensor: t, file: k, offset });
      proto = externalTensorProto(t, locations[k]!, offset, t.byteLength);
    }
    placed.set(t, proto);
    return proto;
  };

  const proto = encodeModel(model, emit);
  let bytes: Uint8Array;
  try {
    bytes = toBinary(ModelProtoSchema, proto);
  } catch (e) {
    throw new OnnxOptError('MODEL_TOO_LARGE', `cannot serialize: ${(e as Error).message}; use external data`, { file: path, cause: e });
  }
  if (bytes.byteLength > MAX_PROTO_BYTES) {
    throw new OnnxOptError('MODEL_TOO_LARGE', 'the serialized model would exceed 2 GiB; save with external data', { file: path });
  }

  const token = `${process.pid}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
  const temps: string[] = [];
  const tempOf = (final: string) => join(dirname(final), `.${basename(final)}.${token}.tmp`);
  let written = bytes.byteLength;
  const totalBytes = placements.reduce((s, p) => s + p.tensor.byteLength, 0);
  let progressed = 0;
  try {
    locations.forEach((loc, k) => {
      const final = join(dir, loc);
      const temp = tempOf(final);
      temps.push(temp);
      written += writeDataFile(temp, placements.filter((p) => p.file === k), options.fsync ?? false, (n) => options.onProgress?.((progressed += n), totalBytes));
    });
    const tempModel = tempOf(out);
    temps.push(tempModel);
    writeWhole(tempModel, bytes, options.fsync ?? false);
    // Data first, model last: a reader never sees a new .onnx pointing at missing data.
    locations.forEach((loc, k) => renameSync(temps[k]!, join(dir, loc)));
    renameSync(tempModel, out);
    // The replaced model's data files now belong to nothing.
    for (const loc of oldDataFiles) if (!locations.includes(loc)) rmSync(join(dir, loc), { force: true });
  } catch (e) {
    for (const t of temps) rmSync(t, { force: true });
    if (e instanceof OnnxOptError) throw e;
    throw new OnnxOptError('IO', `cannot write: ${(e as Error).message}`, { file: path, cause: e });
  }
  return { modelPath: out, dataFiles: locations.map((l) => join(dir, l)), bytesWritten: written };
}

/**
 * The external-data files an existing model at `path` uses (plain names in its folder only);
 * empty when it is not a readable model. Read to clean up after it is replaced.
 */
function dataLocationsOf(path: string): string[] {
  try {
    const proto = fromBinary(ModelProtoSchema, readFileSync(path));
    const found = new Set<string>();
    const visit = (g: GraphProto | undefined) => {
      if (!g) return;
      for (const t of g.initializer) {
        const loc = t.externalData.find((e) => e.key === 'location')?.value;
        if (loc && !loc.includes('/') && !loc.includes('\\') && loc !== '..' && loc !== '.') found.add(loc);
      }
      for (const n of g.node) for (const a of n.attribute) [a.g, ...a.graphs].forEach(visit);
    };
    visit(proto.graph);
    return [...found];
  } catch {
    return [];
  }
}

/** Serializes a model with every tensor inline (for ORT sessions from memory and small models). */
export function serializeModel(model: Model): Uint8Array {
  return toBinary(ModelProtoSchema, encodeModel(model, inlineTensorProto));
}

function chooseMode(model: Model, options: SaveOptions): 'inline' | 'external' | 'keep' {
  const m = options.externalData ?? 'auto';
  if (m !== 'auto') return m;
  let total = 0;
  let anyExternal = false;
  for (const t of allInitializers(model.graph)) {
    total += t.byteLength;
    if (t.storage.kind === 'external') anyExternal = true;
  }
  return anyExternal || total > (options.maxInlineBytes ?? 1.5 * 2 ** 30) ? 'external' : 'inline';
}

function* allInitializers(g: Graph): Generator<Tensor> {
  for (const v of g.initializers.values()) yield v.initializer!;
  for (const n of g.allNodes()) for (const sub of n.subgraphs) for (const v of sub.initializers.values()) yield v.initializer!;
}

/** `model.onnx.data` → `model.onnx.1.data` for the second shard. */
function shardName(location: string, index: number): string {
  return location.endsWith('.data') ? `${location.slice(0, -5)}.${index}.data` : `${location}.${index}`;
}

function checkLocation(location: string, path: string): void {
  if (location.startsWith('/') || location.split(/[\\/]/).includes('..')) {
    throw new OnnxOptError('USAGE', `external data location '${location}' must be a plain relative name`, { file: path });
  }
}

function writeWhole(path: string, bytes: Uint8Array, fsync: boolean): void {
  const fd = openSync(path, 'w');
  try {
    let done = 0;
    while (done < bytes.byteLength) done += writeSync(fd, bytes, done, bytes.byteLength - done);
    if (fsync) fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

function writeDataFile(path: string, placements: Placement[], fsync: boolean, onBytes: (n: number) => void): number {
  const fd = openSync(path, 'w');
  let end = 0;
  const scratch = new Uint8Array(COPY_CHUNK);
  try {
    for (const p of placements) {
      let pos = p.offset;
      for (const chunk of p.tensor.chunks(COPY_CHUNK, scratch)) {
        let done = 0;
        while (done < chunk.byteLength) done += writeSync(fd, chunk, done, chunk.byteLength - done, pos + done);
        pos += chunk.byteLength;
        onBytes(chunk.byteLength);
      }
      end = Math.max(end, pos);
    }
    if (fsync) fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  return end;
}
