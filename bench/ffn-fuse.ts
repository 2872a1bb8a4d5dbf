/**
 * bench/ffn-fuse: original, pruned (attn-prune{count=6}) and pruned+fused on the real model, in one
 * run: ORT CPU latency of prefill (128) and decode (32 cached steps) as ratios to the original,
 * plus the model evaluations the dependency matrix took.
 */
import { attnPrune } from '../src/passes/attn-prune/attn-prune.js';
import { ffnFuse, type FfnFuseReport } from '../src/passes/ffn-fusion/ffn-fuse.js';
import { copyModel } from '../src/runtime/probes.js';
import { calibration, decodeMs, heldoutQuality, loadReal, prefillMs } from './latency.js';
import { fmtMs } from './lib.js';

export async function benchFfnFuse(): Promise<void> {
  const original = loadReal();
  const services = { calibration: await calibration() };
  const pruned = loadReal();
  await attnPrune({ count: 6 }).run(pruned, { log: () => {}, report: {}, services });
  const fused = copyModel(pruned);
  const report: Record<string, unknown> = {};
  await ffnFuse({ 'keep-last': false }).run(fused, { log: () => {}, report, services });
  const r = report['ffn-fuse'] as FfnFuseReport;
  const rows: [string, typeof original][] = [
    ['original', original],
    ['pruned', pruned],
    ['pruned+fused', fused],
  ];
  console.log('bench/ffn-fuse  tinyllama-16l-kv (ORT CPU, 1 thread)');
  let base: { p: number; d: number } | undefined;
  for (const [label, m] of rows) {
    const p = await prefillMs(m);
    const d = await decodeMs(m);
    base ??= { p, d };
    const q = m === original ? undefined : await heldoutQuality(original, m);
    console.log(
      `  ${label.padEnd(13)} prefill(128) ${fmtMs(p)} (${(base.p / p).toFixed(2)}×)   decode(32) ${fmtMs(d)} (${(base.d / d).toFixed(2)}×)${q ? `   held-out KL ${q.kl.toFixed(4)}, top-1 ${(q.top1 * 100).toFixed(1)}%` : ''}`,
    );
  }
  console.log(`  groups ${JSON.stringify(r.groups)}; sequential FFNs ${r.ffnStepsBefore} → ${r.ffnStepsAfter}; dependency matrix: ${r.evaluations} model evaluations for ${r.matrix?.layers.length ?? 0} FFNs in ${r.candidateRuns.length} runs`);
}
