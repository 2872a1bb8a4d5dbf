import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { saveModel } from '../../codegen/write-model.js';
import { makeLlamaModel } from '../../fixtures/llama.js';
import { formatBytes, formatCount, summarizeModel } from '../../ir/summary.js';
import { optimizeCommand } from './optimize.js';

export interface DemoArgs {
  dir: string;
  quiet?: boolean;
}

/** The pipeline the demo runs; grows as the architecture passes land. */
export const DEMO_PIPELINE = 'dce';

/**
 * `onnx-opt demo`: builds the bundled demo model with the project's own fixture generator
 * (8 Llama layers, planted redundant attention in layers 2, 3, 5), optimizes it and summarizes.
 */
export async function demoCommand(args: DemoArgs): Promise<number> {
  const dir = resolve(args.dir);
  mkdirSync(dir, { recursive: true });
  const input = join(dir, 'demo-model.onnx');
  const output = join(dir, 'demo-model.opt.onnx');
  const model = makeLlamaModel({ layers: 8, hidden: 64, heads: 4, kvHeads: 2, intermediate: 160, vocab: 256, seed: 7, attnScale: { 2: 1e-3, 3: 1e-3, 5: 1e-3 } });
  saveModel(model, input);
  const before = summarizeModel(model);
  const out = (s: string) => process.stdout.write(s + '\n');
  out(`demo model: ${input}`);
  out(`  8 decoder layers, ${formatCount(before.parameters)} parameters (${formatBytes(before.parameterBytes)}), ${before.nodes} nodes`);
  await optimizeCommand({ input, output, passes: DEMO_PIPELINE, quiet: args.quiet, stats: true });
  out(`optimized: ${output}`);
  out('note: attn-prune and ffn-fuse are not implemented yet; the demo runs only the canonicalization passes so far.');
  return 0;
}
