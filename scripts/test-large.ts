/**
 * npm run test:large — a Llama-style fp16 model with external data bigger than this machine's
 * comfortable memory share (≈4.4 GB):
 * 1. optimized with explicit choices (no calibration): canonicalize, attn-prune on fixed layers,
 *    ffn-fuse on fixed groups. Checks the output's structure, samples fused weight rows against
 *    the source weights, and requires peak RSS < 500 MB.
 * 2. optimized with calibration: attn-prune{count=4},ffn-fuse on data-free (sampled) calibration,
 *    run block-wise. Requires peak RSS ≤ 1.5 GB (the model is 3× that) and bytes written ≤ 1.2× the
 *    output's size (no copy of the weights). `--calibrated-only` skips part 1.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { llamaWeightNames } from '../src/fixtures/llama.js';
import { loadModel } from '../src/io/read-model.js';
import { DataType } from '../src/ir/dtype.js';
import { float16ToNumber, numberToFloat16, readRange } from '../src/ir/tensor.js';
import { analyzeDecoder } from '../src/passes/analysis/analyze-decoder.js';

const dir = process.env.ONNX_OPT_LARGE_DIR ?? join(tmpdir(), 'onnx-opt-large');
const keep = process.argv.includes('--keep');
const src = join(dir, 'model.onnx');
const out = join(dir, 'out', 'model.onnx');
const PIPELINE = 'canonicalize,attn-prune{layers=[2,3,5,6]},ffn-fuse{groups=[[1,3],[4,6]]}';
const RSS_LIMIT_MB = 500;
const CALIBRATED = 'attn-prune{count=4},ffn-fuse';
const CALIBRATED_RSS_LIMIT_MB = 1500;
const calibratedOnly = process.argv.includes('--calibrated-only');

function worker(args: string[]): Record<string, unknown> {
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'large-worker.ts'), ...args], { encoding: 'utf8', maxBuffer: 16 << 20 });
  if (r.status !== 0) throw new Error(`large-worker ${args[0]} failed: ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as Record<string, unknown>;
}

const failures: string[] = [];
const check = (ok: boolean, what: string) => {
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${what}`);
  if (!ok) failures.push(what);
};

mkdirSync(dir, { recursive: true });
if (!existsSync(src)) {
  console.log(`generating ${src} (first run only, a few minutes)...`);
  worker(['generate', src]);
}
const gib = (statSync(src).size + statSync(src + '.data').size) / 2 ** 30;
console.log(`model: ${gib.toFixed(2)} GiB with external data`);
check(gib >= 4, 'the model is at least 4 GB');

if (!calibratedOnly) {
  rmSync(join(dir, 'out'), { recursive: true, force: true });
  const r = worker(['optimize', src, out, PIPELINE]);
  console.log(`pipeline ${PIPELINE}: ${(Number(r.ms) / 1000).toFixed(1)} s, peak RSS ${Number(r.maxRssMB).toFixed(0)} MB, passes ${JSON.stringify(r.timings)}`);
  check(Number(r.maxRssMB) < RSS_LIMIT_MB, `peak RSS ${Number(r.maxRssMB).toFixed(0)} MB < ${RSS_LIMIT_MB} MB`);

  // Structure of the output.
  const srcModel = loadModel(src);
  const outModel = loadModel(out);
  const map = analyzeDecoder(outModel);
  check(map.unrecognized.length === 0, 'every layer of the output is recognized');
  check(JSON.stringify(map.layers.map((l) => l.span ?? l.index)) === JSON.stringify([0, [1, 3], [4, 6], 7, 8, 9, 10]), `layers: ${JSON.stringify(map.layers.map((l) => l.span ?? l.index))}`);
  check(map.layers.filter((l) => l.attention).length === 7, 'attention in layers 0, 1, 4, 7, 8, 9, 10 only');
  const inputs = outModel.graph.inputs.map((v) => v.name);
  check([2, 3, 5, 6].every((l) => !inputs.includes(`past_key_values.${l}.key`)) && inputs.includes('past_key_values.4.value'), 'cache inputs of pruned layers removed, others kept');

  // Sample fused gate rows against γ_t ⊙ source rows, read with positioned reads only.
  const fused = map.layers.find((l) => l.index === 1)!.ffn!.gate!.weight.initializer!;
  check(fused.dtype === DataType.FLOAT16 && fused.dims.join() === `4096,${3 * 11008}`, `fused gate is f16 [4096, 33024] (got ${fused.dims})`);
  const rowBytes = (n: number) => n * 2;
  const readRow = (t: typeof fused, row: number, cols: number): Uint16Array => {
    const s = t.storage;
    if (s.kind !== 'external') throw new Error('expected external storage');
    const b = readRange(s.path, s.offset + row * rowBytes(cols), rowBytes(cols));
    return new Uint16Array(b.buffer, b.byteOffset, cols);
  };
  let mismatches = 0;
  for (const row of [0, 1, 2047, 4095]) {
    const got = readRow(fused, row, 3 * 11008);
    for (const [k, layer] of [1, 2, 3].entries()) {
      const names = llamaWeightNames.layer(layer);
      const w = srcModel.graph.initializers.get(names.gate)!.initializer!;
      const gamma = float16ToNumber(new Uint16Array(srcModel.graph.initializers.get(names.postNorm)!.initializer!.toArray().buffer)[row]!);
      const srcRow = readRow(w, row, 11008);
      for (let c = 0; c < 11008; c += 97) {
        const expected = numberToFloat16(float16ToNumber(srcRow[c]!) * gamma);
        if (got[k * 11008 + c] !== expected) mismatches++;
      }
    }
  }
  check(mismatches === 0, `sampled fused gate elements equal γ_t · W_t in fp16 (${mismatches} mismatches)`);
}

// Calibrated: sampling, cosine scores and the dependency matrix all run on the 4.4 GB model.
const outCal = join(dir, 'out-calibrated', 'model.onnx');
rmSync(join(dir, 'out-calibrated'), { recursive: true, force: true });
const c = worker(['optimize', src, outCal, CALIBRATED]);
const outBytes = readdirSync(dirname(outCal)).reduce((n, f) => n + statSync(join(dirname(outCal), f)).size, 0);
const report = c.report as { 'attn-prune'?: { removed: number[]; evaluations: number }; 'ffn-fuse'?: { matrix?: { evaluations: number }; groups: number[][] } };
console.log(
  `pipeline ${CALIBRATED} (data-free, block-wise): ${(Number(c.ms) / 1000).toFixed(1)} s, peak RSS ${Number(c.maxRssMB).toFixed(0)} MB, ` +
    `written ${(Number(c.bytesWritten) / 2 ** 30).toFixed(2)} GiB for an output of ${(outBytes / 2 ** 30).toFixed(2)} GiB, passes ${JSON.stringify(c.timings)}`,
);
for (const l of c.logs as string[]) if (/calibration|removed|fused|model-equivalents|matrix/.test(l)) console.log(`  ${l}`);
check(Number(c.maxRssMB) <= CALIBRATED_RSS_LIMIT_MB, `calibrated: peak RSS ${Number(c.maxRssMB).toFixed(0)} MB ≤ ${CALIBRATED_RSS_LIMIT_MB} MB`);
check(Number(c.bytesWritten) <= 1.2 * outBytes, `calibrated: bytes written ${Number(c.bytesWritten)} ≤ 1.2 × output ${outBytes}`);
check(report['attn-prune']?.removed.length === 4, `calibrated: 4 attention sublayers removed (${JSON.stringify(report['attn-prune']?.removed)})`);
check((report['ffn-fuse']?.matrix?.evaluations ?? 0) > 0, `calibrated: dependency matrix computed (${report['ffn-fuse']?.matrix?.evaluations ?? 0} evaluations), groups ${JSON.stringify(report['ffn-fuse']?.groups)}`);
const calMap = analyzeDecoder(loadModel(outCal));
check(calMap.unrecognized.length === 0 && calMap.layers.filter((l) => l.attention).length === 7, 'calibrated: the output has 7 attention sublayers, every layer recognized');
if (!keep) rmSync(join(dir, 'out-calibrated'), { recursive: true, force: true });

if (!keep) rmSync(join(dir, 'out'), { recursive: true, force: true });
console.log(failures.length ? `${failures.length} checks failed` : 'all large-model checks passed');
process.exit(failures.length ? 1 : 0);
