// Child process for bench/io.ts: one measured operation per process, so peak RSS is its own.
import { existsSync } from 'node:fs';
import { saveModel } from '../src/io/write-model.js';
import { makeLlamaModel } from '../src/fixtures/llama.js';
import { loadModel } from '../src/io/read-model.js';

const [op, a, b] = process.argv.slice(2);

if (op === 'generate') {
  if (!existsSync(a!)) {
    // ≈1.3 B parameters in fp16 (≈2.5 GB): a 5-layer slice of a Llama-2-7B-sized model.
    const model = makeLlamaModel({ layers: 5, hidden: 4096, heads: 32, kvHeads: 8, intermediate: 11008, vocab: 32000, dtype: 'float16', seed: 1 });
    saveModel(model, a!, { externalData: 'external' });
  }
  console.log(JSON.stringify({ ok: true }));
} else if (op === 'load-save') {
  const t0 = performance.now();
  const model = loadModel(a!);
  saveModel(model, b!, { externalData: 'keep' });
  const ms = performance.now() - t0;
  console.log(JSON.stringify({ ms, maxRssMB: process.resourceUsage().maxRSS / 1024 }));
} else {
  throw new Error(`unknown op ${op}`);
}
