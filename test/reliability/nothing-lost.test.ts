/**
 * Nothing lost: for random Llama fixtures dressed up with everything a real export may carry
 * (metadata_props and doc strings at every level, extra opset imports, a FunctionProto and a node
 * calling it, value_info), `load → save` with no passes gives the same bytes, and `canonicalize`
 * keeps inputs, outputs, names, metadata, doc strings, opsets and functions, and is idempotent:
 * a second run on its own output changes nothing, byte for byte.
 */
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  FunctionProtoSchema,
  ModelProtoSchema,
  OperatorSetIdProtoSchema,
  StringStringEntryProtoSchema,
  TypeProto_TensorSchema,
  TypeProtoSchema,
  ValueInfoProtoSchema,
  type GraphProto,
  type ModelProto,
  type StringStringEntryProto,
} from 'onnx-buf';
import { beforeAll, describe, expect, it } from 'vitest';
import { saveModel } from '../../src/io/write-model.js';
import { makeLlamaModel, type LlamaFixtureOptions } from '../../src/fixtures/llama.js';
import { loadModel } from '../../src/io/read-model.js';
import { registerBuiltinPasses } from '../../src/passes/builtin.js';
import { runPipeline } from '../../src/passes/pass-manager.js';
import { tempDir } from '../helpers/paths.js';
import { nd } from './fuzz-cases.js';
import { Rng } from './rng.js';

const SEED = 4242;
const TRIALS = 24;

const TEXTS = ['', 'plain', 'with\nnewlines\tand tabs', 'unicode: ü ß 漢字 🚀', '"quotes" and \\backslashes\\', 'x'.repeat(300)];

function randomConfig(rng: Rng): LlamaFixtureOptions {
  const heads = rng.pick([1, 2, 4]);
  const kvHeads = rng.pick([1, 2, 4].filter((k) => heads % k === 0));
  const headDim = rng.pick([2, 4, 8]);
  return {
    layers: rng.int(0, 2),
    hidden: heads * headDim,
    heads,
    kvHeads,
    intermediate: rng.pick([4, 16, 48]),
    vocab: rng.pick([8, 16, 40]),
    dtype: rng.pick(['float32', 'float16'] as const),
    kvCache: rng.chance(0.5),
    blankNames: rng.chance(0.2),
    seed: rng.int(0, 1000),
  };
}

const props = (rng: Rng, prefix: string): StringStringEntryProto[] =>
  Array.from({ length: rng.int(0, 3) }, (_, i) => create(StringStringEntryProtoSchema, { key: `${prefix}.${i}`, value: rng.pick(TEXTS) }));

/** Adds what a real export may carry and the fixture does not. */
function dressUp(m: ModelProto, rng: Rng): void {
  const g = m.graph!;
  m.docString = rng.pick(TEXTS);
  m.metadataProps.push(...props(rng, 'model'));
  m.producerVersion = rng.pick(['', '2.5.1', 'ü']);
  m.modelVersion = BigInt(rng.int(0, 9));
  m.opsetImport.push(create(OperatorSetIdProtoSchema, { domain: 'com.microsoft', version: 1n }));
  if (rng.chance(0.5)) m.opsetImport.push(create(OperatorSetIdProtoSchema, { domain: 'ai.onnx.ml', version: 3n }));
  g.docString = rng.pick(TEXTS);
  g.metadataProps.push(...props(rng, 'graph'));
  for (const n of g.node) {
    if (rng.chance(0.3)) n.docString = rng.pick(TEXTS);
    if (rng.chance(0.2)) n.metadataProps.push(...props(rng, 'node'));
  }
  for (const v of [...g.input, ...g.output]) if (rng.chance(0.5)) v.docString = rng.pick(TEXTS);
  // value_info for some node outputs, typed or not.
  const known = new Set([...g.valueInfo.map((v) => v.name), ...g.output.map((v) => v.name)]);
  for (const n of g.node) {
    const o = n.output[0];
    if (!o || known.has(o) || !rng.chance(0.15)) continue;
    known.add(o);
    const typed = n.opType === 'Shape' && rng.chance(0.7);
    g.valueInfo.push(
      create(ValueInfoProtoSchema, {
        name: o,
        docString: rng.pick(TEXTS),
        ...(typed ? { type: create(TypeProtoSchema, { value: { case: 'tensorType', value: create(TypeProto_TensorSchema, { elemType: 7 }) } }) } : {}),
      }),
    );
  }
  // A model-local function and (sometimes) a node calling it, its result an extra graph output.
  const fn = create(FunctionProtoSchema, {
    name: 'ScaledRelu',
    domain: 'custom.functions',
    input: ['X'],
    output: ['Y'],
    node: [nd('Relu', ['X'], ['Y'], 'relu_in_function')],
    opsetImport: [create(OperatorSetIdProtoSchema, { domain: '', version: 17n })],
    docString: rng.pick(TEXTS),
    metadataProps: props(rng, 'function'),
  });
  m.functions.push(fn);
  m.opsetImport.push(create(OperatorSetIdProtoSchema, { domain: 'custom.functions', version: 1n }));
  if (rng.chance(0.6)) {
    const logits = g.output[0]!;
    const call = nd('ScaledRelu', [logits.name], ['scaled_logits'], 'call_scaled_relu');
    call.domain = 'custom.functions';
    call.docString = 'calls a model-local function';
    g.node.push(call);
    g.output.push(create(ValueInfoProtoSchema, { name: 'scaled_logits', docString: 'function output' }));
  }
}

interface Source {
  dir: string;
  path: string;
  proto: ModelProto;
  external: boolean;
}

/** Writes a random dressed-up fixture (half of them with external data) to a fresh folder. */
function makeSource(rng: Rng, k: number): Source {
  const dir = join(tempDir('onnx-opt-lost-'), `m${k}`);
  mkdirSync(dir);
  const path = join(dir, 'model.onnx');
  const external = rng.chance(0.5);
  const config = randomConfig(rng);
  // The writer's defaults lay data files out the way a re-save does: what is compared is the IR's doing.
  saveModel(makeLlamaModel(config), path, external ? { externalData: 'external' } : {});
  const proto = fromBinary(ModelProtoSchema, readFileSync(path));
  dressUp(proto, rng);
  writeFileSync(path, toBinary(ModelProtoSchema, proto));
  return { dir, path, proto, external };
}

/** The files of a folder with their bytes. */
function files(dir: string): Map<string, Buffer> {
  return new Map(readdirSync(dir).sort().map((f) => [f, readFileSync(join(dir, f))]));
}

function expectSameFiles(a: string, b: string, label: string): void {
  const fa = files(a);
  const fb = files(b);
  expect([...fb.keys()], label).toEqual([...fa.keys()]);
  for (const [name, bytes] of fa) expect(fb.get(name)!.equals(bytes), `${label}: ${name} differs`).toBe(true);
}

const bytesOf = (xs: { $typeName: string }[], schema: Parameters<typeof toBinary>[0]) => xs.map((x) => Buffer.from(toBinary(schema, x as never)).toString('base64'));

/** What canonicalize must keep: the envelope, the interface, every surviving node's and value's annotations. */
function expectKept(src: ModelProto, out: ModelProto, label: string): void {
  expect(out.irVersion, label).toBe(src.irVersion);
  expect(out.producerName).toBe(src.producerName);
  expect(out.producerVersion).toBe(src.producerVersion);
  expect(out.modelVersion).toBe(src.modelVersion);
  expect(out.docString).toBe(src.docString);
  expect(out.metadataProps.map((e) => [e.key, e.value])).toEqual(src.metadataProps.map((e) => [e.key, e.value]));
  expect(out.opsetImport.map((o) => [o.domain, o.version])).toEqual(src.opsetImport.map((o) => [o.domain, o.version]));
  expect(bytesOf(out.functions, FunctionProtoSchema), `${label}: functions`).toEqual(bytesOf(src.functions, FunctionProtoSchema));
  const g = out.graph!;
  const s = src.graph!;
  expect(g.name).toBe(s.name);
  expect(g.docString).toBe(s.docString);
  expect(g.metadataProps.map((e) => [e.key, e.value])).toEqual(s.metadataProps.map((e) => [e.key, e.value]));
  // Graph inputs and outputs: same names, order, types and doc strings.
  expect(bytesOf(g.input, ValueInfoProtoSchema), `${label}: inputs`).toEqual(bytesOf(s.input, ValueInfoProtoSchema));
  expect(bytesOf(g.output, ValueInfoProtoSchema), `${label}: outputs`).toEqual(bytesOf(s.output, ValueInfoProtoSchema));
  // Nodes that survive keep their name, doc string and metadata; so do value_info entries of surviving values.
  const survivors = new Map(g.node.filter((n) => n.name).map((n) => [n.name, n]));
  for (const n of s.node) {
    const kept = n.name ? survivors.get(n.name) : undefined;
    if (!kept) continue;
    expect(kept.docString, `${label}: doc string of ${n.name}`).toBe(n.docString);
    expect(kept.metadataProps.map((e) => [e.key, e.value])).toEqual(n.metadataProps.map((e) => [e.key, e.value]));
  }
  expect(survivors.get('call_scaled_relu')?.domain ?? 'custom.functions').toBe('custom.functions');
  if (s.node.some((n) => n.name === 'call_scaled_relu')) expect(survivors.has('call_scaled_relu'), `${label}: the function call`).toBe(true);
  // Values still produced by a node: folding turns a Constant's output into a new initializer, which
  // (like the removed Constant node's doc string) does not carry the old value_info over.
  const defined = new Set(g.node.flatMap((n) => n.output));
  const infos = new Map(g.valueInfo.map((v) => [v.name, v]));
  for (const v of s.valueInfo) {
    if (!defined.has(v.name)) continue;
    expect(infos.get(v.name)?.docString, `${label}: value_info ${v.name}`).toBe(v.docString);
  }
}

describe('nothing lost', () => {
  const rng = new Rng(SEED);
  const sources: Source[] = [];

  beforeAll(() => {
    registerBuiltinPasses();
    for (let k = 0; k < TRIALS; k++) sources.push(makeSource(rng, k));
  });

  it(`load → save with no passes is byte-identical (${TRIALS} random dressed-up fixtures, inline and external)`, () => {
    expect(sources.filter((s) => s.external).length).toBeGreaterThan(0);
    expect(sources.filter((s) => !s.external).length).toBeGreaterThan(0);
    for (const [k, s] of sources.entries()) {
      for (const options of [{}, { externalData: 'keep' as const }]) {
        const out = join(tempDir('onnx-opt-lost-out-'), 'model.onnx');
        saveModel(loadModel(s.path), out, options);
        expectSameFiles(s.dir, join(out, '..'), `source ${k} saved with ${JSON.stringify(options)}`);
      }
    }
  });

  it('canonicalize keeps the interface, names, metadata, doc strings, opsets and functions, and is idempotent byte for byte', async () => {
    let changedSomething = 0;
    for (const [k, s] of sources.entries()) {
      const m = loadModel(s.path);
      const first = await runPipeline(m, 'canonicalize');
      if (first.modified) changedSomething++;
      const once = join(tempDir('onnx-opt-lost-canon-'), 'model.onnx');
      saveModel(m, once);
      const canonical = fromBinary(ModelProtoSchema, readFileSync(once));
      expectKept(s.proto, canonical, `source ${k} after canonicalize`);

      // A model canonicalize cannot change: its own output.
      const again = loadModel(once);
      const second = await runPipeline(again, 'canonicalize');
      expect(second.modified, `source ${k}: second canonicalize`).toBe(false);
      const twice = join(tempDir('onnx-opt-lost-canon2-'), 'model.onnx');
      saveModel(again, twice);
      expectSameFiles(join(once, '..'), join(twice, '..'), `source ${k}: canonicalize twice`);
    }
    // The fixtures hold foldable constants, so the first run did something on most of them.
    expect(changedSomething).toBeGreaterThan(0);
  });
});
