/**
 * bench/io: load → save (no passes) of a ≥2 GB fp16 Llama-style model with external data, as a
 * user runs it: the whole `onnx-opt model.onnx -o out/model.onnx` process with default options.
 * Baselines in the same run: a user-space copy of the same files (`dd bs=1M`), `cp` (a kernel
 * copy), and onnx-ir's load → save when Python with onnx_ir is available (ONNX_OPT_BENCH_PYTHON,
 * else python3). Best of `runs`, alternating, so page-cache state favours no side; model and
 * outputs are staged in /dev/shm when it has room (ONNX_OPT_BENCH_OUT: write outputs there instead).
 * Targets: onnx-opt ≤ 1.25× the user-space copy, ahead of onnx-ir; peak RSS < 300 MB.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, rmSync, statfsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { BENCH_DIR, REPO, fmtMs, runWorker } from './lib.js';

const ONNX_IR_SAVE = `
import sys, onnx_ir as ir
m = ir.load(sys.argv[1])
ir.save(m, sys.argv[2], external_data=sys.argv[3])
`;

interface Row {
  label: string;
  run: (outDir: string) => void;
  times: number[];
}

function sh(cmd: string, args: string[], what: string): void {
  const r = spawnSync(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${what} failed (${r.status}): ${r.stderr}`);
}

function newestMtime(dir: string): number {
  let newest = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    newest = Math.max(newest, e.isDirectory() ? newestMtime(p) : statSync(p).mtimeMs);
  }
  return newest;
}

function roomIn(dir: string, bytes: number): boolean {
  try {
    const s = statfsSync(dir);
    return s.bavail * s.bsize > bytes;
  } catch {
    return false;
  }
}

function pythonWithOnnxIr(): string | undefined {
  const python = process.env.ONNX_OPT_BENCH_PYTHON ?? 'python3';
  const r = spawnSync(python, ['-c', 'import onnx_ir'], { stdio: 'ignore' });
  return r.status === 0 ? python : undefined;
}

export function benchIo(runs = 3): void {
  const dir = join(BENCH_DIR, 'io');
  mkdirSync(dir, { recursive: true });
  let src = join(dir, 'model.onnx');
  process.stderr.write('bench/io: generating the model (first run only)...\n');
  runWorker('io-worker.ts', ['generate', src]);
  const cli = join(REPO, 'dist', 'cli', 'main.js');
  if (!existsSync(cli) || newestMtime(join(REPO, 'src')) > statSync(cli).mtimeMs) {
    process.stderr.write('bench/io: building dist/ (the CLI as installed)...\n');
    sh('npx', ['tsc', '-p', join(REPO, 'tsconfig.build.json')], 'tsc build');
  }
  const bytes = statSync(src).size + statSync(src + '.data').size;
  const rows: Row[] = [
    {
      label: 'user-space copy (dd bs=1M)',
      run: (out) => {
        sh('dd', [`if=${src}`, `of=${join(out, 'model.onnx')}`, 'bs=1M', 'status=none'], 'dd');
        sh('dd', [`if=${src}.data`, `of=${join(out, 'model.onnx.data')}`, 'bs=1M', 'status=none'], 'dd');
      },
      times: [],
    },
    { label: 'cp (kernel copy)', run: (out) => sh('cp', [src, src + '.data', out], 'cp'), times: [] },
    { label: 'onnx-opt CLI (no passes)', run: (out) => sh(process.execPath, [cli, src, '-o', join(out, 'model.onnx'), '--quiet'], 'onnx-opt'), times: [] },
  ];
  const python = pythonWithOnnxIr();
  if (python) rows.push({ label: 'onnx-ir load → save', run: (out) => sh(python, ['-c', ONNX_IR_SAVE, src, join(out, 'model.onnx'), 'model.onnx.data'], 'onnx-ir'), times: [] });
  // Source and outputs go to memory (tmpfs) when there is room, so every row times the copy
  // itself, not this machine's disk write-back (which varies several-fold between runs), and all
  // sit on one file system, as a user's model and output folder usually do.
  const inMemory = !process.env.ONNX_OPT_BENCH_OUT && roomIn('/dev/shm', 3 * bytes);
  const work = inMemory ? join('/dev/shm', `onnx-opt-bench-io-${process.pid}`) : dir;
  if (inMemory) {
    mkdirSync(join(work, 'src'), { recursive: true });
    sh('cp', [src, src + '.data', join(work, 'src')], 'staging the model in /dev/shm');
    src = join(work, 'src', 'model.onnx');
  }
  const outDir = process.env.ONNX_OPT_BENCH_OUT ?? join(work, 'out');
  let rss: number;
  try {
    for (let i = 0; i < runs; i++) {
      for (const row of rows) {
        rmSync(outDir, { recursive: true, force: true });
        mkdirSync(outDir);
        const t0 = performance.now();
        row.run(outDir);
        row.times.push(performance.now() - t0);
      }
    }
    rmSync(outDir, { recursive: true, force: true });
    // Peak memory of the library path (load → save in a fresh process).
    rss = runWorker<{ ms: number; maxRssMB: number }>('io-worker.ts', ['load-save', src, join(outDir, 'model.onnx')]).maxRssMB;
  } finally {
    rmSync(outDir, { recursive: true, force: true });
    if (inMemory) rmSync(work, { recursive: true, force: true });
  }

  const best = (r: Row) => Math.min(...r.times);
  const baseline = best(rows[0]!);
  console.log(`bench/io  model ${(bytes / 2 ** 30).toFixed(2)} GiB (fp16, external data), best of ${runs}, whole processes, ${inMemory ? 'in /dev/shm' : 'on disk'}`);
  for (const r of rows) console.log(`  ${r.label.padEnd(28)} ${fmtMs(best(r)).padStart(9)}   ${(best(r) / baseline).toFixed(2)}× the user-space copy`);
  if (!python) console.log('  onnx-ir                      skipped (no python3 with onnx_ir; set ONNX_OPT_BENCH_PYTHON)');
  const ours = best(rows[2]!);
  console.log(`  target: onnx-opt ≤ 1.25× the user-space copy: ${(ours / baseline).toFixed(2)}×${python ? `; vs onnx-ir ${(ours / best(rows[3]!)).toFixed(2)}×` : ''}`);
  console.log(`  peak RSS ${rss.toFixed(0)} MB (target < 300 MB)`);
}
