// Child process of bench/calibration.ts: one measurement per process, so peak RSS is its own.
import { readFileSync, writeFileSync } from 'node:fs';
import { saveModel } from '../src/io/write-model.js';
import { makeLlamaModel } from '../src/fixtures/llama.js';
import { loadModel } from '../src/io/read-model.js';
import { analyzeDecoder } from '../src/passes/analysis/analyze-decoder.js';
import { cosineScores, klScores, withoutAttention } from '../src/passes/attn-prune/scores.js';
import { dependencyMatrix } from '../src/passes/ffn-fusion/dependency-matrix.js';
import type { CalibrationMode, CalibrationStats } from '../src/runtime/blocks/trials.js';
import { loadCalibration } from '../src/runtime/calibration/index.js';
import { residualBoundaries } from '../src/passes/measure/boundaries.js';

const [step, path, method, mode, size] = process.argv.slice(2);
if (step === 'generate') {
  const s = JSON.parse(size!) as { layers: number; hidden: number; intermediate: number; vocab: number };
  const model = makeLlamaModel({ ...s, heads: 16, kvHeads: 4, seed: 5, kvCache: true });
  saveModel(model, path!, { externalData: 'external' });
  // Calibration tokens sampled from the model (block-wise, with the cache), once, so that the
  // measurements below start from a fresh process that has run nothing else.
  const generated = loadModel(path!);
  const data = await loadCalibration(generated, { kind: 'sampled' }, { numSequences: 4, sequenceLength: 32, seed: 0, boundaries: residualBoundaries(generated) });
  writeFileSync(`${path}.tokens.json`, JSON.stringify(data.sequences));
  console.log(JSON.stringify({ ok: true }));
} else {
  const model = loadModel(path!);
  const map = analyzeDecoder(model);
  const n = map.layers.length;
  const data = { sequences: JSON.parse(readFileSync(`${path}.tokens.json`, 'utf8')) as number[][] };
  const stats: CalibrationStats = { modelEquivalents: 0, sessions: 0 };
  const o = { sequences: data.sequences, batchSize: 4, calibration: mode as CalibrationMode, stats };
  const rss0 = process.resourceUsage().maxRSS;
  const t0 = performance.now();
  if (method === 'cosine') await cosineScores(model, map, o);
  else if (method === 'kl') await klScores(model, Array.from({ length: n - 2 }, (_, i) => i + 1), o);
  else {
    // The matrix on the model as attn-prune leaves it: attention gone in the middle third.
    const a = Math.floor(n / 3);
    const b = Math.floor((2 * n) / 3);
    const pruned = withoutAttention(model, Array.from({ length: b - a }, (_, i) => a + 1 + i));
    await dependencyMatrix(pruned, analyzeDecoder(pruned), [Array.from({ length: b - a + 1 }, (_, i) => a + i)], o);
  }
  console.log(JSON.stringify({ ms: performance.now() - t0, maxRssMB: process.resourceUsage().maxRSS / 1024, rssBeforeMB: rss0 / 1024, ...stats }));
}
