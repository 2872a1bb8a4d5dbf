import { describe, expect, it } from 'vitest';
import { loadModel } from '../../../src/io/read-model.js';
import { analyzeDecoder } from '../../../src/passes/analysis/analyze-decoder.js';
import { withoutAttention } from '../../../src/passes/attn-prune/scores.js';
import { dependencyMatrix } from '../../../src/passes/ffn-fusion/dependency-matrix.js';
import type { CalibrationStats } from '../../../src/runtime/blocks/trials.js';
import { TINYLLAMA } from '../../helpers/paths.js';

const SEQS = [
  [72, 101, 108, 108, 111, 32, 119, 111, 114, 108, 100, 33],
  [84, 104, 101, 32, 99, 97, 116, 32, 115, 97, 116, 46],
  [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12],
];

describe('dependency matrix, block-wise', () => {
  it('equals the whole-model matrix; removal runs start at the removed FFN and stop at the run end', async () => {
    const model = withoutAttention(loadModel(TINYLLAMA), [4, 5, 6, 7, 10, 11]);
    const map = analyzeDecoder(model);
    const runs = [
      [3, 4, 5, 6, 7],
      [9, 10, 11],
    ];
    const sw: CalibrationStats = { modelEquivalents: 0, sessions: 0 };
    const sb: CalibrationStats = { modelEquivalents: 0, sessions: 0 };
    const whole = await dependencyMatrix(model, map, runs, { sequences: SEQS, batchSize: 2, calibration: 'whole', stats: sw });
    const block = await dependencyMatrix(model, map, runs, { sequences: SEQS, batchSize: 2, calibration: 'blockwise', stats: sb });
    expect(block.layers).toEqual(whole.layers);
    let defined = 0;
    whole.values.forEach((row, i) =>
      row.forEach((v, j) => {
        const b = block.values[i]![j];
        if (v === null) expect(b).toBeNull();
        else {
          defined++;
          expect(v).toBeGreaterThan(1e-4);
          expect(Math.abs(b! - v)).toBeLessThan(1e-6);
        }
      }),
    );
    expect(defined).toBe(10 + 3);
    expect(whole.evaluations).toBe(7);
    expect(sw.modelEquivalents).toBe(7);
    // Baseline to layer 11, removals from their layer to the run's end: ≈ 0.75 + Σ(run end − i)/16.
    expect(sb.modelEquivalents).toBeLessThan(0.35 * sw.modelEquivalents);
  });
});
