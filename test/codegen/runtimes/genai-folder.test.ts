import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { serializeModel } from '../../../src/io/write-model.js';
import { loadModel } from '../../../src/io/read-model.js';
import type { Model } from '../../../src/ir/model.js';
import { analyzeDecoder } from '../../../src/passes/analysis/analyze-decoder.js';
import { registerBuiltinPasses } from '../../../src/passes/builtin.js';
import type { HealReport } from '../../../src/passes/heal/heal.js';
import { runPipeline } from '../../../src/passes/pass-manager.js';
import { DecoderRunner } from '../../../src/runtime/decoder-inputs.js';
import { toOrtTensor } from '../../../src/runtime/tensors.js';
import { listTestDataSets, readTestDataSet } from '../../../src/verify/golden.js';
import { runCli } from '../../helpers/cli.js';
import { tempDir } from '../../helpers/paths.js';

/**
 * onnxruntime-genai folders made by its own model builder, pruned by the CLI in folder mode. The
 * genai runtime (its Python wheel) cannot be installed on this machine's package index, so what
 * it would read is checked exactly instead: genai_config.json names, through its `%d` templates
 * over 0..num_hidden_layers-1, every cache input and output the graph has and nothing else, and
 * the graph computes the pruned model (logits equal the torch reference with o_proj zeroed).
 */

const GENAI = resolve(import.meta.dirname, '../../fixtures/exports/genai');
const OPTIMUM = resolve(import.meta.dirname, '../../fixtures/exports/optimum');
registerBuiltinPasses();

interface Decoder {
  filename: string;
  num_hidden_layers: number;
  inputs: { past_key_names: string; past_value_names: string };
  outputs: { present_key_names: string; present_value_names: string };
}

/** Reads the written folder's genai_config.json decoder section and its model. */
function writtenFolder(out: string): { decoder: Decoder; model: Model } {
  const decoder = (JSON.parse(readFileSync(join(out, 'genai_config.json'), 'utf8')) as { model: { decoder: Decoder } }).model.decoder;
  return { decoder, model: loadModel(join(out, decoder.filename)) };
}

/** The config's `%d` templates over 0..num_hidden_layers-1 name every cache input and output of the graph, and nothing else. */
function expectConfigMatchesGraph(decoder: Decoder, model: Model): void {
  const names = (t: string) => Array.from({ length: decoder.num_hidden_layers }, (_, i) => t.replace('%d', String(i)));
  const inputs = model.graph.inputs.map((v) => v.name).filter((n) => /past/.test(n));
  const outputs = model.graph.outputs.map((v) => v.name).filter((n) => /present/.test(n));
  expect(inputs.sort()).toEqual([...names(decoder.inputs.past_key_names), ...names(decoder.inputs.past_value_names)].sort());
  expect(outputs.sort()).toEqual([...names(decoder.outputs.present_key_names), ...names(decoder.outputs.present_value_names)].sort());
}

describe('genai builder folders pruned by onnx-opt', () => {
  for (const arch of ['llama', 'qwen2', 'gemma', 'mistral', 'qwen3', 'granite', 'olmo', 'gemma2', 'phi']) {
    it(`${arch}: genai_config.json and the graph agree exactly; logits equal the torch reference`, async () => {
      const out = join(tempDir(), 'out');
      const r = runCli([join(GENAI, arch), '-o', out, '--passes=attn-prune{layers=[1]}', '--quiet']);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      const { decoder, model } = writtenFolder(out);
      expect(decoder.num_hidden_layers).toBe(3);
      expectConfigMatchesGraph(decoder, model);
      expect(analyzeDecoder(model).layers.filter((l) => l.attention).length).toBe(3);

      // Prefill of reference set 0 (an empty past), with the renumbered caches fed empty.
      const data = readTestDataSet(listTestDataSets(join(GENAI, arch, 'references', 'attn-prune-L1'))[0]!);
      const s = await ort.InferenceSession.create(serializeModel(model), { intraOpNumThreads: 1 });
      const byName = new Map(data.inputs.map((t) => [t.name, t]));
      const emptyPast = data.inputs.find((t) => /past/.test(t.name))!;
      const feeds = Object.fromEntries(s.inputNames.map((n) => [n, toOrtTensor(byName.get(n) ?? emptyPast)]));
      const logits = (await s.run(feeds)).logits!.data as Float32Array;
      await s.release();
      const ref = data.outputs.find((t) => t.name === 'logits')!.toArray() as Float32Array;
      let err = 0;
      for (let i = 0; i < ref.length; i++) err = Math.max(err, Math.abs(ref[i]! - logits[i]!));
      expect(err).toBeLessThan(2e-3);

      // And it decodes with its cache.
      const runner = await DecoderRunner.create(model);
      let step = await runner.prefill([1, 17, 43, 99]);
      for (let k = 0; k < 4; k++) step = await runner.step(5 + k);
      await runner.release();
      expect(step.next[0]!.every(Number.isFinite)).toBe(true);
    });
  }
});

/** Logits of a prefill and three cached decode steps: the cache path genai runs, end to end. */
async function decodeTrace(model: Model): Promise<Float32Array[]> {
  const runner = await DecoderRunner.create(model);
  try {
    const out = [Float32Array.from((await runner.prefill([100, 2, 55, 81, 14, 90])).logits.data as Float32Array)];
    for (const t of [27, 66, 5]) out.push(Float32Array.from((await runner.step(t)).logits.data as Float32Array));
    return out;
  } finally {
    await runner.release();
  }
}

const maxDiff = (a: Float32Array[], b: Float32Array[]) => Math.max(...a.map((x, i) => x.reduce((m, v, j) => Math.max(m, Math.abs(v - b[i]![j]!)), 0)));

/** Mean KL(p ‖ q) of the next-token distributions over every position of every sequence (prefills, float64). */
async function meanKlOver(p: Model, q: Model, sequences: number[][]): Promise<number> {
  const logProbs = async (m: Model) => {
    const runner = await DecoderRunner.create(m);
    const rows: Float64Array[] = [];
    try {
      for (const seq of sequences) {
        const l = (await runner.prefill(seq)).logits;
        const V = l.dims[2]!;
        const data = l.data as Float32Array;
        for (let s = 0; s < seq.length; s++) {
          const row = Float64Array.from(data.subarray(s * V, (s + 1) * V));
          const max = Math.max(...row);
          const lse = max + Math.log(row.reduce((a, v) => a + Math.exp(v - max), 0));
          rows.push(row.map((v) => v - lse));
        }
      }
    } finally {
      await runner.release();
    }
    return rows;
  };
  const [lp, lq] = [await logProbs(p), await logProbs(q)];
  let sum = 0;
  lp.forEach((r, i) => r.forEach((v, j) => (sum += Math.exp(v) * (v - lq[i]![j]!))));
  return sum / lp.length;
}

/** Seeded random token rows as JSONL (the exports are random models over 128 byte-level tokens). */
function tokenRows(seed: number, rows: number, length: number): number[][] {
  let s = seed >>> 0;
  const next = () => ((s = (s * 1664525 + 1013904223) >>> 0), (s >>> 16) % 128);
  return Array.from({ length: rows }, () => Array.from({ length }, next));
}
const jsonl = (rows: number[][]) => rows.map((r) => JSON.stringify(r)).join('\n') + '\n';

describe('genai builder folders through block-parallel and heal', () => {
  // genai and optimum exports of one architecture share their weights (originals agree within
  // 2e-6 for these), so genai's parallel form, with its Skip norms and GroupQueryAttention
  // side by side, must decode like optimum's wide layer with merged heads.
  for (const arch of ['llama', 'qwen2', 'granite']) {
    it(`${arch}: block-parallel{windows=[[1,2]],merge-heads=false}: config and graph agree; decodes like optimum's merged wide layer`, async () => {
      const out = join(tempDir(), 'out');
      const r = runCli([join(GENAI, arch), '-o', out, '--passes=block-parallel{windows=[[1,2]],merge-heads=false}', '--quiet']);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      const { decoder, model } = writtenFolder(out);
      // Every layer keeps its own attention and cache: nothing to renumber.
      expect(decoder.num_hidden_layers).toBe(4);
      expectConfigMatchesGraph(decoder, model);
      expect([...model.graph.allNodes()].filter((n) => n.opType === 'GroupQueryAttention').length).toBe(4);
      expect(analyzeDecoder(model).layers.map((l) => l.span ?? l.index)).toEqual([0, [1, 2], 3]);

      const optimum = loadModel(join(OPTIMUM, `${arch}-kv`, 'model.onnx'));
      await runPipeline(optimum, 'block-parallel{windows=[[1,2]]}', { log: () => {} });
      const ours = await decodeTrace(model);
      expect(maxDiff(ours, await decodeTrace(optimum))).toBeLessThan(1e-4);
      // And it is not the original model.
      expect(maxDiff(ours, await decodeTrace(loadModel(join(GENAI, arch, 'model.onnx'))))).toBeGreaterThan(0.1);
    });
  }

  it('merge-heads=true (the default) is refused in one line naming the option, and nothing is written', () => {
    const out = join(tempDir(), 'out');
    const r = runCli([join(GENAI, 'llama'), '-o', out, '--passes=block-parallel{windows=[[1,2]]}', '--quiet']);
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/merge-heads.*GroupQueryAttention.*\(use merge-heads=false\)/);
    expect(existsSync(out)).toBe(false);
  });

  for (const [arch, pipeline, layers] of [
    ['llama', 'attn-prune{layers=[1]},heal', 3],
    ['qwen2', 'block-parallel{windows=[[1,2]],merge-heads=false},heal', 4],
  ] as const) {
    it(`${arch}: ${pipeline} with --calib/--heldout: config and graph agree; held-out KL in ORT is the report's, and lower than unhealed`, async () => {
      const dir = tempDir();
      const heldout = tokenRows(2, 4, 16);
      writeFileSync(join(dir, 'calib.jsonl'), jsonl(tokenRows(1, 16, 32)));
      writeFileSync(join(dir, 'heldout.jsonl'), jsonl(heldout));
      const out = join(dir, 'out');
      const args = [join(GENAI, arch), '-o', out, `--passes=${pipeline}`, '--calib', join(dir, 'calib.jsonl'), '--heldout', join(dir, 'heldout.jsonl')];
      const r = runCli([...args, '--calib-sequences', '16', '--calib-length', '32', '--report', join(dir, 'report.json'), '--quiet']);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      const { decoder, model } = writtenFolder(out);
      expect(decoder.num_hidden_layers).toBe(layers);
      expectConfigMatchesGraph(decoder, model);

      const heal = (JSON.parse(readFileSync(join(dir, 'report.json'), 'utf8')) as { heal: HealReport }).heal.runs[0]!;
      expect(heal.segments.some((s) => s.applied)).toBe(true);
      // Measured here on the files as written, independently of the pass's own check.
      const original = loadModel(join(GENAI, arch, 'model.onnx'));
      const unhealed = loadModel(join(GENAI, arch, 'model.onnx'));
      await runPipeline(unhealed, pipeline.replace(/,heal$/, ''), { log: () => {} });
      const klHealed = await meanKlOver(original, model, heldout);
      const klUnhealed = await meanKlOver(original, unhealed, heldout);
      expect(klHealed).toBeCloseTo(heal.klAfter!, 4);
      expect(klUnhealed).toBeCloseTo(heal.klBefore!, 4);
      expect(klHealed).toBeLessThan(klUnhealed);

      // And it decodes with its cache.
      expect((await decodeTrace(model)).every((l) => l.every(Number.isFinite))).toBe(true);
    });
  }
});
