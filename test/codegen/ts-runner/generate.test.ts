import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { elementType, emitRunner, formatSource, generateRunner, planRunner, writeRunner, type RunnerPlan } from '../../../src/codegen/ts-runner/index.js';
import { defaultClassName } from '../../../src/codegen/ts-runner/plan.js';
import { dimsType, identifier } from '../../../src/codegen/ts-runner/types.js';
import { saveModel } from '../../../src/io/write-model.js';
import { OnnxOptError } from '../../../src/errors.js';
import { loadModel } from '../../../src/io/read-model.js';
import { GraphBuilder } from '../../../src/ir/builder.js';
import { DataType } from '../../../src/ir/dtype.js';
import type { Model } from '../../../src/ir/model.js';
import { attnPrune } from '../../../src/passes/attn-prune/attn-prune.js';
import { ffnFuse } from '../../../src/passes/ffn-fusion/ffn-fuse.js';
import { argmax, DecoderRunner } from '../../../src/runtime/decoder-inputs.js';
import { TINYLLAMA, TINYLLAMA_KV } from '../../helpers/paths.js';
import { builderModel, REPO, scratchProject, withCheckedDecoderInputs } from './fixtures.js';

/** The part of a generated module the tests use (the module itself is typed; the test imports it at run time). */
interface TensorLike {
  data: ArrayLike<number | bigint | string>;
  dims: readonly number[];
}
interface Runner {
  session: { inputNames: readonly string[] };
  run(inputs: Record<string, TensorLike>): Promise<Record<string, TensorLike>>;
  generate?(tokens: readonly number[], options: { maxNewTokens: number; temperature: number; seed?: number; stopTokens?: number[]; onToken?: (t: number) => void }): Promise<number[]>;
  release(): Promise<void>;
}
interface RunnerModule {
  MODEL_PATH: string;
  MODEL_SHA256: string;
  CACHE?: readonly { layer: number | undefined; past: string; present: string; type: string; emptyDims: readonly number[] }[];
  [className: string]: unknown;
}
type RunnerClass = { create(options?: Record<string, unknown>): Promise<Runner> };

const PROMPT = [...Buffer.from('The package manager ')];
const ONE_THREAD = { sessionOptions: { intraOpNumThreads: 1, interOpNumThreads: 1 } };
const CTX = { log() {}, report: {}, services: {} };

function runnerClass(mod: RunnerModule, name: string): RunnerClass {
  const c = mod[name];
  if (typeof c !== 'function') throw new Error(`the module has no class ${name}`);
  return c as unknown as RunnerClass;
}

async function greedyReference(model: Model, prompt: readonly number[], n: number): Promise<number[]> {
  const r = await DecoderRunner.create(model);
  try {
    return (await r.greedy(prompt, n))[0]!;
  } finally {
    await r.release();
  }
}

/** The sampler the generated generate() documents: mulberry32(seed) and softmax(logits / T). */
function referenceSampler(seed: number, temperature: number): (logits: Float32Array) => number {
  let a = seed >>> 0;
  const random = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return (logits) => {
    const max = Math.max(...logits);
    const w = Array.from(logits, (x) => Math.exp((x - max) / temperature));
    let r = random() * w.reduce((s, x) => s + x, 0);
    for (let i = 0; i < w.length; i++) if ((r -= w[i]!) < 0) return i;
    return argmax(logits);
  };
}

function tsc(cwd: string, files: string[], extra: string[] = []): void {
  const args = ['--strict', '--noEmit', '--module', 'nodenext', '--moduleResolution', 'nodenext', '--target', 'es2022', '--skipLibCheck', ...extra, ...files];
  try {
    execFileSync(join(REPO, 'node_modules', '.bin', 'tsc'), args, { cwd, encoding: 'utf8', stdio: 'pipe' });
  } catch (e) {
    const out = e as { stdout?: string; stderr?: string };
    throw new Error(`tsc failed:\n${out.stdout ?? ''}${out.stderr ?? ''}`);
  }
}

/** A file using the generated types the way a user would; each @ts-expect-error must be an error. */
const CONSUMER = `import { CACHE, Tinyllama16lKvRunner, type Inputs, type Outputs } from './tinyllama.js';
import type { Inputs as PrunedInputs } from './pruned.js';
import { BuilderRunner, type Inputs as BuilderInputs } from './builder.js';

export const past: Inputs['past_key_values.3.value'] = { data: new Float32Array(0), dims: [1, 2, 0, 24] };
export const ids: Inputs['input_ids'] = { data: BigInt64Array.from([72n, 105n]), dims: [1, 2] };
// @ts-expect-error the KV-head dimension is fixed at 2
export const badFixed: Inputs['past_key_values.3.value'] = { data: new Float32Array(0), dims: [1, 3, 0, 24] };
// @ts-expect-error input_ids has rank 2
export const badRank: Inputs['input_ids'] = { data: new BigInt64Array(1), dims: [1] };
// @ts-expect-error int64 data is a BigInt64Array
export const badType: Inputs['input_ids'] = { data: new Int32Array(1), dims: [1, 1] };
export const vocab: Outputs['logits']['dims'][2] = 256;
// @ts-expect-error the vocabulary is 256
export const badVocab: Outputs['logits']['dims'][2] = 255;
export const pairs: readonly string[] = CACHE.map((c) => c.past + '<-' + c.present);
export type PrunedHasLayer6 = 'past_key_values.6.key' extends keyof PrunedInputs ? true : false;
export const prunedHasLayer6: PrunedHasLayer6 = false;
export const prunedHasLayer5: 'past_key_values.5.key' extends keyof PrunedInputs ? true : false = true;
export const builderInputs: BuilderInputs = {
  x: { data: new Float32Array(8), dims: [2, 4] },
  h: { data: new Uint16Array(8), dims: [2, 4] },
  f: { data: new Uint8Array(2), dims: [2] },
  i: { data: new BigInt64Array(6), dims: [2, 3] },
  s: { data: ['a', 'b'], dims: [2] },
};

export async function use(r: Tinyllama16lKvRunner, b: BuilderRunner): Promise<number[]> {
  const out = await b.run(builderInputs);
  const y: Float32Array = out.y.data;
  // @ts-expect-error a non-decoder runner has no generate()
  void b.generate;
  // @ts-expect-error temperature is required
  await r.generate([1], { maxNewTokens: 1 });
  return [...y, ...(await r.generate([72], { maxNewTokens: 4, temperature: 0.7, seed: 1 }))];
}
`;

describe('generateRunner (ts-morph TypeScript runner)', () => {
  let dir: string;
  const sources: Record<string, string> = {};
  let prunedModel: Model;
  let checkedModel: Model;

  beforeAll(async () => {
    dir = scratchProject();
    const kv = loadModel(TINYLLAMA_KV);
    sources.tinyllama = readFileSync(writeRunner(kv, join(dir, 'tinyllama.ts'), { modelPath: TINYLLAMA_KV }).path, 'utf8');

    prunedModel = loadModel(TINYLLAMA_KV);
    await attnPrune({ layers: [6, 7] }).run(prunedModel, CTX);
    await ffnFuse({ groups: [[5, 7]] }).run(prunedModel, CTX);
    saveModel(prunedModel, join(dir, 'pruned.onnx'));
    sources.pruned = readFileSync(writeRunner(prunedModel, join(dir, 'pruned.ts'), { modelPath: join(dir, 'pruned.onnx') }).path, 'utf8');

    checkedModel = withCheckedDecoderInputs(loadModel(TINYLLAMA_KV));
    saveModel(checkedModel, join(dir, 'checked.onnx'));
    sources.checked = readFileSync(writeRunner(checkedModel, join(dir, 'checked.ts'), { modelPath: join(dir, 'checked.onnx') }).path, 'utf8');

    const builder = builderModel();
    saveModel(builder, join(dir, 'builder.onnx'));
    sources.builder = readFileSync(writeRunner(builder, join(dir, 'builder.ts'), { modelPath: join(dir, 'builder.onnx') }).path, 'utf8');

    // A CommonJS package: the runner finds its folder with __dirname instead of import.meta.url.
    mkdirSync(join(dir, 'cjs'));
    writeFileSync(join(dir, 'cjs', 'package.json'), JSON.stringify({ type: 'commonjs' }));
    sources.cjs = readFileSync(writeRunner(kv, join(dir, 'cjs', 'runner.ts'), { modelPath: TINYLLAMA_KV, module: 'commonjs' }).path, 'utf8');

    // The other element types generate() handles (type-checked only): int32 ids/mask/positions,
    // float16 logits, a cache mixing float16 and float32.
    const base = planRunner(withCheckedDecoderInputs(loadModel(TINYLLAMA_KV)), { modelPath: 'half.onnx', modelHash: '0'.repeat(64) });
    const halfPast = (name: string) => /^(past_key_values|present)\.[0-7]\./.test(name);
    const retype = (s: RunnerPlan['inputs'][number]): RunnerPlan['inputs'][number] => {
      const dtype = ['input_ids', 'attention_mask', 'position_ids'].includes(s.name) ? DataType.INT32 : s.name === 'logits' || halfPast(s.name) ? DataType.FLOAT16 : s.dtype;
      return { ...s, dtype, element: elementType(dtype)! };
    };
    const d = base.decoder!;
    const half: RunnerPlan = {
      ...base,
      className: 'HalfRunner',
      inputs: base.inputs.map(retype),
      outputs: base.outputs.map(retype),
      decoder: {
        ...d,
        inputIds: { ...d.inputIds, type: 'int32' },
        attentionMask: { ...d.attentionMask!, type: 'int32' },
        positionIds: { ...d.positionIds!, type: 'int32' },
        logits: { ...d.logits, type: 'float16' },
        cache: d.cache.map((c) => (halfPast(c.past) ? { ...c, type: 'float16' } : c)),
      },
    };
    sources.half = emitRunner(half);
    writeFileSync(join(dir, 'half.ts'), sources.half);

    writeFileSync(join(dir, 'consumer.ts'), CONSUMER);
  });

  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('type-checks with tsc --strict (ESM and CommonJS), and its types reject wrong inputs', () => {
    // One program: the runners, and a consumer whose @ts-expect-error lines must all be errors.
    tsc(dir, ['tinyllama.ts', 'pruned.ts', 'checked.ts', 'builder.ts', 'half.ts', 'cjs/runner.ts', 'consumer.ts']);
  });

  it('type-checks under the strictest common flags too', () => {
    const extra = [
      '--noUncheckedIndexedAccess',
      '--exactOptionalPropertyTypes',
      '--noUnusedLocals',
      '--noUnusedParameters',
      '--noImplicitReturns',
      '--noImplicitOverride',
      '--noPropertyAccessFromIndexSignature',
      '--verbatimModuleSyntax',
    ];
    tsc(dir, ['tinyllama.ts', 'pruned.ts', 'checked.ts', 'builder.ts', 'half.ts'], extra);
  });

  it('is formatted, with a header naming the model, its SHA-256 and "do not edit"', () => {
    for (const src of Object.values(sources)) expect(formatSource(src)).toBe(src);
    const hash = createHash('sha256').update(readFileSync(TINYLLAMA_KV)).digest('hex');
    const head = sources.tinyllama!.slice(0, sources.tinyllama!.indexOf('*/'));
    expect(head).toContain(`model:  ${TINYLLAMA_KV}`);
    expect(head).toContain(`sha256: ${hash}`);
    expect(head).toContain('generated by onnx-opt — do not edit');
    expect(sources.tinyllama).toContain(`export const MODEL_SHA256 = '${hash}';`);
    // The default path is relative to the runner's folder (writeRunner), so they can move together.
    expect(sources.pruned).toContain("export const MODEL_PATH = './pruned.onnx';");
    // Typed fields with documented shapes.
    expect(sources.tinyllama).toContain('input_ids: Tensor<BigInt64Array, readonly [batch_size: number, sequence_length: number]>;');
    expect(sources.tinyllama).toContain('/** `float32` `[batch_size, sequence_length, 256]` */');
    expect(sources.builder).toContain('h: Tensor<Uint16Array, readonly [batch: number, dim1: 4]>;');
    expect(sources.builder).not.toMatch(/scale\??:/);
    expect(sources.builder).toContain('initializer default keep it (onnxruntime-node does not feed them): scale');
    expect(sources.builder).toContain('s: Tensor<string[], readonly [dim0: 2]>;');
  });

  it('tinyllama-16l-kv: generate() at temperature 0 equals a greedy decode through the runtime bridge', async () => {
    const mod = (await import(join(dir, 'tinyllama.ts'))) as RunnerModule;
    expect(mod.CACHE).toHaveLength(32);
    expect(mod.CACHE![0]).toEqual({ layer: 0, past: 'past_key_values.0.key', present: 'present.0.key', type: 'float32', emptyDims: [1, 2, 0, 24] });
    const runner = await runnerClass(mod, 'Tinyllama16lKvRunner').create({ ...ONE_THREAD, verifyHash: true });
    try {
      const tokens = await runner.generate!(PROMPT, { maxNewTokens: 16, temperature: 0 });
      expect(tokens).toHaveLength(16);
      expect(tokens).toEqual(await greedyReference(loadModel(TINYLLAMA_KV), PROMPT, 16));
      expect(await runner.generate!(PROMPT, { maxNewTokens: 0, temperature: 0 })).toEqual([]);

      // stopTokens ends at the first one (included); onToken sees each token.
      const seen: number[] = [];
      const stopAt = tokens[3]!;
      const stopped = await runner.generate!(PROMPT, { maxNewTokens: 16, temperature: 0, stopTokens: [stopAt], onToken: (t) => seen.push(t) });
      expect(stopped).toEqual(tokens.slice(0, tokens.indexOf(stopAt) + 1));
      expect(seen).toEqual(stopped);

      // run(): one prefill from empty pasts, as the bridge does it.
      const empty = { data: new Float32Array(0), dims: [1, 2, 0, 24] };
      const inputs: Record<string, TensorLike> = { input_ids: { data: BigInt64Array.from(PROMPT, BigInt), dims: [1, PROMPT.length] } };
      for (const c of mod.CACHE!) inputs[c.past] = empty;
      const out = await runner.run(inputs);
      expect(out.logits!.dims).toEqual([1, PROMPT.length, 256]);
      expect(out['present.15.value']!.dims).toEqual([1, 2, PROMPT.length, 24]);
      const bridge = await DecoderRunner.create(loadModel(TINYLLAMA_KV));
      const ref = await bridge.prefill(PROMPT);
      await bridge.release();
      expect(Array.from(out.logits!.data as Float32Array)).toEqual(Array.from(ref.logits.data as Float32Array));

      // Symbolic sizes must agree across inputs; fixed sizes must match.
      const wrongBatch = { ...inputs, 'past_key_values.4.key': { data: new Float32Array(0), dims: [2, 2, 0, 24] } };
      await expect(runner.run(wrongBatch)).rejects.toThrow("input 'past_key_values.4.key': batch_size is 2 here but 1 in 'input_ids'");
      const wrongFixed = { ...inputs, 'past_key_values.4.key': { data: new Float32Array(0), dims: [1, 3, 0, 24] } };
      await expect(runner.run(wrongFixed)).rejects.toThrow('do not fit [batch_size, 2, past_sequence_length, 24]');
      const { input_ids: _dropped, ...missing } = inputs;
      await expect(runner.run(missing)).rejects.toThrow("missing input 'input_ids'");
    } finally {
      await runner.release();
    }
  });

  it('seeded sampling: same seed, same tokens, exactly the documented sampler', async () => {
    const mod = (await import(join(dir, 'tinyllama.ts'))) as RunnerModule;
    const runner = await runnerClass(mod, 'Tinyllama16lKvRunner').create(ONE_THREAD);
    try {
      const a = await runner.generate!(PROMPT, { maxNewTokens: 16, temperature: 0.9, seed: 42 });
      const b = await runner.generate!(PROMPT, { maxNewTokens: 16, temperature: 0.9, seed: 42 });
      expect(a).toEqual(b);
      const bridge = await DecoderRunner.create(loadModel(TINYLLAMA_KV));
      const pick = referenceSampler(42, 0.9);
      const ref = await bridge.generate(PROMPT, 16, (row) => pick(row));
      await bridge.release();
      expect(a).toEqual(ref[0]);
      await expect(runner.generate!(PROMPT, { maxNewTokens: 2, temperature: -1 })).rejects.toThrow('temperature');
      await expect(runner.generate!([], { maxNewTokens: 2, temperature: 0 })).rejects.toThrow('empty');
    } finally {
      await runner.release();
    }
  });

  it('pruned + fused: only the remaining cache pairs are fed back, and decoding matches the bridge', async () => {
    const mod = (await import(join(dir, 'pruned.ts'))) as RunnerModule;
    const layers = [0, 1, 2, 3, 4, 5, 8, 9, 10, 11, 12, 13, 14, 15];
    expect(mod.CACHE!.map((c) => [c.layer, c.past, c.present])).toEqual(
      layers.flatMap((l) => [
        [l, `past_key_values.${l}.key`, `present.${l}.key`],
        [l, `past_key_values.${l}.value`, `present.${l}.value`],
      ]),
    );
    expect(sources.pruned).not.toMatch(/past_key_values\.[67]\./);
    expect(sources.pruned).toContain('KV cache: 28 past/present pairs, layers 0-5, 8-15; layers 6-7 have no attention, hence no cache.');
    // The default model path (relative to the runner) opens the pruned model.
    const runner = await runnerClass(mod, 'PrunedRunner').create(ONE_THREAD);
    try {
      const tokens = await runner.generate!(PROMPT, { maxNewTokens: 16, temperature: 0 });
      expect(tokens).toEqual(await greedyReference(loadModel(join(dir, 'pruned.onnx')), PROMPT, 16));
    } finally {
      await runner.release();
    }
  });

  it('fills attention_mask, position_ids, seqlens_k, total_sequence_length and use_cache_branch when declared', async () => {
    expect(sources.checked).toContain("attention_mask: new ort.Tensor('int64', new BigInt64Array(total).fill(1n), [1, total]),");
    expect(sources.checked).toContain('position_ids: new ort.Tensor(');
    expect(sources.tinyllama).not.toContain('attention_mask');
    const mod = (await import(join(dir, 'checked.ts'))) as RunnerModule;
    const runner = await runnerClass(mod, 'CheckedRunner').create(ONE_THREAD);
    try {
      // The model adds 1000 × (distance of each of these inputs from the right value) to its logits.
      const tokens = await runner.generate!(PROMPT, { maxNewTokens: 16, temperature: 0 });
      expect(tokens).toEqual(await greedyReference(loadModel(TINYLLAMA_KV), PROMPT, 16));
      // ...which catches a wrong feed: run() with positions off by one.
      const S = PROMPT.length;
      const inputs: Record<string, TensorLike> = {
        input_ids: { data: BigInt64Array.from(PROMPT, BigInt), dims: [1, S] },
        attention_mask: { data: new BigInt64Array(S).fill(1n), dims: [1, S] },
        position_ids: { data: BigInt64Array.from(PROMPT, (_, i) => BigInt(i)), dims: [1, S] },
        seqlens_k: { data: Int32Array.from([S - 1]), dims: [1] },
        total_sequence_length: { data: Int32Array.from([S]), dims: [] },
        use_cache_branch: { data: Uint8Array.from([0]), dims: [1] },
      };
      for (const c of mod.CACHE!) inputs[c.past] = { data: new Float32Array(0), dims: c.emptyDims };
      const right = (await runner.run(inputs)).logits!.data as Float32Array;
      const shifted = { ...inputs, position_ids: { data: BigInt64Array.from(PROMPT, (_, i) => BigInt(i + 1)), dims: [1, S] } };
      const wrong = (await runner.run(shifted)).logits!.data as Float32Array;
      expect(wrong[0]! - right[0]!).toBeCloseTo(1000 * S, 0);
    } finally {
      await runner.release();
    }
  });

  it('a non-decoder model gets run() but no generate(); every element type round-trips', async () => {
    expect(sources.builder).not.toMatch(/generate\(|GenerateOptions/);
    expect(sources.builder).not.toContain('CACHE');
    const mod = (await import(join(dir, 'builder.ts'))) as RunnerModule;
    const Runner = runnerClass(mod, 'BuilderRunner');
    expect('generate' in (Runner as unknown as { prototype: object }).prototype).toBe(false);
    const runner = await Runner.create();
    try {
      const inputs: Record<string, TensorLike> = {
        x: { data: Float32Array.from([1, 1, 1, 1, 0, 0, 0, 0]), dims: [2, 4] },
        h: { data: Uint16Array.from([0x3c00, 0x4000, 0xc000, 0, 1, 2, 3, 0x7bff]), dims: [2, 4] },
        f: { data: Uint8Array.from([1, 0]), dims: [2] },
        i: { data: BigInt64Array.from([1n, -2n, 3n]), dims: [1, 3] },
        s: { data: ['a', 'b'], dims: [2] },
      };
      // batch is 2 in x but 1 in i: refused before onnxruntime sees it.
      await expect(runner.run(inputs)).rejects.toThrow("input 'i': batch is 1 here but 2 in 'x'");
      inputs.i = { data: BigInt64Array.from([1n, -2n, 3n, 4n, 5n, 6n]), dims: [2, 3] };
      const out = await runner.run(inputs);
      expect(Array.from(out.y!.data as Float32Array)).toEqual([4, 6, 8, 10, 2, 4, 6, 8]); // (x + c) * default scale 2
      expect(out.half!.data).toBeInstanceOf(Uint16Array);
      expect(Array.from(out.half!.data as Uint16Array)).toEqual(Array.from(inputs.h!.data as Uint16Array));
      expect(Array.from(out.flag!.data as ArrayLike<number>, Number)).toEqual([0, 1]);
      expect(out.ids!.data).toEqual(inputs.i.data);
      expect(out.ids!.dims).toEqual([2, 3]);
      expect(Array.from(out.names!.data as string[])).toEqual(['a', 'b']);
    } finally {
      await runner.release();
    }
  });

  it('create() refuses a model that does not fit, and a changed file when verifyHash is set', async () => {
    const mod = (await import(join(dir, 'tinyllama.ts'))) as RunnerModule;
    const Runner = runnerClass(mod, 'Tinyllama16lKvRunner');
    const pruned = join(dir, 'pruned.onnx');
    await expect(Runner.create({ modelPath: pruned, verifyHash: true })).rejects.toThrow('is not that of the model this runner was generated from');
    await expect(Runner.create({ modelPath: pruned })).rejects.toThrow("is not the model this runner was generated for: it has no input 'past_key_values.6.key'");
  });

  it('models without a KV cache get no generate(); unsupported element types are refused', () => {
    const plain = planRunner(loadModel(TINYLLAMA), { modelPath: TINYLLAMA, modelHash: '0'.repeat(64) });
    expect(plain.decoder).toBeUndefined();
    expect(plain.className).toBe('Tinyllama16lRunner');

    const b = new GraphBuilder();
    const x = b.input('x', DataType.BFLOAT16, [2]);
    b.output(b.setType(b.op('Identity', [x]), DataType.BFLOAT16, [2]));
    expect(() => generateRunner(b.build(), { modelPath: 'bf16.onnx', modelHash: '0' })).toThrow(OnnxOptError);
    expect(() => generateRunner(b.build(), { modelPath: 'bf16.onnx', modelHash: '0' })).toThrow('no bf16 tensors');
    expect(() => generateRunner(builderModel(), { modelPath: 'x.onnx', modelHash: '0', className: 'not a name' })).toThrow('not a TypeScript identifier');
    expect(() => generateRunner(builderModel(), { modelPath: join(dir, 'missing.onnx') })).toThrow('no such file');
    expect(generateRunner(builderModel(), { modelPath: 'models/b.onnx', modelHash: 'abc', className: 'B' })).toContain("export const MODEL_PATH = './models/b.onnx';");
  });

  it('names: class names from file names, dims tuples, identifiers', () => {
    expect(defaultClassName('/m/tinyllama-16l-kv.onnx')).toBe('Tinyllama16lKvRunner');
    expect(defaultClassName('7b.onnx')).toBe('Model7bRunner');
    expect(dimsType(['batch_size', 2, 'past_sequence_length + 1', null])).toBe(
      'readonly [batch_size: number, dim1: 2, past_sequence_length_1: number, dim3: number]',
    );
    expect(dimsType([])).toBe('readonly []');
    expect(dimsType(undefined)).toBe('readonly number[]');
    expect(identifier('class')).toBe('class_');
    expect(identifier('2d')).toBe('_2d');
  });
});
