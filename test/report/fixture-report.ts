import type { ComparisonResult } from '../../src/verify/compare.js';
import type { OptimizationReport } from '../../src/report/schema.js';

/** A synthetic verification result: logits plus two KV outputs, passed. */
export function sampleVerify(): ComparisonResult {
  return {
    labels: ['original', 'optimized'],
    runs: 2,
    outputs: [
      { name: 'logits', maxAbs: 0.0166, maxRel: 3.7, cosine: 0.9999991, elements: 131072, nanMismatches: 0 },
      { name: 'present.0.key', maxAbs: 0, maxRel: 0, cosine: 1, elements: 8192, nanMismatches: 0 },
      { name: 'present.0.value', maxAbs: 1.5e-7, maxRel: 2e-5, cosine: 1, elements: 8192, nanMismatches: 0 },
    ],
    logits: [
      { output: 'logits', positions: 512, klMean: 7.17e-7, klP95: 2.26e-6, klMax: 1.59e-5, top1: 0.998046875, scoredTokens: 504, perplexityA: 161.3158, perplexityB: 161.3182, perplexityRatio: 1.0000148 },
    ],
    onlyInA: ['present.3.key', 'present.3.value'],
    onlyInB: [],
    source: { kind: 'sampled', numSequences: 8, sequenceLength: 64, seed: 0, description: 'sampled from the model: 8 × 64 tokens' },
    thresholds: { maxKl: 0.01 },
    passed: true,
    breaches: [],
  };
}

/**
 * A synthetic report with every section, for rendering tests: 10 layers, 5 attention sublayers
 * removed (3, 4, 5, 7, 8; 0 and 9 protected), candidate runs 2–5 and 6–8, group 2–4 fused.
 */
export function sampleReport(): OptimizationReport {
  const layers = [2, 3, 4, 5, 6, 7, 8];
  const runOf = (l: number) => (l <= 5 ? 0 : 1);
  // M_ij cycles through six decades (1e-1 .. 1e-6) inside each run; null across runs and for i >= j.
  let k = 0;
  const values = layers.map((li, i) => layers.map((lj, j) => (j > i && runOf(li) === runOf(lj) ? Number(`1e-${1 + (k++ % 6)}`) : null)));
  return {
    schema: 'onnx-opt.report',
    version: 1,
    createdAt: '2026-11-28T12:00:00.000Z',
    tool: { name: 'onnx-opt', version: '0.1.0' },
    input: 'models/<in>.onnx',
    output: 'out/model.onnx',
    pipeline: 'attn-prune{count=5},ffn-fuse{threshold=0.01}',
    passOptions: [
      { pass: 'attn-prune', options: { count: '5' }, defaults: { method: '"cosine"', protect: '[0,-1]' } },
      { pass: 'ffn-fuse', options: { threshold: '0.01' }, defaults: { 'max-group': '8', mode: '"exact"' } },
    ],
    calibration: 'sampled from the model',
    before: { parameters: 402_800, parameterBytes: 1_611_200, nodes: 1500, layers: 10, attentionSublayers: 10, ffnSteps: 10, depth: 20 },
    after: { parameters: 340_800, parameterBytes: 1_363_200, nodes: 1100, layers: 10, attentionSublayers: 5, ffnSteps: 8, depth: 13 },
    passes: [
      { pass: 'attn-prune{count=5}', ms: 812.4, modified: true, stats: { 'attention removed': 5 } },
      { pass: 'ffn-fuse{threshold=0.01}', ms: 1203.9, modified: true, stats: { 'groups fused': 1 } },
    ],
    attnPrune: {
      method: 'cosine',
      scores: Array.from({ length: 10 }, (_, l) => ({ layer: l, score: [3, 4, 5, 7, 8].includes(l) ? 1e-8 : 0.02 + l / 1000, removed: [3, 4, 5, 7, 8].includes(l), protected: l === 0 || l === 9 })),
      removed: [3, 4, 5, 7, 8],
      calibration: 'sampled',
      parametersBefore: 402_800,
      parametersAfter: 340_800,
      kvBytesPerTokenBefore: 10240,
      kvBytesPerTokenAfter: 5120,
      evaluations: 1,
    },
    ffnFuse: {
      mode: 'exact',
      candidateRuns: [[2, 3, 4, 5], [6, 7, 8]],
      matrix: { layers, values, evaluations: 6 },
      groups: [[2, 4]],
      threshold: 0.01,
      evaluations: 6,
      ffnStepsBefore: 10,
      ffnStepsAfter: 8,
      depthBefore: 15,
      depthAfter: 13,
      parametersBefore: 340_800,
      parametersAfter: 340_800,
    },
    verify: sampleVerify(),
    latency: [{ label: 'decode 32 tokens', beforeMs: 62, afterMs: 31 }],
  };
}

/** A big model's report: `n` layers, every other attention removed, one long run with two groups. */
export function largeReport(n = 80): OptimizationReport {
  const r = sampleReport();
  const removed = Array.from({ length: n }, (_, l) => l).filter((l) => l % 2 === 1 && l < n - 1);
  r.attnPrune!.scores = Array.from({ length: n }, (_, l) => ({ layer: l, score: removed.includes(l) ? 0.001 + l / 1e5 : 0.05 + (l % 7) / 100, removed: removed.includes(l), protected: l === 0 || l === n - 1 }));
  r.attnPrune!.removed = removed;
  const layers = Array.from({ length: 40 }, (_, k) => k + 20);
  r.ffnFuse!.candidateRuns = [layers];
  r.ffnFuse!.matrix = { layers, values: layers.map((_, i) => layers.map((_, j) => (j > i ? 1e-4 * (1 + j - i) ** 2 : null))), evaluations: 40 };
  r.ffnFuse!.groups = [[20, 27], [30, 37]];
  return r;
}
