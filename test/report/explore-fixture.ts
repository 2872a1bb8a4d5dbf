import type { ExploreConfig } from '../../src/report/explore.js';
import type { ExploreDocument } from '../../src/report/explore-write.js';
import { paretoFrontier } from '../../src/report/pareto.js';

/** A hand-made explorer result: 5 configurations, 4 of them on the frontier (the fused one is dominated). */
export function sampleExplore(): ExploreDocument {
  const c = (removed: number[], groups: number[][], kl: number, speedup: number, pipeline: string): ExploreConfig => ({
    removed, groups, pipeline, kl, top1: 1 - kl, speedup, prefillSpeedup: speedup, decodeBytes: 1e6 / speedup, parameters: 1e6, kvBytesPerToken: 6144, depth: 32, frontier: false,
  });
  const configs = [
    c([], [], 0, 1, ''),
    c([6], [], 0.02, 1.03, 'attn-prune{layers=[6]}'),
    c([6, 7], [], 0.09, 1.06, 'attn-prune{layers=[6,7]}'),
    c([6, 7], [[5, 7]], 0.12, 1.06, 'attn-prune{layers=[6,7]},ffn-fuse{groups=[[5,7]]}'),
    c([2, 6, 7], [], 0.3, 1.1, 'attn-prune{layers=[2,6,7]}'),
  ];
  for (const i of paretoFrontier(configs)) configs[i]!.frontier = true;
  return {
    schema: 'onnx-opt.explore', version: 1, createdAt: '2026-01-01T00:00:00.000Z', model: 'models/<tiny>.onnx',
    scoringSource: 'calib.txt', heldoutSource: 'heldout.txt', maxKl: 0.1, recommended: configs[2],
    context: 512, prefillTokens: 512, scores: [], matrix: undefined, configs,
    evaluations: { scoring: 1, matrix: 3, heldout: 6, total: 10 }, modelEquivalents: 7.5, scoringModelEquivalents: 0.5, scoringTokens: 100, heldoutTokens: 100,
  };
}
