import { copyFileSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { AutoModelForCausalLM, Tensor as HfTensor, env } from '@huggingface/transformers';
import { describe, expect, it } from 'vitest';
import { saveModel } from '../../../src/io/write-model.js';
import { loadModel } from '../../../src/io/read-model.js';
import { analyzeDecoder } from '../../../src/passes/analysis/analyze-decoder.js';
import { registerBuiltinPasses } from '../../../src/passes/builtin.js';
import { runPipeline } from '../../../src/passes/pass-manager.js';
import { argmax, DecoderRunner } from '../../../src/runtime/decoder-inputs.js';
import { tempDir } from '../../helpers/paths.js';

/**
 * The runtime transformers.js users run: an optimum export in its folder layout (onnx/model.onnx,
 * config.json, generation_config.json), pruned and fused by onnx-opt, loads with
 * AutoModelForCausalLM and generates the same greedy tokens as onnx-opt's own runner of the
 * optimized model. config.json is copied unchanged: transformers.js sizes its empty caches from
 * num_hidden_layers and ignores the cache inputs the pruned graph no longer has.
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

describe('transformers.js runs what onnx-opt writes', () => {
  for (const arch of ['llama', 'qwen2']) {
    it(`${arch}: attn-prune{layers=[1,2]},ffn-fuse{groups=[[0,2]]} generates the same greedy tokens`, async () => {
      const root = tempDir();
      const folder = join(root, `${arch}-opt`);
      mkdirSync(join(folder, 'onnx'), { recursive: true });
      for (const f of ['config.json', 'generation_config.json']) copyFileSync(join(EXPORTS, `${arch}-kv`, f), join(folder, f));
      const model = loadModel(join(EXPORTS, `${arch}-kv`, 'model.onnx'));
      await runPipeline(model, 'attn-prune{layers=[1,2]},ffn-fuse{groups=[[0,2]]}', { log: () => {} });
      expect(analyzeDecoder(model).layers.map((l) => l.span ?? l.index)).toEqual([[0, 2], 3]);
      saveModel(model, join(folder, 'onnx', 'model.onnx'));

      const prompt = [1, 17, 43, 99, 5, 71, 12];
      const ours = await greedyWithOnnxOpt(join(folder, 'onnx', 'model.onnx'), prompt, 12);
      const theirs = await greedyWithTransformersJs(root, `${arch}-opt`, prompt, 12);
      expect(theirs).toEqual(ours);
      // The optimized model really is different from the original (the check can fail).
      const original = await greedyWithOnnxOpt(join(EXPORTS, `${arch}-kv`, 'model.onnx'), prompt, 12);
      expect(original).not.toEqual(ours);
    });
  }
});
