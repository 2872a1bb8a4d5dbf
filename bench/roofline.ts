/**
 * bench/roofline: does the speed-up follow the bytes removed at a realistic size? A 24-layer,
 * hidden-1024 GQA Llama (fp32, generated once with external data in the OS temp folder), with 25%
 * and 50% of its attention removed, then the resulting FFN run fused. ORT CPU latency (intra-op
 * threads = cores) of batch-1 decode steps at several contexts and of a 512-token prefill, as ratios
 * to the original (the two run alternately, since the machine's load drifts), next to the roofline prediction (bytes per decode step, FLOPs per prefill).
 * `ROOFLINE_CONTEXTS=128,512` and `ROOFLINE_PREFILL=0` shorten a run on a slow machine;
 * `ROOFLINE_DTYPE=float16` measures the fp16 model instead.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync } from 'node:fs';
import { availableParallelism, cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { saveModel } from '../src/io/write-model.js';
import { makeLlamaModel, type LlamaFixtureOptions } from '../src/fixtures/llama.js';
import { loadModel } from '../src/io/read-model.js';
import type { Model } from '../src/ir/model.js';
import { formatBytes, formatCount, summarizeModel } from '../src/ir/summary.js';
import { analyzeDecoder } from '../src/passes/analysis/analyze-decoder.js';
import { withoutAttention } from '../src/passes/attn-prune/scores.js';
import { fuseGroup } from '../src/passes/ffn-fusion/fuse.js';
import { pipelineText } from '../src/report/explore.js';
import { decodeBytes, prefillFlops, rooflineCounts, type RooflineCounts } from '../src/report/roofline.js';
import { buildFeeds, decoderSignature, type DecoderSignature } from '../src/runtime/decoder-inputs.js';
import { copyModel } from '../src/runtime/probes.js';
import { ModelSession } from '../src/runtime/session.js';
import { fmtMs, median } from './lib.js';

const DTYPE = process.env.ROOFLINE_DTYPE === 'float16' ? 'float16' : 'float32';
const SIZE: LlamaFixtureOptions = { layers: 24, hidden: 1024, heads: 16, kvHeads: 4, intermediate: 2816, vocab: 32000, kvCache: true, seed: 7, ...(DTYPE === 'float16' ? { dtype: 'float16' as const } : {}) };
const CONTEXTS = (process.env.ROOFLINE_CONTEXTS ?? '128,512,2048').split(',').map(Number);
const PREFILL = Number(process.env.ROOFLINE_PREFILL ?? 512);
const DECODE_RUNS = 15;
const PREFILL_RUNS = 5;

/** Explicit choices (random weights make scores meaningless): contiguous late-middle layers, so one run appears. */
const CONFIGS: { label: string; removed: number[]; groups: number[][] }[] = [
  { label: '25% attention removed', removed: range(16, 21), groups: [] },
  { label: '25% + FFN run fused', removed: range(16, 21), groups: [[15, 21]] },
  { label: '50% attention removed', removed: range(10, 21), groups: [] },
  { label: '50% + FFN run fused', removed: range(10, 21), groups: [[9, 21]] },
];

function range(a: number, b: number): number[] {
  return Array.from({ length: b - a + 1 }, (_, i) => a + i);
}

function fixturePath(): string {
  const key = createHash('sha256').update(JSON.stringify(SIZE)).digest('hex').slice(0, 12);
  const dir = join(tmpdir(), `onnx-opt-roofline-${key}`);
  const path = join(dir, 'model.onnx');
  if (!existsSync(path)) {
    mkdirSync(dir, { recursive: true });
    const t0 = performance.now();
    saveModel(makeLlamaModel(SIZE), path, { externalData: 'external' });
    console.log(`  generated ${path} in ${fmtMs(performance.now() - t0)}`);
  }
  return path;
}

function build(original: Model, removed: number[], groups: number[][]): Model {
  const m = withoutAttention(original, removed);
  if (!groups.length) return m;
  const fused = copyModel(m);
  for (const g of groups) fuseGroup(fused, analyzeDecoder(fused), g as [number, number], 'exact');
  return fused;
}

/** Feeds of one decode step with `context` tokens of (zero) cache: the cost does not depend on the cache's values. */
function decodeFeeds(sig: DecoderSignature, context: number): Record<string, ort.Tensor> {
  const past: Record<string, ort.Tensor> = {};
  for (const s of sig.cache) {
    const dims = s.shape.map((d, i) => (i === s.batchAxis ? 1 : i === s.sequenceAxis ? context : (d as number)));
    const n = dims.reduce((a, b) => a * b, 1);
    past[s.past] = s.dtype === 'float16' ? new ort.Tensor('float16', new Uint16Array(n), dims) : new ort.Tensor('float32', new Float32Array(n), dims);
  }
  return buildFeeds(sig, [[42]], [new Array<number>(context + 1).fill(1)], past);
}

/** One timed run, ms. */
async function once(s: ModelSession, feeds: Record<string, ort.Tensor>, logits: string): Promise<number> {
  const t0 = performance.now();
  await s.run(feeds, [logits]);
  return performance.now() - t0;
}

/**
 * Original and configuration run alternately (the machine is shared, so its load drifts): the
 * ratio is the median of the per-pair ratios, the times the medians of each side.
 */
async function pairs(a: ModelSession, fa: Record<string, ort.Tensor>, b: ModelSession, fb: Record<string, ort.Tensor>, logits: string, runs: number): Promise<{ a: number; b: number; ratio: number }> {
  await once(a, fa, logits);
  await once(b, fb, logits);
  const ta: number[] = [];
  const tb: number[] = [];
  for (let i = 0; i < runs; i++) {
    ta.push(await once(a, fa, logits));
    tb.push(await once(b, fb, logits));
  }
  return { a: median(ta), b: median(tb), ratio: median(ta.map((t, i) => t / tb[i]!)) };
}

interface Measured {
  phase: string;
  originalMs: number;
  optimizedMs: number;
  ratio: number;
}

async function measure(original: Model, optimized: Model, threads: number): Promise<Measured[]> {
  const sa = decoderSignature(original);
  const sb = decoderSignature(optimized);
  const a = await ModelSession.create(original, { threads });
  try {
    const b = await ModelSession.create(optimized, { threads });
    try {
      const out: Measured[] = [];
      for (const c of CONTEXTS) {
        const r = await pairs(a, decodeFeeds(sa, c), b, decodeFeeds(sb, c), sa.logits, DECODE_RUNS);
        out.push({ phase: `decode @${c}`, originalMs: r.a, optimizedMs: r.b, ratio: r.ratio });
      }
      if (PREFILL > 0) {
        const ids = Array.from({ length: PREFILL }, (_, i) => (i * 7919) % SIZE.vocab);
        const mask = [new Array<number>(PREFILL).fill(1)];
        const r = await pairs(a, buildFeeds(sa, [ids], mask, undefined), b, buildFeeds(sb, [ids], mask, undefined), sa.logits, PREFILL_RUNS);
        out.push({ phase: `prefill ${PREFILL}`, originalMs: r.a, optimizedMs: r.b, ratio: r.ratio });
      }
      return out;
    } finally {
      await b.release();
    }
  } finally {
    await a.release();
  }
}

export async function benchRoofline(): Promise<void> {
  const threads = availableParallelism();
  console.log(`bench/roofline  Llama ${SIZE.layers} layers, hidden ${SIZE.hidden}, ${SIZE.heads}/${SIZE.kvHeads} heads (GQA), FFN ${SIZE.intermediate}, vocab ${SIZE.vocab}, ${DTYPE === 'float16' ? 'fp16' : 'fp32'}`);
  console.log(`  ORT CPU, ${threads} intra-op threads (${cpus()[0]?.model ?? 'unknown CPU'}); original and optimized alternate, ratio = median of ${DECODE_RUNS} (decode) / ${PREFILL_RUNS} (prefill) paired ratios`);
  const original = loadModel(fixturePath());
  const s = summarizeModel(original);
  console.log(`  ${formatCount(s.parameters)} parameters, ${formatBytes(s.parameterBytes)}`);
  const before = rooflineCounts(original);
  console.log('');
  console.log(`  ${'configuration'.padEnd(22)}  ${'phase'.padEnd(12)}  ${'original'.padStart(8)}  ${'optimized'.padStart(9)}  ${'measured'.padStart(8)}  ${'predicted'.padStart(9)}  ${'meas/pred'.padStart(9)}`);
  for (const cfg of CONFIGS) {
    const m = build(original, cfg.removed, cfg.groups);
    const after = rooflineCounts(m);
    for (const r of await measure(original, m, threads)) {
      const c = /^decode @(\d+)$/.exec(r.phase);
      const predicted = c ? ratio(before, after, (x) => decodeBytes(x, Number(c[1]))) : ratio(before, after, (x) => prefillFlops(x, PREFILL));
      console.log(
        `  ${cfg.label.padEnd(22)}  ${r.phase.padEnd(12)}  ${fmtMs(r.originalMs).padStart(8)}  ${fmtMs(r.optimizedMs).padStart(9)}  ${`${r.ratio.toFixed(3)}×`.padStart(8)}  ${`${predicted.toFixed(3)}×`.padStart(9)}  ${(r.ratio / predicted).toFixed(3).padStart(9)}`,
      );
    }
    console.log(`  ${''.padEnd(22)}  ${pipelineText(cfg.removed, cfg.groups)}`);
  }
}

function ratio(a: RooflineCounts, b: RooflineCounts, f: (x: RooflineCounts) => number): number {
  return f(a) / f(b);
}
