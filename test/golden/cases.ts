import { makeLlamaModel } from '../../src/fixtures/llama.js';
import type { Model } from '../../src/ir/model.js';
import { analyzeDecoder } from '../../src/passes/analysis/analyze-decoder.js';
import { attnPrune } from '../../src/passes/attn-prune/attn-prune.js';

/**
 * The models behind the checked-in golden sets in test/golden/. Each is built by the project's own
 * fixture generator, so `npx tsx scripts/make-goldens.ts` can rebuild every set from code.
 */
export const GOLDEN_TOKENS: number[][] = [Array.from(Buffer.from('dpkg --configure -a')), Array.from(Buffer.from('apt-get install'))];

const ctx = () => ({ log: () => {}, report: {}, services: {} });

/** 6-layer Llama fixture, KV cache, fp32. */
export function goldenLlama(): Model {
  return makeLlamaModel({ layers: 6, hidden: 48, heads: 4, kvHeads: 2, intermediate: 96, vocab: 256, seed: 21, kvCache: true });
}

/** The fixture with attention 2 and 3 removed (an exact rewrite of a zero-free model: its own golden). */
export async function goldenPruned(): Promise<Model> {
  const m = goldenLlama();
  await attnPrune({ layers: [2, 3] }).run(m, ctx());
  return m;
}

/**
 * The parallel form of FFN group [1, 3] of the pruned fixture: each FFN of the group reads its own
 * norm of x_1. ffn-fuse on the same group must reproduce it (the exact part of fusion).
 */
export async function goldenParallel13(): Promise<Model> {
  const m = await goldenPruned();
  const map = analyzeDecoder(m);
  const x1 = map.layers.find((l) => l.index === 1)!.residualMid;
  for (const t of [2, 3]) {
    const norm = map.layers.find((l) => l.index === t)!.ffn!.norm;
    const nodes = new Set(norm.nodes);
    for (const u of [...norm.input.uses]) if (nodes.has(u.node)) u.node.setInput(u.index, x1);
  }
  return m;
}

export const GOLDEN_CASES = {
  'llama-kv': goldenLlama,
  'llama-kv-parallel-1-3': goldenParallel13,
} as const;
