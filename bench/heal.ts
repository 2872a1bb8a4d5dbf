/**
 * bench/heal: the paper's pipeline `attn-prune{count=k},ffn-fuse` against the same pipeline
 * followed by `heal`, on the trained 16-layer model, for a few k, in one run. Calibration: 256
 * random 128-byte windows of calib.txt; held-out: 16 windows of heldout.txt (the README's
 * figures). Prints held-out KL(original ‖ optimized) of both, their ratio, and the wall time of
 * the healed pipeline as a multiple of the unhealed one. The target: at k = 6 the healed
 * KL is at most half the unhealed one (exit code 1 if not).
 */
import { join } from 'node:path';
import { loadModel } from '../src/io/read-model.js';
import { registerBuiltinPasses } from '../src/passes/builtin.js';
import type { HealReport } from '../src/passes/heal/heal.js';
import { logitsOf, meanKl } from '../src/passes/measure/index.js';
import { runPipeline } from '../src/passes/pass-manager.js';
import { fromTextBytes } from '../src/runtime/calibration/index.js';
import { SHARED_MODELS } from './latency.js';

const COUNTS = [2, 4, 6];
const TARGET = { count: 6, ratio: 0.5 };

export async function benchHeal(): Promise<void> {
  registerBuiltinPasses();
  const path = join(SHARED_MODELS, 'tinyllama-16l.onnx');
  const calibration = fromTextBytes(join(SHARED_MODELS, 'calib.txt'), { numSequences: 256, sequenceLength: 128, sampling: 'random', seed: 0 });
  const heldout = fromTextBytes(join(SHARED_MODELS, 'heldout.txt'), { numSequences: 16, sequenceLength: 128 });
  const original = loadModel(path);
  const baseline = await logitsOf(original, { sequences: heldout.sequences, calibration: 'whole' });
  console.log(`bench/heal  tinyllama-16l (ORT CPU, 1 thread); fit on ${calibration.source.description}; held-out ${heldout.source.description}`);
  console.log('  pipeline                       KL paper   KL healed   healed/paper   time healed/paper   segments healed');
  let targetRatio: number | undefined;
  for (const k of COUNTS) {
    const paper = `attn-prune{count=${k}},ffn-fuse`;
    const services = () => ({ calibration, heldout, calibrationMode: 'whole' as const });
    const plain = loadModel(path);
    let t0 = performance.now();
    await runPipeline(plain, paper, { services: services() });
    const plainMs = performance.now() - t0;
    const plainKl = meanKl(baseline, await logitsOf(plain, { sequences: heldout.sequences, calibration: 'whole' }));
    const healed = loadModel(path);
    t0 = performance.now();
    const run = await runPipeline(healed, `${paper},heal`, { services: services() });
    const healedMs = performance.now() - t0;
    const healedKl = meanKl(baseline, await logitsOf(healed, { sequences: heldout.sequences, calibration: 'whole' }));
    const h = (run.report.heal as HealReport).runs[0]!;
    const ratio = plainKl > 0 ? healedKl / plainKl : 1;
    if (k === TARGET.count) targetRatio = ratio;
    console.log(
      `  ${paper.padEnd(29)}  ${plainKl.toFixed(4).padStart(8)}  ${healedKl.toFixed(4).padStart(10)}  ${ratio.toFixed(3).padStart(13)}  ${(healedMs / plainMs).toFixed(1).padStart(17)}×  ${h.segments.filter((s) => s.applied).length} of ${h.segments.length}`,
    );
  }
  const met = targetRatio !== undefined && targetRatio <= TARGET.ratio;
  console.log(`  target: attn-prune{count=${TARGET.count}},ffn-fuse healed/paper ≤ ${TARGET.ratio}: ${targetRatio?.toFixed(3)} — ${met ? 'met' : 'NOT met'}`);
  if (!met) process.exitCode = 1;
}
