/**
 * bench/calibration: cosine scores, KL scores and the dependency matrix on a ~1 GB fp32 Llama
 * fixture with external data, block-wise (the default) against `--calibration=whole`, in one run:
 * time, peak RSS and model-equivalents (forward passes of the model over the calibration tokens)
 * of each. Each measurement runs in its own process. BENCH_CALIB_SIZE='{"layers":4,...}' shrinks
 * the fixture for a quick look.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { BENCH_DIR, fmtMs, runWorker } from './lib.js';

const SIZE = process.env.BENCH_CALIB_SIZE ?? JSON.stringify({ layers: 16, hidden: 1024, intermediate: 2816, vocab: 32000 });

export async function benchCalibration(): Promise<void> {
  const dir = join(BENCH_DIR, `calibration-${createHash('sha256').update(SIZE).digest('hex').slice(0, 12)}`);
  const path = join(dir, 'model.onnx');
  mkdirSync(dir, { recursive: true });
  if (!existsSync(path)) runWorker('calibration-worker.ts', ['generate', path, '', '', SIZE]);
  const gb = (statSync(path).size + statSync(path + '.data').size) / 1e9;
  console.log(`bench/calibration  llama fixture ${SIZE} (${gb.toFixed(2)} GB, external data), 4 × 32 sampled tokens, ORT CPU 1 thread`);
  for (const method of ['cosine', 'kl', 'matrix']) {
    const r: Record<string, { ms: number; maxRssMB: number; modelEquivalents: number; sessions: number }> = {};
    for (const mode of ['blockwise', 'whole']) r[mode] = runWorker('calibration-worker.ts', ['measure', path, method, mode]);
    const b = r.blockwise!;
    const w = r.whole!;
    console.log(
      `  ${method.padEnd(7)} block-wise ${fmtMs(b.ms).padStart(8)}  peak RSS ${b.maxRssMB.toFixed(0).padStart(5)} MB  ${b.modelEquivalents.toFixed(2).padStart(6)} model-eq | ` +
        `whole ${fmtMs(w.ms).padStart(8)}  peak RSS ${w.maxRssMB.toFixed(0).padStart(5)} MB  ${w.modelEquivalents.toFixed(2).padStart(6)} model-eq | ` +
        `${(w.modelEquivalents / b.modelEquivalents).toFixed(2)}× fewer passes, ${(w.maxRssMB / b.maxRssMB).toFixed(2)}× less memory`,
    );
  }
}
