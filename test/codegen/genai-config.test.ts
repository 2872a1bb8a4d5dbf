import { copyFileSync, existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { optimize } from '../../src/cli/commands/optimize.js';
import { OnnxOptError } from '../../src/errors.js';
import { registerBuiltinPasses } from '../../src/passes/builtin.js';
import { tempDir } from '../helpers/paths.js';

const EXPORTS = resolve(import.meta.dirname, '../fixtures/exports');
registerBuiltinPasses();

/** A genai folder whose decoder is a plain-ONNX export (optimum's), so block-parallel can merge its heads. */
function genaiFolderWithOptimumGraph(): string {
  const dir = tempDir();
  copyFileSync(join(EXPORTS, 'optimum/llama-kv/model.onnx'), join(dir, 'model.onnx'));
  copyFileSync(join(EXPORTS, 'genai/llama/genai_config.json'), join(dir, 'genai_config.json'));
  return dir;
}

describe('genai_config.json stays true to the graph', () => {
  it('caches with different head counts (merged heads) are refused before anything is written', async () => {
    const input = genaiFolderWithOptimumGraph();
    const out = tempDir();
    const run = optimize({ input: join(input, 'model.onnx'), output: join(out, 'model.onnx'), passes: 'block-parallel{windows=[[1,2]]}', quiet: true });
    await expect(run).rejects.toThrow(OnnxOptError);
    await expect(run).rejects.toThrow(/layer 1's KV cache has 2 heads, the other layers 1 .*merge-heads=false/);
    expect(readdirSync(out)).toEqual([]);
  });

  it('merge-heads=false keeps one head count, and the config is written', async () => {
    const input = genaiFolderWithOptimumGraph();
    const out = tempDir();
    await optimize({ input: join(input, 'model.onnx'), output: join(out, 'model.onnx'), passes: 'block-parallel{windows=[[1,2]],merge-heads=false}', quiet: true });
    expect(existsSync(join(out, 'model.onnx'))).toBe(true);
    const config = JSON.parse(readFileSync(join(out, 'genai_config.json'), 'utf8')) as { model: { decoder: { num_hidden_layers: number; num_key_value_heads: number } } };
    expect(config.model.decoder.num_hidden_layers).toBe(4);
    expect(config.model.decoder.num_key_value_heads).toBe(1);
  });
});
