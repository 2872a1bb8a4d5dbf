// Child process of scripts/test-large.ts: one step per process, so peak RSS and bytes written are that step's own.
import { readFileSync } from 'node:fs';
import { saveModel } from '../src/io/write-model.js';
import { makeLlamaModel } from '../src/fixtures/llama.js';
import { loadModel } from '../src/io/read-model.js';
import type { Model } from '../src/ir/model.js';
import { loadCalibration } from '../src/runtime/calibration/index.js';
import { residualBoundaries } from '../src/passes/measure/boundaries.js';
import { registerBuiltinPasses } from '../src/passes/builtin.js';
import { runPipeline } from '../src/passes/pass-manager.js';

const [step, a, b, pipeline] = process.argv.slice(2);
if (step === 'generate') {
  // ≈2.2 B fp16 parameters (≈4.4 GB): 11 layers of a Llama-2-7B-sized decoder.
  const model = makeLlamaModel({ layers: 11, hidden: 4096, heads: 32, kvHeads: 8, intermediate: 11008, vocab: 32000, dtype: 'float16', seed: 2, kvCache: true });
  saveModel(model, a!, { externalData: 'external' });
  console.log(JSON.stringify({ ok: true }));
} else if (step === 'optimize') {
  registerBuiltinPasses();
  const written0 = bytesWritten();
  const t0 = performance.now();
  const model = loadModel(a!);
  const logs: string[] = [];
  // Data-free calibration kept tiny for CI: two sampled sequences of six tokens.
  const services = { loadCalibration: (m: Model) => loadCalibration(m, { kind: 'sampled' }, { numSequences: 2, sequenceLength: 6, seed: 0, boundaries: residualBoundaries(m) }) };
  const run = await runPipeline(model, pipeline!, { services, log: (m) => logs.push(m) });
  saveModel(model, b!, { externalData: 'external' });
  console.log(
    JSON.stringify({
      ms: performance.now() - t0,
      maxRssMB: process.resourceUsage().maxRSS / 1024,
      bytesWritten: bytesWritten() - written0,
      timings: run.timings.map((t) => [t.pass, Math.round(t.ms)]),
      report: run.report,
      logs,
    }),
  );
}

/** Bytes this process passed to write(2) so far (Linux /proc), so copies of the weights show. */
function bytesWritten(): number {
  return Number(/wchar:\s*(\d+)/.exec(readFileSync('/proc/self/io', 'utf8'))![1]);
}
