import type { OptimizationReport } from '../../src/report/schema.js';

/** A synthetic report with every section, for rendering tests. */
export function sampleReport(): OptimizationReport {
  const layers = [2, 3, 4, 5, 6, 7, 8];
  const values = layers.map((_, i) => layers.map((_, j) => (j > i && !(i <= 3 && j >= 4) ? 10 ** -(1 + ((i + j) % 5)) : null)));
  return {
    schema: 'onnx-opt.report',
    version: 1,
    createdAt: '2026-11-28T12:00:00.000Z',
    tool: { name: 'onnx-opt', version: '0.1.0' },
    input: 'models/<in>.onnx',
    output: 'out/model.onnx',
    pipeline: 'attn-prune{count=5},ffn-fuse{threshold=0.01}',
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
    latency: [{ label: 'decode 32 tokens', beforeMs: 62, afterMs: 31 }],
  };
}
