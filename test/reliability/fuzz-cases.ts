/**
 * Fuzz cases for the model reader. Every case is a pure function of (seed, index): a set of files
 * (the mutated model, its external data, symlinks, a canary outside the model folder) plus the save
 * options to write it back with. fuzz-runner.ts materializes and checks a case.
 *
 * Families:
 * - truncate / bitflip: bytes-level damage to a valid model or its data file;
 * - wire: field-type confusion, lying length prefixes, huge varints, duplicated / deleted /
 *   renumbered fields, in the protobuf wire format (wire.ts);
 * - tensor: huge declared dims and element counts with tiny or missing data, unknown types;
 * - external: bad offsets / lengths, `..`, absolute paths, symlinks out, loops, past end of file;
 * - nesting: deep If / Loop bodies and TypeProtos (protobuf recursion limit);
 * - graph: cycles, duplicate names, dangling references, shadowing, on hand-built and real graphs;
 * - scale: many nodes / uses / inputs, where a quadratic check would hang;
 * - paths: the model or the output is a device, a directory, a symlink to the input or its data,
 *   or under a regular file; output folders holding other models that share data, notes a stale
 *   model points into, and symlinked sub-folders (the writer must refuse or keep what is not its own).
 */
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  AttributeProtoSchema,
  GraphProtoSchema,
  ModelProtoSchema,
  NodeProtoSchema,
  OperatorSetIdProtoSchema,
  StringStringEntryProtoSchema,
  TensorProto_SegmentSchema,
  TensorProtoSchema,
  TensorShapeProto_DimensionSchema,
  TensorShapeProtoSchema,
  TypeProto_SequenceSchema,
  TypeProto_TensorSchema,
  TypeProtoSchema,
  ValueInfoProtoSchema,
  type AttributeProto,
  type GraphProto,
  type ModelProto,
  type NodeProto,
  type TensorProto,
  type TypeProto,
} from 'onnx-buf';
import { saveModel, type SaveOptions } from '../../src/io/write-model.js';
import { makeLlamaModel } from '../../src/fixtures/llama.js';
import { CONFORMANCE } from '../helpers/paths.js';
import { Rng } from './rng.js';
import { allFields, encodeVarint, parseWire, serializeWire, type WireField } from './wire.js';

export type FileSpec =
  | { kind: 'file'; path: string; bytes: Uint8Array }
  | { kind: 'dir'; path: string }
  /** A symlink at `path` (relative to the case root) pointing at `target` verbatim. */
  | { kind: 'symlink'; path: string; target: string }
  /** A character device made with mknod (1,3 is /dev/null, 1,5 /dev/zero, 1,7 /dev/full). */
  | { kind: 'device'; path: string; major: number; minor: number };

export interface FuzzCase {
  seed: number;
  index: number;
  family: Family;
  /** What was done, precise enough to read in a failure report. */
  what: string;
  /** Files under the case root; the model folder is `src/`, `outside/` holds a canary. */
  files: FileSpec[];
  /** The model to load, relative to the case root. */
  model: string;
  /** Where the model is saved, relative to the case root (default `out/model.onnx`). */
  output?: string;
  /** Files that must be byte-identical after the save, wherever they are (another model's data). */
  mustKeep?: string[];
  save: Pick<SaveOptions, 'externalData' | 'sizeThreshold'>;
}

export const FAMILIES = ['truncate', 'bitflip', 'wire', 'tensor', 'external', 'nesting', 'graph', 'scale', 'paths'] as const;
export type Family = (typeof FAMILIES)[number];

const WEIGHTS: Record<Family, number> = { truncate: 12, bitflip: 12, wire: 22, tensor: 14, external: 16, nesting: 6, graph: 16, scale: 2, paths: 4 };

export const MODEL = 'src/model.onnx';
export const CANARY = 'outside/secret.bin';
const CANARY_BYTES = new TextEncoder().encode('canary: never read me, never write me\n'.repeat(8));

// ---------------------------------------------------------------------------------------------
// Bases: valid models the mutations start from (built once per process, deterministic).
// ---------------------------------------------------------------------------------------------

export interface Base {
  name: string;
  model: Uint8Array;
  /** External data files next to the model (location → bytes). */
  data: Map<string, Uint8Array>;
}

/** A deterministic sample of the conformance corpus: every 40th model, plus the ones with subgraphs. */
export function corpusSample(): string[] {
  const dirs = readdirSync(CONFORMANCE).sort();
  const picked = new Set(dirs.filter((_, i) => i % 40 === 7));
  for (const d of ['test_if', 'test_if_seq', 'test_loop11', 'test_loop13_seq', 'test_scan9_sum', 'test_scan_sum', 'test_sequence_map_add_2_sequences_expanded', 'test_constant', 'test_range_float_type_positive_delta_expanded']) {
    if (dirs.includes(d)) picked.add(d);
  }
  return [...picked].sort();
}

let cachedBases: Base[] | undefined;

export function bases(): Base[] {
  if (cachedBases) return cachedBases;
  const out: Base[] = corpusSample().map((d) => ({ name: `corpus/${d}`, model: readFileSync(join(CONFORMANCE, d, 'model.onnx')), data: new Map() }));
  const tmp = mkdtempSync(join(tmpdir(), 'onnx-opt-fuzz-base-'));
  try {
    const kv = makeLlamaModel({ layers: 1, hidden: 16, heads: 2, kvHeads: 1, intermediate: 32, vocab: 32, seed: 1, kvCache: true });
    saveModel(kv, join(tmp, 'ext', 'model.onnx'), { externalData: 'external', sizeThreshold: 64 });
    out.push({ name: 'llama-ext', model: readFileSync(join(tmp, 'ext', 'model.onnx')), data: new Map([['model.onnx.data', readFileSync(join(tmp, 'ext', 'model.onnx.data'))]]) });
    const half = makeLlamaModel({ layers: 2, hidden: 8, heads: 2, kvHeads: 2, intermediate: 16, vocab: 16, seed: 2, dtype: 'float16' });
    saveModel(half, join(tmp, 'inline', 'model.onnx'), { externalData: 'inline' });
    out.push({ name: 'llama-fp16-inline', model: readFileSync(join(tmp, 'inline', 'model.onnx')), data: new Map() });
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  cachedBases = out;
  return out;
}

const withExternal = () => bases().filter((b) => b.data.size > 0);
const withInitializers = () => bases().filter((b) => b.name.startsWith('llama'));

// ---------------------------------------------------------------------------------------------
// Small builders for hand-made graphs.
// ---------------------------------------------------------------------------------------------

export function vi(name: string, elemType = 1, dims?: (number | bigint | string)[]) {
  const tensor = create(TypeProto_TensorSchema, { elemType });
  if (dims) {
    tensor.shape = create(TensorShapeProtoSchema, {
      dim: dims.map((d) =>
        create(TensorShapeProto_DimensionSchema, typeof d === 'string' ? { value: { case: 'dimParam', value: d } } : { value: { case: 'dimValue', value: BigInt(d) } }),
      ),
    });
  }
  return create(ValueInfoProtoSchema, { name, type: create(TypeProtoSchema, { value: { case: 'tensorType', value: tensor } }) });
}

export function nd(opType: string, input: string[], output: string[], name = '', attribute: AttributeProto[] = []): NodeProto {
  return create(NodeProtoSchema, { opType, input, output, name, attribute });
}

export function graphAttr(name: string, g: GraphProto): AttributeProto {
  return create(AttributeProtoSchema, { name, type: 5, g });
}

export function graph(init: Partial<Pick<GraphProto, 'name' | 'input' | 'output' | 'node' | 'initializer' | 'valueInfo'>>): GraphProto {
  return create(GraphProtoSchema, { name: 'g', ...init });
}

export function model(g: GraphProto, opset = 17n): ModelProto {
  return create(ModelProtoSchema, { irVersion: 8n, opsetImport: [create(OperatorSetIdProtoSchema, { version: opset })], graph: g });
}

export function modelToBytes(m: ModelProto): Uint8Array {
  return toBinary(ModelProtoSchema, m);
}

export function rawTensor(name: string, dims: (number | bigint)[], raw: Uint8Array<ArrayBuffer>, dataType = 1): TensorProto {
  return create(TensorProtoSchema, { name, dataType, dims: dims.map(BigInt), rawData: raw });
}

export function extTensor(name: string, dims: (number | bigint)[], entries: [string, string][], dataType = 1): TensorProto {
  return create(TensorProtoSchema, {
    name,
    dataType,
    dims: dims.map(BigInt),
    dataLocation: 1,
    externalData: entries.map(([key, value]) => create(StringStringEntryProtoSchema, { key, value })),
  });
}

/** A chain of If nodes `depth` deep: each then-branch holds the next If; the innermost returns x. */
export function nestedIf(depth: number): ModelProto {
  const leaf = (k: number) => graph({ name: `leaf${k}`, output: [vi(`r${k}`)], node: [nd('Identity', ['x'], [`r${k}`])] });
  let body = leaf(depth);
  for (let k = depth - 1; k >= 1; k--) {
    body = graph({ name: `b${k}`, output: [vi(`r${k}`)], node: [nd('If', ['c'], [`r${k}`], `if${k}`, [graphAttr('then_branch', body), graphAttr('else_branch', leaf(-k))])] });
  }
  return model(
    graph({
      input: [vi('c', 9), vi('x')],
      output: [vi('y')],
      node: [nd('If', ['c'], ['y'], 'if0', [graphAttr('then_branch', body), graphAttr('else_branch', leaf(0))])],
    }),
  );
}

/** A TypeProto sequence(sequence(...(tensor))) `depth` deep on the graph input. */
export function nestedSequenceType(depth: number): ModelProto {
  let t: TypeProto = create(TypeProtoSchema, { value: { case: 'tensorType', value: create(TypeProto_TensorSchema, { elemType: 1 }) } });
  for (let k = 0; k < depth; k++) t = create(TypeProtoSchema, { value: { case: 'sequenceType', value: create(TypeProto_SequenceSchema, { elemType: t }) } });
  return model(graph({ input: [create(ValueInfoProtoSchema, { name: 's', type: t })], output: [create(ValueInfoProtoSchema, { name: 's2', type: t })], node: [nd('Identity', ['s'], ['s2'])] }));
}

// ---------------------------------------------------------------------------------------------
// The generator.
// ---------------------------------------------------------------------------------------------

interface Draft {
  what: string;
  model: Uint8Array;
  files?: FileSpec[];
  data?: Map<string, Uint8Array>;
  /** Load this instead of MODEL (it is still written, as a bystander). */
  modelPath?: string;
  output?: string;
  mustKeep?: string[];
  save?: FuzzCase['save'];
}

export interface GenerateOptions {
  /** Only this family (default: the weighted mix). */
  family?: Family;
  /** Largest node / input count of the scale family (default 50,000); larger draws are clamped. */
  maxScale?: number;
}

export function generateCase(seed: number, index: number, options: GenerateOptions = {}): FuzzCase {
  const rng = Rng.forCase(seed, index);
  const family = options.family ?? rng.weighted(WEIGHTS);
  const draft = GENERATORS[family](rng, options);
  // Now and then, damage a structured case further at the bytes level.
  if ((family === 'tensor' || family === 'graph' || family === 'external') && rng.chance(0.08)) {
    draft.model = flipBits(rng, draft.model, 1);
    draft.what += ' + 1 bit flipped';
  }
  const files: FileSpec[] = [
    { kind: 'dir', path: 'src' },
    { kind: 'dir', path: 'outside' },
    { kind: 'file', path: CANARY, bytes: CANARY_BYTES },
    { kind: 'file', path: MODEL, bytes: draft.model },
  ];
  for (const [loc, bytes] of draft.data ?? []) files.push({ kind: 'file', path: `src/${loc}`, bytes });
  files.push(...(draft.files ?? []));
  const save = draft.save ?? rng.pick<FuzzCase['save']>([{}, { externalData: 'keep' }, { externalData: 'external', sizeThreshold: 0 }, { externalData: 'inline' }]);
  return {
    seed,
    index,
    family,
    what: draft.what,
    files,
    model: draft.modelPath ?? MODEL,
    save,
    ...(draft.output ? { output: draft.output } : {}),
    ...(draft.mustKeep ? { mustKeep: draft.mustKeep } : {}),
  };
}

const GENERATORS: Record<Family, (rng: Rng, options: GenerateOptions) => Draft> = {
  truncate(rng) {
    const b = rng.pick(bases());
    if (b.data.size && rng.chance(0.3)) {
      const [loc, bytes] = [...b.data][0]!;
      const at = rng.int(0, bytes.byteLength - 1);
      return { what: `${b.name}: data file ${loc} truncated to ${at} of ${bytes.byteLength} bytes`, model: b.model, data: new Map([[loc, bytes.subarray(0, at)]]) };
    }
    const at = rng.chance(0.2) ? rng.int(0, 16) : rng.int(0, b.model.byteLength - 1);
    return { what: `${b.name}: truncated to ${at} of ${b.model.byteLength} bytes`, model: b.model.subarray(0, at), data: b.data };
  },

  bitflip(rng) {
    const b = rng.pick(bases());
    const n = rng.pick([1, 1, 2, 4, 8, 32]);
    return { what: `${b.name}: ${n} bits flipped`, model: flipBits(rng, b.model, n), data: b.data };
  },

  wire(rng) {
    const b = rng.pick(bases());
    const tree = parseWire(b.model);
    if (!tree) throw new Error(`base ${b.name} does not parse as protobuf`);
    const done: string[] = [];
    const n = rng.pick([1, 1, 1, 2, 3]);
    for (let k = 0; k < n; k++) done.push(mutateWire(rng, tree));
    return { what: `${b.name}: ${done.join('; ')}`, model: serializeWire(tree), data: b.data };
  },

  tensor(rng) {
    return rng.pick(TENSOR_MUTATIONS)(rng);
  },

  external(rng) {
    return rng.pick(EXTERNAL_MUTATIONS)(rng);
  },

  nesting(rng) {
    const kind = rng.pick(['if', 'if', 'loop', 'sequence-type', 'wide']);
    if (kind === 'if') {
      const depth = rng.pick([1, 2, 8, 16, 24, 30, 32, 33, 34, 35, 40, 50, 100, 1000]);
      return { what: `If bodies nested ${depth} deep`, model: modelToBytes(nestedIf(depth)) };
    }
    if (kind === 'loop') {
      const depth = rng.pick([1, 4, 20, 32, 33, 34, 60, 500]);
      let body = graph({ name: 'lb', input: [vi('i', 7, []), vi('cond_in', 9, [])], output: [vi('cond_out', 9, [])], node: [nd('Identity', ['cond_in'], ['cond_out'])] });
      for (let k = 0; k < depth; k++) {
        body = graph({
          name: `lb${k}`,
          input: [vi(`i${k}`, 7, []), vi(`ci${k}`, 9, [])],
          output: [vi(`co${k}`, 9, [])],
          node: [nd('Loop', ['', `ci${k}`], [`co${k}`], `loop${k}`, [graphAttr('body', body)])],
        });
      }
      const m = model(graph({ input: [vi('n', 7, []), vi('c', 9, [])], output: [vi('y', 9, [])], node: [nd('Loop', ['n', 'c'], ['y'], 'outer', [graphAttr('body', body)])] }));
      return { what: `Loop bodies nested ${depth + 1} deep (inner bodies reuse names: shadowing)`, model: modelToBytes(m) };
    }
    if (kind === 'sequence-type') {
      const depth = rng.pick([1, 10, 30, 45, 48, 49, 50, 60, 200]);
      return { what: `TypeProto sequence nested ${depth} deep`, model: modelToBytes(nestedSequenceType(depth)) };
    }
    const width = rng.pick([10, 100, 1000]);
    const branches = Array.from({ length: width }, (_, k) => graph({ name: `w${k}`, output: [vi(`o${k}`)], node: [nd('Identity', ['x'], [`o${k}`])] }));
    const attr = create(AttributeProtoSchema, { name: 'branches', type: 10, graphs: branches });
    return { what: `one node with ${width} subgraphs (GRAPHS attribute)`, model: modelToBytes(model(graph({ input: [vi('x')], output: [vi('y')], node: [nd('Custom', ['x'], ['y'], 'wide', [attr])] }))) };
  },

  graph(rng) {
    if (rng.chance(0.45)) return mutateRealGraph(rng);
    return rng.pick(GRAPH_CASES)(rng);
  },

  scale(rng, options) {
    const n = Math.min(rng.pick([2000, 5000, 20000, 50000]), options.maxScale ?? 50000);
    const kind = rng.pick(['fan-out', 'chain', 'chain-reversed-cycle', 'inputs-initializers', 'outputs']);
    let m: ModelProto;
    if (kind === 'fan-out') {
      // One value read by n nodes.
      m = model(graph({ input: [vi('x')], output: [vi('y0')], node: Array.from({ length: n }, (_, k) => nd('Relu', ['x'], [`y${k}`])) }));
    } else if (kind === 'chain') {
      m = model(graph({ input: [vi('x')], output: [vi(`c${n - 1}`)], node: Array.from({ length: n }, (_, k) => nd('Relu', [k ? `c${k - 1}` : 'x'], [`c${k}`])) }));
    } else if (kind === 'chain-reversed-cycle') {
      // A chain listed last-first whose first node also reads the last: a cycle n nodes long.
      const nodes = Array.from({ length: n }, (_, k) => nd('Add', [k ? `c${k - 1}` : 'x', k ? 'x' : `c${n - 1}`], [`c${k}`], `n${k}`)).reverse();
      m = model(graph({ input: [vi('x')], output: [vi(`c${n - 1}`)], node: nodes }));
    } else if (kind === 'inputs-initializers') {
      const inputs = Array.from({ length: n }, (_, k) => vi(`i${k}`));
      const inits = Array.from({ length: n }, (_, k) => rawTensor(`w${k}`, [1], new Uint8Array(4)));
      m = model(graph({ input: [...inputs, vi('x')], initializer: inits, output: [vi('y')], node: [nd('Sum', ['x', ...Array.from({ length: 8 }, (_, k) => `w${k}`)], ['y'])] }));
    } else {
      m = model(graph({ input: [vi('x')], output: Array.from({ length: n }, () => vi('x')), node: [] }));
    }
    return { what: `scale: ${kind} with n=${n}`, model: modelToBytes(m) };
  },

  paths(rng) {
    return rng.pick(PATH_CASES)(rng);
  },
};

// ---------------------------------------------------------------------------------------------
// Paths: devices, directories, symlinks and shared folders around the model and the output.
// ---------------------------------------------------------------------------------------------

const DEVICES = [
  ['null', 1, 3],
  ['zero', 1, 5],
  ['full', 1, 7],
] as const;

/** The external-data base with its data file renamed: a model and data another model in out/ can share. */
const extBase = () => withExternal()[0]!;

const PATH_CASES: ((rng: Rng) => Draft)[] = [
  (rng) => {
    const [name, major, minor] = rng.pick(DEVICES);
    return { what: `the model is a copy of /dev/${name}`, model: extBase().model, data: extBase().data, modelPath: 'src/dev.onnx', files: [{ kind: 'device', path: 'src/dev.onnx', major, minor }] };
  },
  (rng) => {
    const target = rng.pick(['/dev/zero', '/dev/null', '/dev/full', '../outside']);
    return { what: `the model is a symlink to ${target}`, model: extBase().model, data: extBase().data, modelPath: 'src/link.onnx', files: [{ kind: 'symlink', path: 'src/link.onnx', target }] };
  },
  () => ({ what: 'the model is a directory', model: extBase().model, data: extBase().data, modelPath: 'src/dir.onnx', files: [{ kind: 'dir', path: 'src/dir.onnx' }] }),
  (rng) => {
    const target = rng.pick(['../src/model.onnx', '../src/model.onnx.data']);
    return { what: `the output is a symlink to ${target}`, model: extBase().model, data: extBase().data, files: [{ kind: 'symlink', path: 'out/model.onnx', target }] };
  },
  (rng) => {
    const [name, major, minor] = rng.pick(DEVICES);
    return { what: `the output is a copy of /dev/${name}`, model: extBase().model, data: extBase().data, files: [{ kind: 'device', path: 'out/model.onnx', major, minor }] };
  },
  () => ({ what: 'the output is a directory', model: extBase().model, data: extBase().data, files: [{ kind: 'dir', path: 'out/model.onnx' }] }),
  () => ({
    what: 'the output folder is under a regular file',
    model: extBase().model,
    data: extBase().data,
    output: 'out/file/model.onnx',
    files: [{ kind: 'file', path: 'out/file', bytes: new TextEncoder().encode('a file, not a folder') }],
  }),
  () => {
    // out/ holds a.onnx and the old model.onnx, both reading model.onnx.data: replacing model.onnx must keep it.
    const b = extBase();
    const [loc, bytes] = [...b.data][0]!;
    return {
      what: 'the output replaces a model whose data another .onnx in its folder shares',
      model: b.model,
      data: b.data,
      mustKeep: [`out/${loc}`, 'out/a.onnx'],
      files: [
        { kind: 'file', path: 'out/model.onnx', bytes: b.model },
        { kind: 'file', path: 'out/a.onnx', bytes: b.model },
        { kind: 'file', path: `out/${loc}`, bytes },
      ],
    };
  },
  (rng) => {
    // The old output's tensor reads 16 bytes of notes.txt: not its own file, so it must stay.
    const notes = new TextEncoder().encode('notes that are not model data\n'.repeat(rng.int(2, 40)));
    const w = extTensor('w', [4], [['location', 'notes.txt'], ['offset', String(rng.int(0, 8))], ['length', '16']]);
    const old = modelToBytes(model(graph({ input: [vi('x')], output: [vi('y')], initializer: [w], node: [nd('Add', ['x', 'w'], ['y'])] })));
    return {
      what: `the output replaces a model pointing into notes.txt (${notes.byteLength} bytes)`,
      model: extBase().model,
      data: extBase().data,
      mustKeep: ['out/notes.txt'],
      files: [
        { kind: 'file', path: 'out/model.onnx', bytes: old },
        { kind: 'file', path: 'out/notes.txt', bytes: notes },
      ],
    };
  },
  () => {
    // Keep mode with the data in a sub-folder that is, in the output, a symlink to outside/.
    const b = extBase();
    const m = fromBinary(ModelProtoSchema, b.model);
    const [loc, bytes] = [...b.data][0]!;
    for (const t of m.graph!.initializer) for (const e of t.externalData) if (e.key === 'location') e.value = `sub/${loc}`;
    return {
      what: 'keep mode, data in sub/, and out/sub is a symlink to ../outside',
      model: toBinary(ModelProtoSchema, m),
      save: { externalData: 'keep' },
      files: [
        { kind: 'dir', path: 'src/sub' },
        { kind: 'file', path: `src/sub/${loc}`, bytes },
        { kind: 'symlink', path: 'out/sub', target: '../outside' },
      ],
    };
  },
];

export function flipBits(rng: Rng, bytes: Uint8Array, n: number): Uint8Array {
  const out = Uint8Array.from(bytes);
  if (out.byteLength === 0) return out;
  for (let k = 0; k < n; k++) out[rng.int(0, out.byteLength - 1)]! ^= 1 << rng.int(0, 7);
  return out;
}

const HUGE_VARINTS = [2n ** 31n, 2n ** 32n + 1n, 2n ** 53n + 1n, 2n ** 62n, 2n ** 63n - 1n, 2n ** 63n, 2n ** 64n - 1n];

function mutateWire(rng: Rng, tree: WireField[]): string {
  const all = allFields(tree);
  const op = rng.pick(['retype', 'reencode', 'huge-length', 'huge-varint', 'duplicate', 'delete', 'renumber', 'overlong-varint']);
  // Prefer fields the operation applies to.
  const pickWhere = (ok: (f: WireField) => boolean) => {
    const c = all.filter((e) => ok(e.field));
    return c.length ? rng.pick(c) : rng.pick(all);
  };
  const path = (e: { field: WireField; depth: number }) => `field ${e.field.no} (wt ${e.field.wt}) at depth ${e.depth}`;
  switch (op) {
    case 'retype': {
      const e = rng.pick(all);
      const to = rng.pick([0, 1, 2, 3, 4, 5, 6, 7].filter((w) => w !== e.field.wt));
      e.field.tagWireType = to;
      return `tag of ${path(e)} says wire type ${to}`;
    }
    case 'reencode': {
      const e = rng.pick(all);
      const f = e.field;
      const before = path(e);
      if (f.wt === 2) {
        const len = BigInt(f.bytes?.byteLength ?? 0);
        const to = rng.pick([0, 1, 5]);
        f.wt = to;
        delete f.children;
        if (to === 0) f.varint = len;
        else f.bytes = new Uint8Array(to === 1 ? 8 : 4).fill(0x41);
        return `${before} re-encoded as wire type ${to}`;
      }
      const payload = f.wt === 0 ? Uint8Array.from(encodeVarint(f.varint ?? 0n)) : (f.bytes ?? new Uint8Array());
      f.wt = 2;
      f.bytes = payload;
      delete f.varint;
      return `${before} re-encoded as a length-delimited field`;
    }
    case 'huge-length': {
      const e = pickWhere((f) => f.wt === 2);
      if (e.field.wt !== 2) return 'huge-length: no length-delimited field';
      const real = BigInt(e.field.bytes?.byteLength ?? 0);
      e.field.lengthOverride = rng.pick([real + 1n, real + 1000n, 2n ** 31n - 1n, 2n ** 32n + real, 2n ** 53n, 2n ** 62n, 2n ** 64n - 1n, real > 0n ? real - 1n : 0n]);
      return `${path(e)} declares length ${e.field.lengthOverride} (has ${real})`;
    }
    case 'huge-varint': {
      const e = pickWhere((f) => f.wt === 0);
      if (e.field.wt !== 0) return 'huge-varint: no varint field';
      e.field.varint = rng.pick(HUGE_VARINTS);
      return `${path(e)} set to ${e.field.varint}`;
    }
    case 'overlong-varint': {
      // An 11-byte varint: the tag byte of an int field followed by 10 continuation bytes.
      const e = pickWhere((f) => f.wt === 2 && !!f.children);
      const bytes = new Uint8Array([0x08, ...new Array(10).fill(0xff), 0x01]);
      if (e.field.children) e.field.children.push({ no: 1, wt: 2, bytes: new Uint8Array() });
      e.parent.splice(e.parent.indexOf(e.field), 0, { no: e.field.no, wt: 2, bytes });
      return `inserted an over-long varint in a copy of ${path(e)}`;
    }
    case 'duplicate': {
      const e = rng.pick(all);
      const copy = structuredClone(e.field);
      e.parent.splice(rng.int(0, e.parent.length), 0, copy);
      return `${path(e)} duplicated`;
    }
    case 'delete': {
      const e = rng.pick(all);
      e.parent.splice(e.parent.indexOf(e.field), 1);
      return `${path(e)} deleted`;
    }
    case 'renumber': {
      const e = rng.pick(all);
      const before = path(e);
      e.field.no = rng.pick([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 20, 21, 22, 1000, 536870911]);
      return `${before} renumbered to ${e.field.no}`;
    }
  }
  return op;
}

// ---------------------------------------------------------------------------------------------
// Tensor mutations.
// ---------------------------------------------------------------------------------------------

const tiny = () => new Uint8Array([1, 2, 3, 4]);

function inGraph(tensors: TensorProto[], nodes: NodeProto[] = []): Uint8Array {
  const reads = tensors.map((t) => t.name);
  return modelToBytes(model(graph({ input: [vi('x')], output: [vi('y')], initializer: tensors, node: [...nodes, nd('Sum', ['x', ...reads], ['y'])] })));
}

const TENSOR_MUTATIONS: ((rng: Rng) => Draft)[] = [
  (rng) => {
    const dims = rng.pick<(number | bigint)[]>([[2n ** 62n], [2n ** 31n, 2n ** 31n, 2n ** 31n], [1e15], [2n ** 53n + 1n], [2n ** 50n], [2n ** 63n - 1n], [2n ** 20n, 2n ** 20n, 2n ** 20n], [0, 2n ** 62n], [0, 2n ** 40n], [-1], [-(2n ** 63n)], [3, -2]]);
    const t = rawTensor('w', dims, tiny(), rng.pick([1, 7, 11, 16, 21]));
    return { what: `initializer with dims [${dims.join(',')}] and 4 bytes of raw_data`, model: inGraph([t]) };
  },
  (rng) => {
    const dims = rng.pick<(number | bigint)[]>([[1e15], [1e9], [2n ** 40n], [1e5, 1e5], [1e3]]);
    const dataType = rng.pick([1, 6, 7, 10, 11, 13, 16, 22]);
    const t = create(TensorProtoSchema, { name: 'w', dataType, dims: dims.map(BigInt) });
    const fill = rng.pick(['none', 'one-float', 'three-int64', 'one-int32', 'segment']);
    if (fill === 'one-float') t.floatData = [1];
    if (fill === 'three-int64') t.int64Data = [1n, 2n, 3n];
    if (fill === 'one-int32') t.int32Data = [1];
    if (fill === 'segment') t.segment = create(TensorProto_SegmentSchema, { begin: 0n, end: 1n });
    return { what: `initializer type ${dataType} declaring [${dims.join(',')}] elements with ${fill} data fields`, model: inGraph([t]) };
  },
  (rng) => {
    const dims = rng.pick<(number | bigint)[]>([[1e15], [2n ** 40n], [1e6], [2n ** 62n]]);
    const t = rawTensor('value', dims, tiny());
    const inFields = rng.chance(0.5);
    if (inFields) {
      delete (t as { rawData?: unknown }).rawData;
      t.floatData = [1];
    }
    const attr = create(AttributeProtoSchema, { name: 'value', type: 4, t });
    const c = nd('Constant', [], ['k'], 'const', [attr]);
    return { what: `Constant attribute tensor declaring [${dims.join(',')}] with ${inFields ? 'one float_data value' : '4 bytes of raw_data'}`, model: modelToBytes(model(graph({ input: [vi('x')], output: [vi('y')], node: [c, nd('Add', ['x', 'k'], ['y'])] }))) };
  },
  (rng) => {
    const dataType = rng.pick([0, 17, 23, 24, 25, 26, 99, -1, 2 ** 31 - 1]);
    return { what: `initializer of data type ${dataType}`, model: inGraph([rawTensor('w', [1], tiny(), dataType)]) };
  },
  (rng) => {
    const b = rng.pick(withInitializers());
    const m = fromBinary(ModelProtoSchema, b.model);
    const inits = m.graph!.initializer;
    const t = rng.pick(inits);
    const op = rng.pick(['dims-grow', 'dims-huge', 'dtype', 'drop-raw', 'raw-shrink', 'dims-negative']);
    if (op === 'dims-grow') t.dims = [...t.dims, 3n];
    if (op === 'dims-huge') t.dims = [2n ** 40n, ...t.dims];
    if (op === 'dtype') t.dataType = rng.pick([1, 7, 10, 11, 2, 8]);
    if (op === 'drop-raw') delete (t as { rawData?: unknown }).rawData;
    if (op === 'raw-shrink' && t.rawData.byteLength) t.rawData = t.rawData.subarray(1);
    if (op === 'dims-negative') t.dims = t.dims.map((d) => -d);
    return { what: `${b.name}: initializer '${t.name}' ${op}`, model: toBinary(ModelProtoSchema, m), data: b.data };
  },
  (rng) => {
    // value_info and graph inputs declaring absurd dims.
    const dims = rng.pick<(number | bigint | string)[]>([[2n ** 62n], [-1], [2n ** 63n - 1n, 2n ** 63n - 1n], ['', 0], [-(2n ** 63n)]]);
    const elemType = rng.pick([1, 0, 99, 8]);
    return {
      what: `graph input and value_info with dims [${dims.join(',')}], elem type ${elemType}`,
      model: modelToBytes(model(graph({ input: [vi('x', elemType, dims)], output: [vi('y', elemType, dims)], valueInfo: [vi('y', 1, dims)], node: [nd('Relu', ['x'], ['y'])] }))),
    };
  },
];

// ---------------------------------------------------------------------------------------------
// External data mutations.
// ---------------------------------------------------------------------------------------------

const BAD_NUMBERS = ['-1', '-0', '-9223372036854775808', '18446744073709551616', '99999999999999999999999', '9007199254740993', '1e3', ' 12', '12 ', '0x10', '', '+4', '4.0', '٣', '1_000', 'NaN', 'Infinity'];

/** Rewrites the external_data entries of one or all external tensors of the ext fixture. */
function editExternal(rng: Rng, edit: (entries: Map<string, string>, t: TensorProto, size: number) => string, all = false): Draft {
  const b = rng.pick(withExternal());
  const m = fromBinary(ModelProtoSchema, b.model);
  const ext = m.graph!.initializer.filter((t) => t.dataLocation === 1);
  const targets = all ? ext : [rng.pick(ext)];
  const size = [...b.data.values()][0]!.byteLength;
  let what = '';
  for (const t of targets) {
    const entries = new Map(t.externalData.map((e) => [e.key, e.value]));
    what = edit(entries, t, size);
    t.externalData = [...entries].map(([key, value]) => create(StringStringEntryProtoSchema, { key, value }));
  }
  return { what: `${b.name}: ${all ? 'every external tensor' : `tensor '${targets[0]!.name}'`}: ${what}`, model: toBinary(ModelProtoSchema, m), data: b.data };
}

const EXTERNAL_MUTATIONS: ((rng: Rng) => Draft)[] = [
  (rng) =>
    editExternal(rng, (e) => {
      const v = rng.pick(BAD_NUMBERS);
      e.set('offset', v);
      return `offset '${v}'`;
    }),
  (rng) =>
    editExternal(rng, (e) => {
      const v = rng.pick(BAD_NUMBERS);
      e.set('length', v);
      return `length '${v}'`;
    }),
  (rng) =>
    editExternal(rng, (e, _t, size) => {
      const off = rng.pick([size, size - 1, size + 1, 2 ** 53 - 1, 2 ** 40, Number(e.get('offset') ?? 0) + 1]);
      e.set('offset', String(off));
      if (rng.chance(0.5)) e.delete('length');
      return `offset ${off} (file has ${size} bytes)${e.has('length') ? '' : ', no length'}`;
    }),
  (rng) =>
    editExternal(rng, (e, _t, size) => {
      const len = rng.pick([size + 1, 2 ** 53 - 1, 2 ** 40, 0, Number(e.get('length') ?? 0) - 1, Number(e.get('length') ?? 0) * 2]);
      e.set('length', String(len));
      return `length ${len}`;
    }),
  (rng) =>
    editExternal(
      rng,
      (e) => {
        const loc = rng.pick(['../outside/secret.bin', 'sub/../../outside/secret.bin', '..', '..\\outside\\secret.bin', '/etc/passwd', '/dev/zero', '/proc/self/environ', '//server/share/x', 'C:\\Windows\\win.ini', 'C:/x', '\\\\?\\C:\\x', 'file:///etc/passwd', '.', '', './', 'a\0b', 'model.onnx', 'sub', 'missing.bin', 'model.onnx.data/', './model.onnx.data', 'sub/../model.onnx.data']);
        e.set('location', loc);
        return `location ${JSON.stringify(loc)}`;
      },
      rng.chance(0.5),
    ),
  (rng) => {
    const kind = rng.pick(['file-out', 'dir-out', 'dev-zero', 'etc', 'loop', 'dangling', 'chain-out', 'inside']);
    const links: Record<string, FileSpec[]> = {
      'file-out': [{ kind: 'symlink', path: 'src/link.bin', target: '../outside/secret.bin' }],
      'dir-out': [{ kind: 'symlink', path: 'src/link.bin', target: '../outside' }],
      'dev-zero': [{ kind: 'symlink', path: 'src/link.bin', target: '/dev/zero' }],
      etc: [{ kind: 'symlink', path: 'src/link.bin', target: '/etc/passwd' }],
      loop: [{ kind: 'symlink', path: 'src/link.bin', target: 'link.bin' }],
      dangling: [{ kind: 'symlink', path: 'src/link.bin', target: 'nowhere.bin' }],
      'chain-out': [
        { kind: 'symlink', path: 'src/link.bin', target: 'hop.bin' },
        { kind: 'symlink', path: 'src/hop.bin', target: '../outside/secret.bin' },
      ],
      inside: [{ kind: 'symlink', path: 'src/link.bin', target: 'model.onnx.data' }],
    };
    const d = editExternal(rng, (e) => (e.set('location', kind === 'dir-out' && rng.chance(0.5) ? 'link.bin/secret.bin' : 'link.bin'), `location through a symlink (${kind})`), rng.chance(0.5));
    d.files = links[kind];
    return d;
  },
  (rng) => {
    const d = editExternal(rng, (e) => (e.set('location', 'sub'), 'location is a directory'));
    d.files = [{ kind: 'dir', path: 'src/sub' }];
    return d;
  },
  (rng) =>
    editExternal(rng, (e) => {
      const op = rng.pick(['no-location', 'no-entries', 'dup-location', 'unknown-key', 'checksum']);
      if (op === 'no-location') e.delete('location');
      if (op === 'no-entries') e.clear();
      if (op === 'unknown-key') e.set('basepath', '/etc');
      if (op === 'checksum') e.set('checksum', 'deadbeef');
      return op;
    }),
  (rng) => {
    // External data in places the reader does not resolve it: a Constant attribute, a subgraph.
    const where = rng.pick(['attribute', 'subgraph', 'string']);
    const data = new Map([['w.bin', new Uint8Array(64)]]);
    const entries: [string, string][] = [['location', 'w.bin'], ['offset', '0'], ['length', '16']];
    if (where === 'attribute') {
      const c = nd('Constant', [], ['k'], 'const', [create(AttributeProtoSchema, { name: 'value', type: 4, t: extTensor('value', [4], entries) })]);
      return { what: 'Constant attribute tensor with external data', model: modelToBytes(model(graph({ input: [vi('x')], output: [vi('y')], node: [c, nd('Add', ['x', 'k'], ['y'])] }))), data };
    }
    if (where === 'string') {
      return { what: 'string tensor in external data without a length', model: inGraph([extTensor('w', [2], [['location', 'w.bin']], 8)]), data };
    }
    const body = graph({ name: 'then', initializer: [extTensor('w', [4], entries)], output: [vi('r')], node: [nd('Add', ['x', 'w'], ['r'])] });
    const m = model(graph({ input: [vi('c', 9), vi('x')], output: [vi('y')], node: [nd('If', ['c'], ['y'], 'if', [graphAttr('then_branch', body), graphAttr('else_branch', graph({ name: 'else', output: [vi('x')] }))])] }));
    return { what: 'external initializer inside an If body', model: modelToBytes(m), data };
  },
];

// ---------------------------------------------------------------------------------------------
// Graph-structure cases.
// ---------------------------------------------------------------------------------------------

const GRAPH_CASES: ((rng: Rng) => Draft)[] = [
  () => ({ what: 'self loop', model: modelToBytes(model(graph({ input: [vi('x')], output: [vi('a')], node: [nd('Add', ['x', 'a'], ['a'], 'self')] }))) }),
  (rng) => {
    const n = rng.pick([2, 3, 10, 200]);
    const nodes = Array.from({ length: n }, (_, k) => nd('Add', ['x', `c${(k + n - 1) % n}`], [`c${k}`], `n${k}`));
    return { what: `cycle of ${n} nodes`, model: modelToBytes(model(graph({ input: [vi('x')], output: [vi('c0')], node: nodes }))) };
  },
  () => {
    const body = graph({ name: 'then', output: [vi('b')], node: [nd('Relu', ['a'], ['b']), nd('Neg', ['b'], ['a'])] });
    return { what: 'cycle inside an If body', model: ifModel(body) };
  },
  () => {
    // The If node reads, through its body, the value it produces itself.
    const body = graph({ name: 'then', output: [vi('r')], node: [nd('Add', ['x', 'y'], ['r'])] });
    return { what: 'cycle through an outer-scope read of a subgraph', model: ifModel(body) };
  },
  (rng) => {
    const which = rng.pick(['node-output-twice', 'input-twice', 'initializer-twice', 'output-is-input', 'init-and-node-output', 'duplicate-outputs', 'duplicate-node-names', 'duplicate-value-info', 'empty-names', 'subgraph-shadows', 'subgraph-redefines-input']);
    const x = vi('x');
    const w = () => rawTensor('w', [1], tiny());
    const g = (init: Parameters<typeof graph>[0]) => modelToBytes(model(graph({ input: [x], output: [vi('y')], ...init })));
    const cases: Record<string, () => Uint8Array> = {
      'node-output-twice': () => g({ node: [nd('Relu', ['x'], ['y'], 'a'), nd('Neg', ['x'], ['y'], 'b')] }),
      'input-twice': () => g({ input: [x, vi('x')], node: [nd('Relu', ['x'], ['y'])] }),
      'initializer-twice': () => g({ initializer: [w(), w()], node: [nd('Add', ['x', 'w'], ['y'])] }),
      'output-is-input': () => g({ node: [nd('Relu', ['x'], ['x'])], output: [vi('x')] }),
      'init-and-node-output': () => g({ initializer: [w()], node: [nd('Relu', ['x'], ['w']), nd('Add', ['x', 'w'], ['y'])] }),
      'duplicate-outputs': () => g({ node: [nd('Relu', ['x'], ['y'])], output: [vi('y'), vi('y'), vi('x')] }),
      'duplicate-node-names': () => g({ node: [nd('Relu', ['x'], ['t'], 'same'), nd('Relu', ['t'], ['y'], 'same')] }),
      'duplicate-value-info': () => g({ node: [nd('Relu', ['x'], ['y'])], valueInfo: [vi('y'), vi('y', 7), vi('nothing')] }),
      'empty-names': () => g({ input: [x, vi('')], node: [nd('Relu', ['', 'x'], ['', 'y'], ''), nd('Neg', [''], [''])], output: [vi('y'), vi('')] }),
      'subgraph-shadows': () => ifModel(graph({ name: 'then', output: [vi('x')], node: [nd('Relu', ['y'], ['x'])] })),
      'subgraph-redefines-input': () => ifModel(graph({ name: 'then', input: [vi('x')], output: [vi('x')] })),
    };
    return { what: `duplicate names: ${which}`, model: cases[which]!() };
  },
  (rng) => {
    const which = rng.pick(['node-input', 'graph-output', 'subgraph-read', 'subgraph-output', 'later-value', 'sibling-subgraph']);
    const cases: Record<string, () => Uint8Array> = {
      'node-input': () => modelToBytes(model(graph({ input: [vi('x')], output: [vi('y')], node: [nd('Add', ['x', 'ghost'], ['y'])] }))),
      'graph-output': () => modelToBytes(model(graph({ input: [vi('x')], output: [vi('ghost')], node: [] }))),
      'subgraph-read': () => ifModel(graph({ name: 'then', output: [vi('r')], node: [nd('Relu', ['ghost'], ['r'])] })),
      'subgraph-output': () => ifModel(graph({ name: 'then', output: [vi('ghost')] })),
      'later-value': () =>
        modelToBytes(model(graph({ input: [vi('x')], output: [vi('z')], node: [nd('Relu', ['y'], ['z'], 'first'), nd('Neg', ['x'], ['y'], 'second')] }))),
      'sibling-subgraph': () => {
        const then = graph({ name: 'then', output: [vi('inner')], node: [nd('Relu', ['x'], ['inner'])] });
        const other = graph({ name: 'else', output: [vi('r2')], node: [nd('Relu', ['inner'], ['r2'])] });
        return modelToBytes(model(graph({ input: [vi('c', 9), vi('x')], output: [vi('y')], node: [nd('If', ['c'], ['y'], 'if', [graphAttr('then_branch', then), graphAttr('else_branch', other)])] })));
      },
    };
    return { what: `dangling reference: ${which}`, model: cases[which]!() };
  },
  (rng) => {
    const which = rng.pick(['graph-attr-without-graph', 'graphs-empty', 'unknown-attr-type', 'tensor-attr-empty', 'ref-attr', 'int-attr-huge', 'attr-type-mismatch', 'no-graph', 'no-op-type']);
    const attr: Record<string, AttributeProto> = {
      'graph-attr-without-graph': create(AttributeProtoSchema, { name: 'then_branch', type: 5 }),
      'graphs-empty': create(AttributeProtoSchema, { name: 'bodies', type: 10 }),
      'unknown-attr-type': create(AttributeProtoSchema, { name: 'a', type: 99 as 0, i: 3n }),
      'tensor-attr-empty': create(AttributeProtoSchema, { name: 'value', type: 4 }),
      'ref-attr': create(AttributeProtoSchema, { name: 'alpha', type: 1, refAttrName: 'outer_alpha' }),
      'int-attr-huge': create(AttributeProtoSchema, { name: 'axis', type: 2, i: 2n ** 63n - 1n }),
      'attr-type-mismatch': create(AttributeProtoSchema, { name: 'axis', type: 7, f: 1.5, s: new Uint8Array([0xff, 0xfe]) }),
    };
    if (which === 'no-graph') return { what: 'model without a graph', model: modelToBytes(create(ModelProtoSchema, { irVersion: 8n })) };
    if (which === 'no-op-type') return { what: 'node without op_type', model: modelToBytes(model(graph({ input: [vi('x')], output: [vi('y')], node: [nd('', ['x'], ['y'])] }))) };
    return { what: `attribute: ${which}`, model: modelToBytes(model(graph({ input: [vi('x')], output: [vi('y')], node: [nd('Custom', ['x'], ['y'], 'n', [attr[which]!])] }))) };
  },
  (rng) => {
    const which = rng.pick(['opset-huge', 'ir-huge', 'ir-negative', 'model-version-huge', 'no-opset', 'opset-duplicate']);
    const m = model(graph({ input: [vi('x')], output: [vi('y')], node: [nd('Relu', ['x'], ['y'])] }));
    if (which === 'opset-huge') m.opsetImport[0]!.version = 2n ** 62n;
    if (which === 'ir-huge') m.irVersion = 2n ** 63n - 1n;
    if (which === 'ir-negative') m.irVersion = -5n;
    if (which === 'model-version-huge') m.modelVersion = -(2n ** 63n);
    if (which === 'no-opset') m.opsetImport = [];
    if (which === 'opset-duplicate') m.opsetImport.push(create(OperatorSetIdProtoSchema, { version: 9n }));
    return { what: `model fields: ${which}`, model: modelToBytes(m) };
  },
];

function ifModel(then: GraphProto): Uint8Array {
  const otherwise = graph({ name: 'else', output: [vi('x')] });
  return modelToBytes(model(graph({ input: [vi('c', 9), vi('x')], output: [vi('y')], node: [nd('If', ['c'], ['y'], 'if', [graphAttr('then_branch', then), graphAttr('else_branch', otherwise)])] })));
}

/** Rewires a real model: a random input renamed, a node duplicated or dropped, outputs renamed, order reversed. */
function mutateRealGraph(rng: Rng): Draft {
  const b = rng.pick(bases());
  const m = fromBinary(ModelProtoSchema, b.model);
  const g = m.graph!;
  const nodes = g.node;
  if (nodes.length === 0) return { what: `${b.name}: unchanged (no nodes)`, model: b.model, data: b.data };
  const names = [...g.input.map((v) => v.name), ...g.initializer.map((t) => t.name), ...nodes.flatMap((n) => n.output)].filter(Boolean);
  const op = rng.pick(['rewire-input', 'duplicate-node', 'drop-node', 'rename-output', 'reverse', 'output-to-input', 'drop-input', 'drop-initializer']);
  const n = rng.pick(nodes);
  let what = op;
  if (op === 'rewire-input' && n.input.length) {
    const k = rng.int(0, n.input.length - 1);
    n.input[k] = rng.chance(0.8) ? rng.pick(names) : 'ghost';
    what = `node '${n.name}' input ${k} := '${n.input[k]}'`;
  } else if (op === 'duplicate-node') nodes.splice(rng.int(0, nodes.length), 0, structuredClone(n));
  else if (op === 'drop-node') nodes.splice(nodes.indexOf(n), 1);
  else if (op === 'rename-output' && n.output.length) {
    n.output[0] = rng.pick(names);
    what = `node '${n.name}' output 0 := '${n.output[0]}'`;
  } else if (op === 'reverse') nodes.reverse();
  else if (op === 'output-to-input' && n.input.length && n.output.length) {
    // A node reading what it (or a later node) writes.
    const last = nodes[nodes.length - 1]!;
    n.input[0] = rng.chance(0.5) ? n.output[0]! : (last.output[0] ?? 'ghost');
    what = `node '${n.name}' reads '${n.input[0]}'`;
  } else if (op === 'drop-input' && g.input.length) g.input.splice(rng.int(0, g.input.length - 1), 1);
  else if (op === 'drop-initializer' && g.initializer.length) g.initializer.splice(rng.int(0, g.initializer.length - 1), 1);
  return { what: `${b.name}: ${what}`, model: toBinary(ModelProtoSchema, m), data: b.data };
}

/** Writes a case's files under `root` (which must exist and be empty). */
export function materialize(c: FuzzCase, root: string): void {
  for (const f of c.files) {
    const p = join(root, f.path);
    if (f.kind === 'dir') mkdirSync(p, { recursive: true }); // src/ and outside/ usually exist already
    else if (f.kind === 'file') writeFileSync(p, f.bytes);
    else if (f.kind === 'device') execFileSync('mknod', [p, 'c', String(f.major), String(f.minor)]);
    else symlinkSync(f.target, p);
  }
}
