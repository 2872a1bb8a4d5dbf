import { fromBinary, toBinary } from '@bufbuild/protobuf';
import { closeSync, constants as fsConstants, copyFileSync, fsyncSync, lstatSync, mkdirSync, openSync, readdirSync, readFileSync, realpathSync, renameSync, rmdirSync, rmSync, statSync, truncateSync, writeSync } from 'node:fs';
import { basename, dirname, join, posix, resolve } from 'node:path';
import { ModelProtoSchema, type GraphProto, type ModelProto, type TensorProto } from 'onnx-buf';
import { OnnxOptError } from '../errors.js';
import { byteSizeOf, DataType, isKnownDataType } from '../ir/dtype.js';
import { checkOutputPath, fileIdentity, kindOf, statPath } from './file-checks.js';
import { inputFilesOf } from './read-model.js';
import { trackTemp, untrackTemp } from './temp-files.js';
import type { Graph } from '../ir/graph.js';
import type { Model } from '../ir/model.js';
import type { Tensor } from '../ir/tensor.js';
import { MAX_PROTO_BYTES } from './read-model.js';
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
  /**
   * Files written beside the model in the same atomic set (a model folder's genai_config.json and
   * tokenizer files): under temporary names with the data, renamed into place before the .onnx.
   */
  companions?: CompanionFile[];
}

/** A plain file name in the output folder, with its bytes or the file to copy them from. */
export type CompanionFile = { name: string; bytes: Uint8Array } | { name: string; copyFrom: string };

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

// 1 MiB buffers stay in cache: on tmpfs they copy ~1.5× faster than 16 MiB ones (bench/io).
const COPY_CHUNK = 1 << 20;

/** What the writing steps yield: after a chunk of data, and once before the renames. */
type Step = 'chunk' | 'commit';

/**
 * Writes a model atomically: data files, companions and the .onnx are written under temporary
 * names in the output folder, flushed, then renamed into place (the .onnx last). External tensors
 * are streamed from their source files in chunks, so no weight is ever held whole in memory.
 * Writing over the input path works too: nothing is renamed until every source byte has been read.
 */
export function saveModel(model: Model, path: string, options: SaveOptions = {}): SaveResult {
  const steps = saveSteps(model, path, options);
  for (;;) {
    const r = steps.next();
    if (r.done) return r.value;
  }
}

/**
 * saveModel that returns to the event loop while it writes (every ~20 ms, and always right before
 * the renames), so a SIGINT/SIGTERM handler can remove the temporary files and exit before any of
 * them is renamed into place.
 */
export async function saveModelAsync(model: Model, path: string, options: SaveOptions = {}): Promise<SaveResult> {
  const steps = saveSteps(model, path, options);
  let last = performance.now();
  for (;;) {
    const r = steps.next();
    if (r.done) return r.value;
    if (r.value === 'commit' || performance.now() - last > 20) {
      await new Promise((done) => setImmediate(done));
      last = performance.now();
    }
  }
}

function* saveSteps(model: Model, path: string, options: SaveOptions): Generator<Step, SaveResult> {
  const out = resolve(path);
  const dir = dirname(out);
  const inputs = protectedFiles(model);
  // Replacing the input model by its own path consumes it: its data may go with it afterwards.
  const replacesInput = checkOutputTarget(out, path, model, inputs);
  // The folder must exist or be creatable: a regular file on the way fails here, not half-way.
  checkOutputPath(out);
  const companions = options.companions ?? [];
  for (const c of companions) checkCompanionTarget(c.name, join(dir, c.name), path);

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
  // Names this write gives to something other than data: never a data file's name.
  const reserved = new Set([basename(out), ...companions.map((c) => c.name)]);
  // A data file name already on disk (the old output's, or the input's when writing over it) is
  // never reused: the new data goes to a new name, so until the .onnx is renamed the old model
  // still finds its own data, and after it the new model finds the new data.
  const freshName = (name: string): string => {
    let candidate = name;
    for (let v = 1; lexists(join(dir, candidate)) || locations.includes(candidate) || reserved.has(candidate); v++) {
      candidate = name.endsWith('.data') ? `${name.slice(0, -5)}.v${v}.data` : `${name}.v${v}`;
    }
    return candidate;
  };
  const replaced = replacedDataFiles(out, dir, replacesInput ? new Map() : inputs);
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
  const goesExternal = (t: Tensor): boolean =>
    mode === 'inline'
      ? false
      : mode === 'keep'
        ? t.storage.kind === 'external' || (!t.sourceProto && t.byteLength >= sizeThreshold)
        : t.byteLength >= sizeThreshold;
  const baseOf = (t: Tensor): string =>
    mode === 'keep' && t.storage.kind === 'external' ? t.storage.location : mode === 'keep' && locations[0] ? locations[0] : defaultLocation;
  // Tensors of a source data file the output still reads almost whole keep their offsets: that
  // file's layout is then unchanged, and the kernel copies it instead of streaming it byte by byte.
  // Keep mode keeps offsets as they are; the other modes promise alignment, so only aligned ones.
  const offsetFits = (t: Tensor, offset: number) => mode === 'keep' || offset % (t.byteLength >= alignThreshold ? align : 16) === 0;
  const ownOffset = options.shardSize ? new Map<Tensor, { file: number; offset: number }>() : keptLayout(model, { goesExternal, baseOf, offsetFits }, fileFor, sizes);

  const emit = (t: Tensor): TensorProto => {
    const cached = placed.get(t);
    if (cached) return cached;
    let proto: TensorProto;
    if (!goesExternal(t)) {
      proto = inlineTensorProto(t);
    } else {
      const own = ownOffset.get(t);
      const k = own?.file ?? fileFor(baseOf(t), t.byteLength);
      const a = t.byteLength >= alignThreshold ? align : 16;
      const offset = own?.offset ?? Math.ceil(sizes[k]! / a) * a;
      sizes[k] = Math.max(sizes[k]!, offset + t.byteLength);
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
  // Keep-mode locations may name sub-folders: each must be a real folder inside the output folder.
  for (const loc of locations) checkSubfolders(dir, loc, path);

  const token = `${process.pid}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
  const temps: string[] = [];
  const createdDirs: string[] = [];
  const tempOf = (final: string) => join(dirname(final), `.${basename(final)}.${token}.tmp`);
  const newTemp = (final: string) => {
    const t = tempOf(final);
    temps.push(t);
    trackTemp(t);
    return t;
  };
  let written = bytes.byteLength;
  const totalBytes = placements.reduce((s, p) => s + p.tensor.byteLength, 0);
  let progressed = 0;
  try {
    createdDirs.push(...makeDirs(dir, path));
    for (const loc of locations) createdDirs.push(...makeDirs(dirname(join(dir, loc)), path));
    for (const [k, loc] of locations.entries()) {
      const temp = newTemp(join(dir, loc));
      const mine = placements.filter((p) => p.file === k);
      const onBytes = (n: number) => options.onProgress?.((progressed += n), totalBytes);
      const whole = wholeFileSource(mine);
      written += whole ? copyDataFile(temp, whole, sizes[k]!, options.fsync ?? false, onBytes) : yield* writeDataFile(temp, mine, options.fsync ?? false, onBytes);
    }
    const companionTemps = companions.map((c) => {
      const temp = newTemp(join(dir, c.name));
      if ('bytes' in c) writeWhole(temp, c.bytes, options.fsync ?? false);
      else copyFileSync(c.copyFrom, temp);
      return temp;
    });
    const tempModel = newTemp(out);
    writeWhole(tempModel, bytes, options.fsync ?? false);
    // The last moment an interrupt can stop this write: after it, nothing waits until the renames are done.
    yield 'commit';
    // Data and companions first, model last: a reader never sees a new .onnx pointing at missing data.
    locations.forEach((loc, k) => renameSync(temps[k]!, join(dir, loc)));
    companions.forEach((c, k) => renameSync(companionTemps[k]!, join(dir, c.name)));
    renameSync(tempModel, out);
  } catch (e) {
    for (const t of temps) removeQuietly(t);
    removeCreatedDirs(createdDirs);
    if (e instanceof OnnxOptError) throw e;
    throw new OnnxOptError('IO', `cannot write: ${(e as Error).message}`, { file: path, cause: e });
  } finally {
    for (const t of temps) untrackTemp(t);
    for (const d of createdDirs) untrackTemp(d);
  }
  // The replaced model's own data files now belong to nothing (the checks are in replacedDataFiles).
  const kept = new Set([...locations, ...reserved]);
  for (const loc of replaced) if (!kept.has(loc)) rmSync(join(dir, loc), { force: true });
  return { modelPath: out, dataFiles: locations.map((l) => join(dir, l)), bytesWritten: written };
}

/** `dev:ino` of every file the model was read from or still reads: never overwritten, never removed. */
function protectedFiles(model: Model): Map<string, string> {
  const ids = new Map<string, string>();
  const data = new Set(inputFilesOf(model));
  for (const t of allInitializers(model.graph)) if (t.storage.kind === 'external') data.add(t.storage.path);
  const add = (p: string | undefined, what: string) => {
    const id = p ? fileIdentity(p) : undefined;
    if (id && !ids.has(id)) ids.set(id, what);
  };
  add(model.sourcePath, 'the input model');
  for (const f of data) add(f, "one of the input's external data files");
  return ids;
}

/**
 * Refuses an output path that is a directory, a device or pipe, or that names a file the input
 * reads (its data files, or the input model through a symlink or hard link). Writing over the
 * input model by its own path stays allowed: the rename leaves the original inode untouched.
 */
function checkOutputTarget(out: string, path: string, model: Model, inputs: Map<string, string>): boolean {
  const st = statPath(out);
  if (!st) return false;
  if (st.isDirectory()) throw new OnnxOptError('USAGE', 'the output path is a directory', { file: path });
  if (!st.isFile()) throw new OnnxOptError('USAGE', `the output path is ${kindOf(st)}; it must be a regular file or a new name`, { file: path });
  const what = inputs.get(fileIdentity(out)!);
  if (!what) return false;
  if (what === 'the input model' && isSamePath(out, model.sourcePath)) return true;
  throw new OnnxOptError('USAGE', `the output path is ${what}${what === 'the input model' ? ' under another name (a symlink or hard link)' : ''}; choose another output path`, { file: path });
}

/** Whether `a` is the path `b` itself (its folder spelled any way), not a symlink or another link to it. */
function isSamePath(a: string, b: string | undefined): boolean {
  if (!b || basename(a) !== basename(b) || lstatSync(a).isSymbolicLink()) return false;
  try {
    return realpathSync(dirname(a)) === realpathSync(dirname(b));
  } catch {
    return false;
  }
}

function checkCompanionTarget(name: string, target: string, path: string): void {
  if (!name || name.includes('/') || name.includes('\\') || name === '.' || name === '..') throw new OnnxOptError('USAGE', `companion file name '${name}' must be a plain file name`, { file: path });
  const st = statPath(target);
  if (st && !st.isFile()) throw new OnnxOptError('USAGE', `${name} in the output folder is ${kindOf(st)}; it must be a regular file or absent`, { file: target });
}

/** Every existing folder on a data location's way down must be a real folder, not a symlink out. */
function checkSubfolders(dir: string, location: string, path: string): void {
  const parts = location.split('/').slice(0, -1);
  let at = dir;
  for (const part of parts) {
    at = join(at, part);
    const st = statPath(at, { lstat: true });
    if (!st) return;
    if (!st.isDirectory()) {
      throw new OnnxOptError('USAGE', `data location '${location}': ${at} is ${kindOf(st)}, not a folder inside the output folder`, { file: path });
    }
  }
}

/** mkdir -p that returns the folders it created (outermost first), for removal if the write fails. */
function makeDirs(dir: string, path: string): string[] {
  const missing: string[] = [];
  for (let d = dir; !lexists(d); d = dirname(d)) {
    missing.unshift(d);
    if (dirname(d) === d) break;
  }
  for (const d of missing) {
    try {
      mkdirSync(d);
    } catch (e) {
      removeCreatedDirs(missing.slice(0, missing.indexOf(d)));
      throw new OnnxOptError('IO', `cannot create the folder ${d}: ${(e as Error).message}`, { file: path, cause: e });
    }
    trackTemp(d, 'empty-dir');
  }
  return missing;
}

function removeCreatedDirs(dirs: string[]): void {
  for (const d of [...dirs].reverse()) {
    try {
      rmdirSync(d);
    } catch {
      // not empty (something else is there now): not ours to remove
    }
  }
}

/** Cleanup after a failure must not replace the failure with its own (ENOTDIR, EACCES). */
function removeQuietly(p: string): void {
  try {
    rmSync(p, { force: true });
  } catch {
    // nothing of ours is there
  }
}

function lexists(p: string): boolean {
  return statPath(p, { lstat: true }) !== undefined;
}

/** Gaps a writer may leave between tensors for alignment (onnx aligns to 64 KiB at most). */
const MAX_ALIGNMENT_GAP = 1 << 16;

/**
 * The data files that belong to the model now at `out`, which this write replaces, and may be
 * removed after it: plain names in the folder, regular files (not links), not .onnx files, not
 * read by the input, not referenced by any other .onnx in the folder, and filled by the old
 * model's own tensors (the file ends where its last tensor ends and no gap exceeds alignment
 * padding; a notes.txt some tensor points into is not the model's). When any of this cannot be
 * established, for instance another .onnx there does not parse, nothing is removed.
 */
function replacedDataFiles(out: string, dir: string, inputs: Map<string, string>): string[] {
  const st = statPath(out, { lstat: true });
  if (!st?.isFile() || st.size > MAX_PROTO_BYTES) return [];
  const old = readModelProto(out);
  if (!old) return [];
  const ranges = new Map<string, [number, number][]>();
  for (const t of externalTensors(old)) {
    const kv = new Map(t.externalData.map((e) => [e.key, e.value]));
    const loc = plainLocation(kv.get('location'));
    if (!loc) continue;
    const offset = Number(kv.get('offset') ?? 0);
    const length = kv.has('length') ? Number(kv.get('length')) : expectedBytes(t);
    if (!Number.isSafeInteger(offset) || length === undefined || !Number.isSafeInteger(length)) {
      ranges.set(loc, [[-1, -1]]); // unknown extent: never counted as owned
      continue;
    }
    const list = ranges.get(loc) ?? [];
    list.push([offset, offset + length]);
    ranges.set(loc, list);
  }
  if (ranges.size === 0) return [];
  const elsewhere = locationsOfOtherModels(dir, basename(out));
  if (!elsewhere) return [];
  const owned: string[] = [];
  for (const [loc, list] of ranges) {
    if (loc.endsWith('.onnx') || elsewhere.has(loc)) continue;
    const p = join(dir, loc);
    const fst = lstatSync(p, { throwIfNoEntry: false });
    if (!fst?.isFile() || inputs.has(fileIdentity(p)!)) continue;
    if (fillsFile(list, fst.size)) owned.push(loc);
  }
  return owned;
}

function fillsFile(ranges: [number, number][], size: number): boolean {
  const sorted = [...ranges].sort((a, b) => a[0] - b[0]);
  if (sorted.some(([s]) => s < 0)) return false;
  let end = 0;
  for (const [s, e] of sorted) {
    if (s - end >= MAX_ALIGNMENT_GAP) return false;
    end = Math.max(end, e);
  }
  return end === size;
}

/** The plain data-file names every other .onnx in `dir` references; undefined if one cannot be read. */
function locationsOfOtherModels(dir: string, self: string): Set<string> | undefined {
  const found = new Set<string>();
  for (const f of readdirSync(dir)) {
    if (!f.endsWith('.onnx') || f === self) continue;
    const st = statSync(join(dir, f), { throwIfNoEntry: false });
    if (!st?.isFile()) continue;
    if (st.size > MAX_PROTO_BYTES) return undefined;
    const m = readModelProto(join(dir, f));
    if (!m) return undefined;
    for (const t of externalTensors(m)) {
      const loc = plainLocation(t.externalData.find((e) => e.key === 'location')?.value);
      if (loc) found.add(loc);
    }
  }
  return found;
}

function readModelProto(path: string): ModelProto | undefined {
  try {
    return fromBinary(ModelProtoSchema, readFileSync(path));
  } catch {
    return undefined;
  }
}

/** A location normalized to a plain name in the model's folder, or undefined (sub-folders and escapes are never cleaned up). */
function plainLocation(loc: string | undefined): string | undefined {
  if (!loc || loc.includes('\\') || loc.includes('\0')) return undefined;
  const n = posix.normalize(loc);
  return n.includes('/') || n === '.' || n === '..' ? undefined : n;
}

function* externalTensors(m: ModelProto): Generator<TensorProto> {
  const visit = function* (g: GraphProto | undefined): Generator<TensorProto> {
    if (!g) return;
    for (const t of g.initializer) if (t.externalData.length) yield t;
    for (const n of g.node) {
      for (const a of n.attribute) {
        for (const t of [a.t, ...a.tensors]) if (t?.externalData.length) yield t;
        for (const sub of [a.g, ...a.graphs]) yield* visit(sub);
      }
    }
  };
  yield* visit(m.graph);
}

function expectedBytes(t: TensorProto): number | undefined {
  if (!isKnownDataType(t.dataType) || t.dataType === DataType.STRING) return undefined;
  const count = t.dims.reduce((a, d) => a * Number(d), 1);
  return Number.isSafeInteger(count) && count >= 0 ? byteSizeOf(t.dataType, count) : undefined;
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

/** Dead bytes (of tensors no longer written) a whole-file copy may carry: 1% of the file, at most 16 MiB. */
const MAX_DEAD_FRACTION = 0.01;
const MAX_DEAD_BYTES = 16 << 20;

/**
 * Offsets kept from the source: for each output data file, the tensors of the one source data file
 * the model still reads almost entirely (the largest, if several map to the same output). A source
 * most of whose tensors are gone (a pruned model's) is compacted instead, so the output never
 * carries holes where removed weights were.
 */
function keptLayout(
  model: Model,
  { goesExternal, baseOf, offsetFits }: { goesExternal: (t: Tensor) => boolean; baseOf: (t: Tensor) => string; offsetFits: (t: Tensor, offset: number) => boolean },
  fileFor: (base: string, bytes: number) => number,
  sizes: number[],
): Map<Tensor, { file: number; offset: number }> {
  const bySource = new Map<string, { base: string; tensors: Tensor[]; ranges: Map<number, number>; fits: boolean }>();
  for (const t of allInitializers(model.graph)) {
    const s = t.storage;
    if (s.kind !== 'external' || !goesExternal(t)) continue;
    const src = bySource.get(s.path) ?? { base: baseOf(t), tensors: [], ranges: new Map<number, number>(), fits: true };
    if (src.base !== baseOf(t)) continue;
    src.fits &&= offsetFits(t, s.offset);
    src.tensors.push(t);
    src.ranges.set(s.offset, Math.max(src.ranges.get(s.offset) ?? 0, s.length));
    bySource.set(s.path, src);
  }
  const chosen = new Map<string, { path: string; covered: number }>();
  for (const [path, src] of bySource) {
    let covered = 0;
    for (const length of src.ranges.values()) covered += length;
    const size = statSync(path).size;
    if (!src.fits || !negligible(size - covered, size)) continue;
    const best = chosen.get(src.base);
    if (!best || covered > best.covered) chosen.set(src.base, { path, covered });
  }
  const own = new Map<Tensor, { file: number; offset: number }>();
  for (const [base, { path }] of chosen) {
    const k = fileFor(base, 0);
    for (const t of bySource.get(path)!.tensors) {
      const s = t.storage as Extract<Tensor['storage'], { kind: 'external' }>;
      own.set(t, { file: k, offset: s.offset });
      sizes[k] = Math.max(sizes[k]!, s.offset + s.length);
    }
  }
  return own;
}

function negligible(dead: number, size: number): boolean {
  return dead <= Math.min(MAX_DEAD_BYTES, size * MAX_DEAD_FRACTION);
}

/**
 * The source data file that can be copied whole to make this output data file: every tensor comes
 * from that one file at its own offset, and the bytes that would be copied but belong to no written
 * tensor are negligible (so a pruned model's removed weights are not carried along).
 */
function wholeFileSource(placements: readonly Placement[]): string | undefined {
  const first = placements[0]?.tensor.storage;
  if (!first || first.kind !== 'external') return undefined;
  let covered = 0;
  for (const p of placements) {
    const s = p.tensor.storage;
    if (s.kind !== 'external' || s.path !== first.path || s.offset !== p.offset) return undefined;
    covered += s.length;
  }
  const size = statSync(first.path).size;
  return negligible(size - covered, size) ? first.path : undefined;
}

/**
 * Copies a data file whose layout is unchanged with one kernel copy (copy_file_range, or a reflink
 * where the file system has them) and trims what lies past the last tensor: the bytes never pass
 * through user space.
 */
function copyDataFile(path: string, source: string, end: number, fsync: boolean, onBytes: (n: number) => void): number {
  copyFileSync(source, path, fsConstants.COPYFILE_FICLONE);
  if (statSync(path).size !== end) truncateSync(path, end);
  if (fsync) {
    const fd = openSync(path, 'r+');
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  }
  onBytes(end);
  return end;
}

function* writeDataFile(path: string, placements: Placement[], fsync: boolean, onBytes: (n: number) => void): Generator<Step, number> {
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
        yield 'chunk';
      }
      end = Math.max(end, pos);
    }
    if (fsync) fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  return end;
}
