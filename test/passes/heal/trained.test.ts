import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadModel } from '../../../src/io/read-model.js';
import { registerBuiltinPasses } from '../../../src/passes/builtin.js';
import type { HealReport } from '../../../src/passes/heal/heal.js';
import { runPipeline } from '../../../src/passes/pass-manager.js';
import { fromTextBytes } from '../../../src/runtime/calibration/index.js';
import { MODELS, TINYLLAMA } from '../../helpers/paths.js';

registerBuiltinPasses();

/**
 * The target on the trained model, at CI size: calibrate on calib.txt (32 random windows of
 * 128 bytes), measure on heldout.txt (16 windows of 128). The full target (healed held-out KL at most
 * half the unhealed one) needs more calibration tokens than a test should spend; `npm run bench heal`
 * runs it with 256 windows. Here healing must still remove at least 40% of the held-out KL.
 */
const calibration = fromTextBytes(join(MODELS, 'calib.txt'), { numSequences: 32, sequenceLength: 128, sampling: 'random', seed: 0 });
const heldout = fromTextBytes(join(MODELS, 'heldout.txt'), { numSequences: 16, sequenceLength: 128 });

describe('heal on the trained 16-layer model', () => {
  it('attn-prune{count=6},ffn-fuse,heal removes at least 40% of the held-out KL', async () => {
    const model = loadModel(TINYLLAMA);
    const run = await runPipeline(model, 'attn-prune{count=6},ffn-fuse,heal', { services: { calibration, heldout, calibrationMode: 'whole' } });
    const h = (run.report.heal as HealReport).runs[0]!;
    // klBefore is the unhealed pipeline's held-out KL against the input model (same tokens, same reference).
    expect(h.klBefore!).toBeGreaterThan(0.05);
    expect(h.klAfter! / h.klBefore!).toBeLessThan(0.6);
    expect(h.segments.length).toBeGreaterThanOrEqual(5);
    expect(h.segments.filter((s) => s.kind === 'fused-ffn').length).toBeGreaterThanOrEqual(1);
    expect(h.weakCheck).toBe(false);
  }, 120_000);
});
