/**
 * bench/attn-prune: the real 16-layer model at 25% and 50% attention pruning. ORT CPU latency
 * before and after (prefill 128 tokens; 32 cached decode steps) as ratios, and KL / top-1 on
 * held-out text, all measured in this run.
 */
import { attnPrune } from '../src/passes/attn-prune/attn-prune.js';
import { calibration, decodeMs, heldoutQuality, loadReal, prefillMs } from './latency.js';
import { fmtMs } from './lib.js';

export async function benchAttnPrune(): Promise<void> {
  const original = loadReal();
  const base = { prefill: await prefillMs(original), decode: await decodeMs(original) };
  console.log('bench/attn-prune  tinyllama-16l-kv (ORT CPU, 1 thread)');
  console.log(`  original        prefill(128) ${fmtMs(base.prefill)}   decode(32) ${fmtMs(base.decode)}`);
  for (const ratio of [0.25, 0.5]) {
    const m = loadReal();
    const ctx = { log: () => {}, report: {} as Record<string, unknown>, services: { calibration: await calibration() } };
    await attnPrune({ ratio }).run(m, ctx);
    const removed = (ctx.report['attn-prune'] as { removed: number[] }).removed;
    const p = await prefillMs(m);
    const d = await decodeMs(m);
    const q = await heldoutQuality(original, m);
    console.log(
      `  ${String(ratio * 100).padStart(2)}% pruned      prefill ${fmtMs(p)} (${(base.prefill / p).toFixed(2)}× faster)   decode ${fmtMs(d)} (${(base.decode / d).toFixed(2)}× faster)   held-out KL ${q.kl.toFixed(4)}, top-1 ${(q.top1 * 100).toFixed(1)}%   layers [${removed}]`,
    );
  }
}
