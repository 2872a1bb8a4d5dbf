import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { serializeModel } from '../../../src/io/write-model.js';
import { loadModel } from '../../../src/io/read-model.js';
import { analyzeDecoder } from '../../../src/passes/analysis/analyze-decoder.js';
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

interface Decoder {
  filename: string;
  num_hidden_layers: number;
  inputs: { past_key_names: string; past_value_names: string };
  outputs: { present_key_names: string; present_value_names: string };
}

describe('genai builder folders pruned by onnx-opt', () => {
  for (const arch of ['llama', 'qwen2', 'gemma', 'mistral', 'qwen3', 'granite', 'olmo', 'gemma2', 'phi']) {
    it(`${arch}: genai_config.json and the graph agree exactly; logits equal the torch reference`, async () => {
      const out = join(tempDir(), 'out');
      const r = runCli([join(GENAI, arch), '-o', out, '--passes=attn-prune{layers=[1]}', '--quiet']);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      const decoder = (JSON.parse(readFileSync(join(out, 'genai_config.json'), 'utf8')) as { model: { decoder: Decoder } }).model.decoder;
      expect(decoder.num_hidden_layers).toBe(3);
      const model = loadModel(join(out, decoder.filename));
      const names = (t: string) => Array.from({ length: decoder.num_hidden_layers }, (_, i) => t.replace('%d', String(i)));
      const inputs = model.graph.inputs.map((v) => v.name).filter((n) => /past/.test(n));
      const outputs = model.graph.outputs.map((v) => v.name).filter((n) => /present/.test(n));
      expect(inputs.sort()).toEqual([...names(decoder.inputs.past_key_names), ...names(decoder.inputs.past_value_names)].sort());
      expect(outputs.sort()).toEqual([...names(decoder.outputs.present_key_names), ...names(decoder.outputs.present_value_names)].sort());
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
