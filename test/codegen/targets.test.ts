import { fromBinary } from '@bufbuild/protobuf';
import { readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { ModelProtoSchema } from 'onnx-buf';
import * as ort from 'onnxruntime-node';
import { afterAll, describe, expect, it } from 'vitest';
import { serializeModel, saveModel } from '../../src/io/write-model.js';
import {
  assertTarget,
  checkTarget,
  formatTargetProblems,
  missingOn,
  opCounts,
  parseRanges,
  supportOf,
  TargetCheckError,
  type Target,
} from '../../src/codegen/targets/check.js';
import { EP_TABLE, type EpTarget } from '../../src/codegen/targets/ep-table.js';
import { assertOpset, checkOpset } from '../../src/codegen/targets/opset.js';
import { isOnnxOptError } from '../../src/errors.js';
import { makeLlamaModel } from '../../src/fixtures/llama.js';
import { loadModel } from '../../src/io/read-model.js';
import { Attribute } from '../../src/ir/attribute.js';
import { GraphBuilder } from '../../src/ir/builder.js';
import { DataType } from '../../src/ir/dtype.js';
import { Graph } from '../../src/ir/graph.js';
import type { Model } from '../../src/ir/model.js';
import { tempDir, TINYLLAMA, TINYLLAMA_KV } from '../helpers/paths.js';

const F = DataType.FLOAT;
const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** A model around one node: `x` (dtype, [4]) in, the node's first output out. */
function oneNode(opType: string, opts: { opset?: number; domain?: string; name?: string; dtype?: DataType; inputs?: number; attrs?: Record<string, number | number[]> } = {}): Model {
  const b = new GraphBuilder(undefined, [{ domain: '', version: opts.opset ?? 17 }]);
  const dt = opts.dtype ?? F;
  const xs = Array.from({ length: opts.inputs ?? 1 }, (_, i) => b.input(`x${i}`, dt, [4]));
  const y = b.op(opType, xs, opts.attrs ?? {}, { domain: opts.domain, name: opts.name ?? `${opType.toLowerCase()}_node` });
  b.setType(y, dt, [4]);
  b.output(y);
  return b.build();
}

/** Unique (float) and StringNormalizer (string): CPU kernels, no CUDA ones (OperatorKernels.md). */
function cpuOnlyModel(): Model {
  const b = new GraphBuilder();
  const x = b.input('x', F, [6]);
  const u = b.op('Unique', [x], {}, { name: 'dedupe' });
  b.setType(u, F, [null]);
  b.output(u, 'uniques');
  const s = b.input('s', DataType.STRING, [3]);
  const n = b.op('StringNormalizer', [s], { case_change_action: 'LOWER' }, { name: 'lowercase' });
  b.setType(n, DataType.STRING, [null]);
  b.output(n, 'normalized');
  const r = b.op('Relu', [x], {}, { name: 'fine' });
  b.setType(r, F, [6]);
  b.output(r, 'relu');
  return b.build();
}

describe('EP table', () => {
  it('parses, and records what each EP implements', () => {
    for (const t of ['cpu', 'cuda', 'tensorrt'] as EpTarget[]) {
      for (const ops of Object.values(EP_TABLE[t].domains)) for (const r of Object.values(ops)) expect(() => parseRanges(r)).not.toThrow();
    }
    expect(parseRanges('7-12,13,14+')).toEqual([
      { from: 7, to: 12 },
      { from: 13, to: 13 },
      { from: 14, to: undefined },
    ]);
    const cpu = opCounts('cpu');
    const cuda = opCounts('cuda');
    const trt = opCounts('tensorrt');
    expect(cpu.byDomain['ai.onnx']).toBeGreaterThan(180);
    expect(cpu.byDomain['com.microsoft']).toBeGreaterThan(60);
    expect(cuda.byDomain['ai.onnx']).toBeGreaterThan(140);
    expect(cuda.byDomain['com.microsoft']).toBeGreaterThan(60);
    expect(trt.byDomain['ai.onnx']).toBeGreaterThan(150);
    expect(Object.keys(EP_TABLE.tensorrt.domains)).toEqual(['']);
    expect(missingOn('cuda')).toEqual(expect.arrayContaining(['Unique', 'StringNormalizer', 'TfIdfVectorizer', 'ai.onnx.ml::TreeEnsemble']));
  });

  it('has the contrib ops LLM graphs use on CPU and CUDA', () => {
    const contrib = [
      'SkipSimplifiedLayerNormalization', 'SkipLayerNormalization', 'GroupQueryAttention', 'MultiHeadAttention', 'Attention',
      'RotaryEmbedding', 'MatMulNBits', 'FastGelu', 'BiasGelu', 'EmbedLayerNormalization', 'SparseAttention', 'QuickGelu',
    ];
    for (const t of ['cpu', 'cuda'] as EpTarget[]) {
      for (const op of contrib) expect(supportOf(t, 'com.microsoft', op, 1), `${t} ${op}`).toEqual({ ok: true, via: 'kernel' });
      // ORT registers SimplifiedLayerNormalization in the default domain.
      expect(supportOf(t, '', 'SimplifiedLayerNormalization', 17).ok).toBe(true);
      expect(supportOf(t, 'ai.onnx', 'LayerNormalization', 14).ok).toBe(true);
    }
    expect(supportOf('tensorrt', 'com.microsoft', 'GroupQueryAttention', 1)).toEqual({
      ok: false,
      reason: "TensorRT's ONNX parser does not support com.microsoft::GroupQueryAttention",
    });
  });
});

describe('checkTarget', () => {
  it('passes the real torch.onnx exports for CUDA (and every other target)', () => {
    for (const path of [TINYLLAMA, TINYLLAMA_KV]) {
      const m = loadModel(path);
      for (const t of ['cuda', 'tensorrt', 'cpu', 'any'] as Target[]) {
        const r = checkTarget(m, t);
        expect(r.problems, `${path} ${t}: ${formatTargetProblems(r)}`).toEqual([]);
        expect(r.ok).toBe(true);
      }
      expect(checkOpset(m)).toEqual([]);
    }
  });

  it('passes the llama fixtures for CUDA and TensorRT', () => {
    const base = { layers: 2, hidden: 32, heads: 4, kvHeads: 2, intermediate: 64, vocab: 64 };
    for (const opts of [base, { ...base, kvCache: true }, { ...base, dtype: 'float16' as const, kvCache: true }, { ...base, blankNames: true }]) {
      const m = makeLlamaModel(opts);
      for (const t of ['cuda', 'tensorrt'] as Target[]) {
        const r = checkTarget(m, t);
        expect(r.problems, formatTargetProblems(r)).toEqual([]);
        expect(() => assertTarget(m, t)).not.toThrow();
      }
      expect(checkOpset(m)).toEqual([]);
    }
  });

  it('fails a model with CPU-only ops for CUDA, naming the nodes', () => {
    const m = cpuOnlyModel();
    const r = checkTarget(m, 'cuda');
    expect(r.ok).toBe(false);
    expect(r.problems).toEqual([
      { node: 'dedupe', op: 'Unique', reason: 'no CUDA kernel for Unique', severity: 'error' },
      { node: 'lowercase', op: 'StringNormalizer', reason: 'no CUDA kernel for StringNormalizer', severity: 'error' },
    ]);
    expect(formatTargetProblems(r)).toBe(
      'error: dedupe (Unique): no CUDA kernel for Unique\nerror: lowercase (StringNormalizer): no CUDA kernel for StringNormalizer',
    );
    expect(formatTargetProblems(r, 'cuda', { max: 1 })).toBe('error: dedupe (Unique): no CUDA kernel for Unique\n... and 1 more problem for CUDA');

    let err: unknown;
    try {
      assertTarget(m, 'cuda', { file: 'model.onnx' });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(TargetCheckError);
    expect(isOnnxOptError(err) && err.code).toBe('UNSUPPORTED');
    const te = err as TargetCheckError;
    expect(te.nodes).toEqual(['dedupe', 'lowercase']);
    expect(te.message).toBe(
      'model.onnx: cannot target CUDA: 2 nodes unsupported: dedupe (Unique), lowercase (StringNormalizer); first: no CUDA kernel for Unique',
    );

    // TensorRT cannot take them either; CPU can.
    expect(checkTarget(m, 'tensorrt').problems.map((p) => p.node)).toEqual(['dedupe', 'lowercase']);
    expect(checkTarget(m, 'cpu')).toEqual({ target: 'cpu', ok: true, problems: [] });
  });

  it('`any` warns (no GPU EP takes the node) instead of failing', () => {
    const r = checkTarget(cpuOnlyModel(), 'any');
    expect(r.ok).toBe(true);
    expect(r.problems.map((p) => [p.node, p.severity])).toEqual([
      ['dedupe', 'warning'],
      ['lowercase', 'warning'],
    ]);
    expect(r.problems[0]!.reason).toBe("no CUDA kernel for Unique; TensorRT's ONNX parser does not support Unique (ORT would run it on CPU)");
    expect(() => assertTarget(cpuOnlyModel(), 'any')).not.toThrow();
    // One GPU EP is enough: Mean has no CUDA kernel but TensorRT takes it.
    expect(checkTarget(oneNode('Mean', { inputs: 2 }), 'cuda').ok).toBe(false);
    expect(checkTarget(oneNode('Mean', { inputs: 2 }), 'any').problems).toEqual([]);
  });

  it('reports opset ranges the EP has no kernel for', () => {
    expect(checkTarget(oneNode('Gelu', { name: 'act', opset: 17 }), 'cuda').problems).toEqual([
      { node: 'act', op: 'Gelu', reason: 'Gelu requires opset ≥ 20 on CUDA, model imports 17', severity: 'error' },
    ]);
    expect(checkTarget(oneNode('Gelu', { opset: 20 }), 'cuda').ok).toBe(true);
    expect(checkTarget(oneNode('Upsample', { name: 'up', opset: 13, inputs: 2 }), 'cuda').problems[0]!.reason).toBe(
      'Upsample requires opset ≤ 9 on CUDA, model imports 13',
    );
    expect(checkTarget(oneNode('Relu', { name: 'r', opset: 25 }), 'tensorrt').problems[0]!.reason).toBe('Relu requires opset ≤ 24 on TensorRT, model imports 25');
    expect(checkTarget(oneNode('Relu', { opset: 25 }), 'cuda').ok).toBe(true);
  });

  it('checks the element type of CUDA contrib attention kernels', () => {
    const gqa = (dt: DataType) => {
      const b = new GraphBuilder();
      const q = b.input('q', dt, [1, 1, 64]);
      const k = b.input('k', dt, [1, 1, 32]);
      const v = b.input('v', dt, [1, 1, 32]);
      const y = b.op('GroupQueryAttention', [q, k, v], { num_heads: 4, kv_num_heads: 2 }, { domain: 'com.microsoft', name: 'attn' });
      b.output(y);
      return b.build();
    };
    expect(checkTarget(gqa(F), 'cuda').problems).toEqual([
      {
        node: 'attn',
        op: 'com.microsoft::GroupQueryAttention',
        reason: 'CUDA has no float kernel for com.microsoft::GroupQueryAttention (bfloat16, float16 only)',
        severity: 'error',
      },
    ]);
    expect(checkTarget(gqa(DataType.FLOAT16), 'cuda').ok).toBe(true);
    expect(checkTarget(gqa(F), 'cpu').ok).toBe(true);
  });

  it('knows ORT-specific cases: Constant, inlined ONNX functions, the default-domain SimplifiedLayerNormalization', () => {
    // Constant nodes become initializers when ORT loads the model.
    expect(supportOf('cuda', '', 'Constant', 17)).toEqual({ ok: true, via: 'loader' });
    // CastLike has no kernel anywhere; ORT inlines its function body.
    expect(supportOf('cuda', '', 'CastLike', 17)).toEqual({ ok: true, via: 'function' });
    // Celu has a body too, but CPU has a kernel, so ORT would run it there rather than on CUDA.
    expect(supportOf('cuda', '', 'Celu', 17).ok).toBe(false);
    expect(checkTarget(oneNode('SimplifiedLayerNormalization', { domain: 'com.microsoft', name: 'norm', inputs: 2 }), 'cuda').problems[0]!.reason).toBe(
      'no CUDA kernel for com.microsoft::SimplifiedLayerNormalization (CUDA has SimplifiedLayerNormalization in the default domain)',
    );
  });

  it('flags imported domains no EP implements, and nodes in them', () => {
    const m = oneNode('Relu');
    m.opsetImports.push({ domain: 'com.example', version: 3 });
    const r = checkTarget(m, 'cuda');
    expect(r.ok).toBe(true);
    expect(r.problems).toEqual([
      {
        node: '(opset_import)',
        op: 'com.example',
        reason: "the model imports domain 'com.example' (version 3), which no execution provider implements",
        severity: 'warning',
      },
    ]);
    const custom = oneNode('Frobnicate', { domain: 'com.example', name: 'f' });
    const r2 = checkTarget(custom, 'cuda');
    expect(r2.ok).toBe(false);
    expect(r2.problems.map((p) => [p.node, p.op, p.severity])).toEqual([
      ['(opset_import)', 'com.example', 'warning'],
      ['f', 'com.example::Frobnicate', 'error'],
    ]);
  });

  it('looks inside subgraphs', () => {
    const b = new GraphBuilder();
    const c = b.input('c', DataType.BOOL, []);
    const x = b.input('x', F, [6]);
    const branch = (name: string, op: string) => {
      const g = new Graph(name, { parent: b.graph });
      const n = g.addNode({ opType: op, name: `${name}_${op}`, inputs: [x], outputs: [`${name}_out`] });
      g.addOutput(n.output(0));
      return g;
    };
    const iff = b.graph.addNode({
      opType: 'If',
      name: 'cond',
      inputs: [c],
      outputs: ['y'],
      attributes: [Attribute.from('then_branch', branch('then', 'Unique')), Attribute.from('else_branch', branch('else', 'Relu'))],
    });
    b.output(iff.output(0));
    expect(checkTarget(b.build(), 'cuda').problems.map((p) => p.node)).toEqual(['then_Unique']);
  });

  it('agrees with onnxruntime-node on CPU', async () => {
    // The table says CPU has Unique: ORT builds a session for it and runs it.
    const u = new GraphBuilder();
    const ux = u.input('x', F, [6]);
    const uy = u.op('Unique', [ux], {}, { name: 'dedupe' });
    u.setType(uy, F, [null]);
    u.output(uy, 'uniques');
    expect(checkTarget(u.build(), 'cpu').ok).toBe(true);
    const session = await ort.InferenceSession.create(serializeModel(u.build()));
    try {
      const out = await session.run({ x: new ort.Tensor('float32', Float32Array.from([3, 1, 3, 2, 1, 3]), [6]) });
      expect(Array.from(out.uniques!.data as Float32Array)).toEqual([1, 2, 3]); // sorted=1 by default
    } finally {
      await session.release();
    }
    // Kernels (Mean, Celu), inlined ONNX functions (HardSwish, CastLike): the check passes and ORT loads them.
    // CUDA-only contrib ops (BiasSoftmax, GemmFloat8): the check fails and ORT's CPU EP finds no kernel.
    const cases: [string, string, number, Record<string, number>, boolean][] = [
      ['', 'Mean', 2, {}, true],
      ['', 'Celu', 1, {}, true],
      ['', 'HardSwish', 1, {}, true],
      ['', 'CastLike', 2, {}, true],
      ['com.microsoft', 'BiasSoftmax', 2, { axis: -1, is_inner_broadcast: 0 }, false],
      ['com.microsoft', 'GemmFloat8', 2, {}, false],
    ];
    for (const [domain, op, n, attrs, supported] of cases) {
      const b = new GraphBuilder();
      const xs = Array.from({ length: n }, (_, i) => b.input(`x${i}`, F, [2, 4]));
      const y = b.op(op, xs, attrs, { domain: domain || undefined, name: 'n' });
      b.setType(y, F, [2, 4]);
      b.output(y);
      const m = b.build();
      expect(checkTarget(m, 'cpu').ok, op).toBe(supported);
      const created = ort.InferenceSession.create(serializeModel(m));
      if (supported) await (await created).release();
      else await expect(created, op).rejects.toThrow(`Could not find an implementation for ${op}(1)`);
    }
    expect(checkTarget(oneNode('BiasSoftmax', { domain: 'com.microsoft', inputs: 2 }), 'cpu').problems[0]!.reason).toBe('no CPU kernel for com.microsoft::BiasSoftmax');
  });
});

describe('checkOpset', () => {
  it('flags a Gelu node in an opset-17 model', () => {
    const m = oneNode('Gelu', { name: 'mlp/act', opset: 17 });
    expect(checkOpset(m)).toEqual([
      { node: 'mlp/act', op: 'Gelu', reason: 'node mlp/act uses Gelu, which needs opset 20; the model imports 17 — passes never raise the opset' },
    ]);
    expect(() => assertOpset(m, 'ffn-fusion')).toThrow(/^ffn-fusion: node mlp\/act uses Gelu, which needs opset 20/);
    try {
      assertOpset(m);
    } catch (e) {
      expect(isOnnxOptError(e) && e.code).toBe('PASS');
    }
    expect(checkOpset(oneNode('Gelu', { opset: 20 }))).toEqual([]);
    expect(checkOpset(oneNode('RMSNormalization', { opset: 22, inputs: 2 }))[0]!.reason).toMatch(/needs opset 23; the model imports 22/);
    expect(checkOpset(oneNode('LayerNormalization', { name: 'ln', opset: 14, inputs: 3 }))[0]!.reason).toBe(
      'node ln uses LayerNormalization, which needs opset 17; the model imports 14 — passes never raise the opset (onnxruntime alone also accepts it from opset 1)',
    );
    expect(checkOpset(oneNode('SimplifiedLayerNormalization', { opset: 14, inputs: 2 }))).toEqual([]);
  });

  it('checks operands that moved from attributes to inputs', () => {
    const b = new GraphBuilder(undefined, [{ domain: '', version: 11 }]);
    const x = b.input('x', F, [4]);
    b.output(b.op('Unsqueeze', [x, b.ints('axes', [0])], {}, { name: 'unsq' }));
    expect(checkOpset(b.build())[0]!.reason).toBe(
      'node unsq gives Unsqueeze its axes as an input, which needs opset 13; the model imports 11 — passes never raise the opset (use the axes attribute)',
    );
    expect(checkOpset(oneNode('Unsqueeze', { opset: 11, attrs: { axes: [0] } }))).toEqual([]);
    expect(checkOpset(oneNode('ReduceMean', { name: 'rm', opset: 18, attrs: { axes: [-1] } }))[0]!.reason).toBe(
      "node rm gives ReduceMean a 'axes' attribute, which opset 18 replaced by an input; the model imports 18",
    );
    expect(checkOpset(oneNode('ReduceMean', { opset: 17, attrs: { axes: [-1] } }))).toEqual([]);
  });

  it('needs an opset import for a contrib domain', () => {
    const m = oneNode('GroupQueryAttention', { domain: 'com.microsoft', name: 'gqa', inputs: 3 });
    expect(checkOpset(m)).toEqual([]);
    m.opsetImports = m.opsetImports.filter((o) => o.domain !== 'com.microsoft');
    expect(checkOpset(m)[0]!.reason).toBe('node gqa uses com.microsoft::GroupQueryAttention, but the model imports no com.microsoft opset');
    expect(checkTarget(m, 'cuda').problems[0]!.reason).toBe("the model imports no opset for domain 'com.microsoft'");
  });
});

describe('external data layout for GPU loading', () => {
  interface Placed {
    name: string;
    location: string;
    offset: number;
    length: number;
  }
  const placements = (modelPath: string): { inline: string[]; external: Placed[] } => {
    const proto = fromBinary(ModelProtoSchema, readFileSync(modelPath));
    const inline: string[] = [];
    const external: Placed[] = [];
    for (const t of proto.graph!.initializer) {
      if (t.externalData.length === 0) {
        inline.push(t.name);
        continue;
      }
      const kv = new Map(t.externalData.map((e) => [e.key, e.value]));
      external.push({ name: t.name, location: kv.get('location')!, offset: Number(kv.get('offset') ?? 0), length: Number(kv.get('length')) });
    }
    return { inline, external };
  };
  // 64-wide fixture: embeddings 64 KiB, projections 16-32 KiB, norm weights 256 B (stay inline).
  const fixture = () => makeLlamaModel({ layers: 2, hidden: 64, heads: 4, kvHeads: 2, intermediate: 128, vocab: 256, seed: 7 });

  const checkLayout = (dir: string, modelPath: string, source: Model, align: number) => {
    const { inline, external } = placements(modelPath);
    expect(external.length).toBeGreaterThan(10);
    expect(inline.length).toBeGreaterThan(0);
    for (const p of external) {
      // Portable: a bare file name next to the model.
      expect(p.location).not.toMatch(/[\\/]/);
      expect(p.location).not.toContain('..');
      expect(p.location).not.toMatch(/^[a-zA-Z]:/);
      // Every external tensor is at least the 1 KiB threshold, so it starts on an `align` boundary.
      expect(p.length).toBeGreaterThanOrEqual(1024);
      expect(p.offset % align, `${p.name} at ${p.offset}`).toBe(0);
    }
    // No overlaps, and every range inside its file.
    const byFile = new Map<string, Placed[]>();
    for (const p of external) byFile.set(p.location, [...(byFile.get(p.location) ?? []), p]);
    for (const [loc, ps] of byFile) {
      const size = statSync(join(dir, loc)).size;
      const sorted = [...ps].sort((a, b) => a.offset - b.offset);
      sorted.forEach((p, i) => {
        if (i > 0) expect(p.offset).toBeGreaterThanOrEqual(sorted[i - 1]!.offset + sorted[i - 1]!.length);
        expect(p.offset + p.length).toBeLessThanOrEqual(size);
      });
    }
    // Every tensor reads back byte for byte.
    const back = loadModel(modelPath);
    for (const [name, v] of source.graph.initializers) {
      const t = back.graph.initializers.get(name)?.initializer;
      expect(t, name).toBeDefined();
      expect(Buffer.from(t!.bytes()).equals(Buffer.from(v.initializer!.bytes())), name).toBe(true);
    }
    return byFile;
  };

  it('writes one aligned data file by default', () => {
    const dir = tempDir();
    dirs.push(dir);
    const source = fixture();
    const path = join(dir, 'model.onnx');
    const res = saveModel(source, path, { externalData: 'external', align: 4096 });
    expect(res.dataFiles).toEqual([join(dir, 'model.onnx.data')]);
    const byFile = checkLayout(dir, path, source, 4096);
    expect([...byFile.keys()]).toEqual(['model.onnx.data']);
  });

  it('splits into N aligned shards with shardSize', () => {
    const dir = tempDir();
    dirs.push(dir);
    const source = fixture();
    const path = join(dir, 'model.onnx');
    const shardSize = 96 * 1024;
    const res = saveModel(source, path, { externalData: 'external', align: 4096, shardSize });
    const byFile = checkLayout(dir, path, source, 4096);
    expect(res.dataFiles.length).toBeGreaterThan(2);
    expect(res.dataFiles.map((f) => f.slice(dir.length + 1)).sort()).toEqual([...byFile.keys()].sort());
    expect(byFile.has('model.onnx.data')).toBe(true);
    expect(byFile.has('model.onnx.1.data')).toBe(true);
    // A shard holds more than one tensor only while they fit in shardSize.
    for (const ps of byFile.values()) {
      if (ps.length > 1) expect(Math.max(...ps.map((p) => p.offset + p.length))).toBeLessThanOrEqual(shardSize);
    }
  });
});
