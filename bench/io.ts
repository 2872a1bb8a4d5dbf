/**
 * bench/io: load → save (no passes) of a ≥2 GB fp16 Llama-style model with external data,
 * against `cp` of the same files, in one run. Prints the median time ratio and peak RSS.
 * Targets: ≤ 1.5× cp, peak RSS < 300 MB.
 */
import { mkdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { BENCH_DIR, fmtMs, median, runWorker, timeCommand } from './lib.js';

export function benchIo(runs = 3): void {
  const dir = join(BENCH_DIR, 'io');
  mkdirSync(dir, { recursive: true });
  const src = join(dir, 'model.onnx');
  process.stderr.write('bench/io: generating the model (first run only)...\n');
  runWorker('io-worker.ts', ['generate', src]);
  const bytes = statSync(src).size + statSync(src + '.data').size;
  const outDir = join(dir, 'out');
  const cpDir = join(dir, 'cp');
  const ours: number[] = [];
  const cps: number[] = [];
  let rss = 0;
  for (let i = 0; i < runs; i++) {
    // Alternate, so page-cache state favours neither side.
    rmSync(cpDir, { recursive: true, force: true });
    mkdirSync(cpDir);
    cps.push(timeCommand('cp', [src, src + '.data', cpDir]));
    rmSync(outDir, { recursive: true, force: true });
    const r = runWorker<{ ms: number; maxRssMB: number }>('io-worker.ts', ['load-save', src, join(outDir, 'model.onnx')]);
    ours.push(r.ms);
    rss = Math.max(rss, r.maxRssMB);
  }
  rmSync(cpDir, { recursive: true, force: true });
  rmSync(outDir, { recursive: true, force: true });
  const ratio = median(ours) / median(cps);
  console.log(`bench/io  model ${(bytes / 2 ** 30).toFixed(2)} GiB (fp16, external data), ${runs} runs`);
  console.log(`  load→save median ${fmtMs(median(ours))}   cp median ${fmtMs(median(cps))}   ratio ${ratio.toFixed(2)}× (target ≤ 1.5×)`);
  console.log(`  peak RSS ${rss.toFixed(0)} MB (target < 300 MB)`);
}
