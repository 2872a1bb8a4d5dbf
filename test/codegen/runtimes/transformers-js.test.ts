import { copyFileSync, mkdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { AutoModelForCausalLM, Tensor as HfTensor, env } from '@huggingface/transformers';
import { describe, expect, it } from 'vitest';
import { saveModel } from '../../../src/io/write-model.js';
import { loadModel } from '../../../src/io/read-model.js';
import type { Model } from '../../../src/ir/model.js';
import { analyzeDecoder } from '../../../src/passes/analysis/analyze-decoder.js';
import { registerBuiltinPasses } from '../../../src/passes/builtin.js';
import type { HealReport } from '../../../src/passes/heal/heal.js';
import type { PassServices } from '../../../src/passes/pass.js';
import { runPipeline } from '../../../src/passes/pass-manager.js';
import type { CalibrationData } from '../../../src/runtime/calibration/types.js';
import { argmax, DecoderRunner } from '../../../src/runtime/decoder-inputs.js';
import { tempDir } from '../../helpers/paths.js';

/**
 * The runtime transformers.js users run: an optimum export in its folder layout (onnx/model.onnx,
 * config.json, generation_config.json), optimized by onnx-opt, loads with AutoModelForCausalLM and
 * generates the same greedy tokens as onnx-opt's own runner of the optimized model. config.json is
 * copied unchanged: transformers.js 4.3.2 takes the cache names from num_hidden_layers, keeps only
 * those the graph has, and sizes each empty cache from the graph's declared input shape
 * (`addPastKeyValues` reads `session.inputMetadata`), not from config.json's head counts.
 */

const EXPORTS = resolve(import.meta.dirname, '../../fixtures/exports/optimum');
registerBuiltinPasses();

async function greedyWithOnnxOpt(modelPath: string, prompt: number[], newTokens: number): Promise<number[]> {
  const runner = await DecoderRunner.create(loadModel(modelPath));
  try {
    let step = await runner.prefill(prompt);
    const out: number[] = [];
    for (let i = 0; i < newTokens; i++) {
      const next = argmax(step.next[0]!);
      out.push(next);
      if (i + 1 < newTokens) step = await runner.step(next);
    }
    return out;
  } finally {
    await runner.release();
  }
}

async function greedyWithTransformersJs(root: string, name: string, prompt: number[], newTokens: number): Promise<number[]> {
  env.allowRemoteModels = false;
  env.allowLocalModels = true;
  env.localModelPath = root;
  const model = await AutoModelForCausalLM.from_pretrained(name, { local_files_only: true, dtype: 'fp32', device: 'cpu' });
  try {
    const input_ids = new HfTensor('int64', BigInt64Array.from(prompt.map(BigInt)), [1, prompt.length]);
    const out = (await model.generate({ input_ids, attention_mask: new HfTensor('int64', new BigInt64Array(prompt.length).fill(1n), [1, prompt.length]), max_new_tokens: newTokens, min_new_tokens: newTokens, do_sample: false })) as HfTensor;
    return Array.from(out.data as BigInt64Array, Number).slice(prompt.length);
  } finally {
    await model.dispose();
  }
}

/** Runs `pipeline` on `<arch>-kv` and writes it as a transformers.js folder `<root>/<name>` with the export's config files. */
async function optimizedFolder(root: string, name: string, arch: string, pipeline: string, services: PassServices = {}) {
  const folder = join(root, name);
  mkdirSync(join(folder, 'onnx'), { recursive: true });
  for (const f of ['config.json', 'generation_config.json']) copyFileSync(join(EXPORTS, `${arch}-kv`, f), join(folder, f));
  const model = loadModel(join(EXPORTS, `${arch}-kv`, 'model.onnx'));
  const run = await runPipeline(model, pipeline, { log: () => {}, services });
  const path = join(folder, 'onnx', 'model.onnx');
  saveModel(model, path);
  return { model, run, path };
}

/** Seeded random token rows (the exports are random models over 128 byte-level tokens). */
function tokens(seed: number, rows: number, length: number, what: string): CalibrationData {
  let s = seed >>> 0;
  const next = () => ((s = (s * 1664525 + 1013904223) >>> 0), (s >>> 16) % 128);
  const sequences = Array.from({ length: rows }, () => Array.from({ length }, next));
  return { sequences, source: { kind: 'jsonl', numSequences: rows, sequenceLength: length, description: `${what}: ${rows} × ${length} random tokens (seed ${seed})` } };
}

const cacheDims = (m: Model, name: string) => {
  const t = m.graph.inputs.find((v) => v.name === name)?.type;
  return t?.kind === 'tensor' ? t.shape : undefined;
};

describe('transformers.js runs what onnx-opt writes', () => {
  for (const arch of ['llama', 'qwen2']) {
    it(`${arch}: attn-prune{layers=[1,2]},ffn-fuse{groups=[[0,2]]} generates the same greedy tokens`, async () => {
      const root = tempDir();
      const { model, path } = await optimizedFolder(root, `${arch}-opt`, arch, 'attn-prune{layers=[1,2]},ffn-fuse{groups=[[0,2]]}');
      expect(analyzeDecoder(model).layers.map((l) => l.span ?? l.index)).toEqual([[0, 2], 3]);

      const prompt = [1, 17, 43, 99, 5, 71, 12];
      const ours = await greedyWithOnnxOpt(path, prompt, 12);
      const theirs = await greedyWithTransformersJs(root, `${arch}-opt`, prompt, 12);
      expect(theirs).toEqual(ours);
      // The optimized model really is different from the original (the check can fail).
      const original = await greedyWithOnnxOpt(join(EXPORTS, `${arch}-kv`, 'model.onnx'), prompt, 12);
      expect(original).not.toEqual(ours);
    });
  }

  // A prompt on which these random models do not fall into repeating one token.
  const PROMPT = [100, 2, 55, 81, 14, 90, 27, 66];

  for (const arch of ['llama', 'qwen2', 'granite']) {
    it(`${arch}: block-parallel{windows=[[1,2]]}, merge-heads=false and true, generates the same greedy tokens`, async () => {
      const root = tempDir();
      const config = JSON.parse(readFileSync(join(EXPORTS, `${arch}-kv`, 'config.json'), 'utf8')) as { num_key_value_heads: number };
      const tokensOf: Record<string, number[]> = {};
      for (const merge of [false, true]) {
        const name = `${arch}-bp-${merge}`;
        const { model, path } = await optimizedFolder(root, name, arch, `block-parallel{windows=[[1,2]],merge-heads=${merge}}`);
        if (merge) {
          // One cache for the window, with both layers' KV heads, while config.json still says one layer's count.
          expect(model.graph.inputs.map((v) => v.name)).not.toContain('past_key_values.2.key');
          expect(cacheDims(model, 'past_key_values.1.key')?.[1]).toBe(2 * config.num_key_value_heads);
        } else {
          expect(cacheDims(model, 'past_key_values.2.key')?.[1]).toBe(config.num_key_value_heads);
        }
        const ours = await greedyWithOnnxOpt(path, PROMPT, 12);
        expect(await greedyWithTransformersJs(root, name, PROMPT, 12)).toEqual(ours);
        tokensOf[String(merge)] = ours;
      }
      // Merging heads is exact, and the parallel form is not the original model.
      expect(tokensOf['true']).toEqual(tokensOf['false']);
      expect(await greedyWithOnnxOpt(join(EXPORTS, `${arch}-kv`, 'model.onnx'), PROMPT, 12)).not.toEqual(tokensOf['true']);
    });
  }

  for (const [arch, pipeline] of [
    ['qwen2', 'attn-prune{layers=[1]},heal'],
    ['granite', 'attn-prune{layers=[1],heal=true}'],
  ] as const) {
    it(`${arch}: ${pipeline} (healed weights) generates the same greedy tokens`, async () => {
      const root = tempDir();
      const services = { calibration: tokens(1, 16, 32, 'calib'), heldout: tokens(2, 4, 16, 'heldout') };
      const { run, path } = await optimizedFolder(root, `${arch}-heal`, arch, pipeline, services);
      // Healing really replaced a weight (otherwise this would be the attn-prune case again).
      const heal = (run.report.heal as HealReport).runs[0]!;
      expect(heal.segments.some((s) => s.applied)).toBe(true);
      expect(heal.klAfter!).toBeLessThan(heal.klBefore!);

      const ours = await greedyWithOnnxOpt(path, PROMPT, 12);
      expect(await greedyWithTransformersJs(root, `${arch}-heal`, PROMPT, 12)).toEqual(ours);
    });
  }
});
