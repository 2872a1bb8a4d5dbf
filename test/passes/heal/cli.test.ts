import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { optimize } from '../../../src/cli/commands/optimize.js';
import { OnnxOptError } from '../../../src/errors.js';
import { registerBuiltinPasses } from '../../../src/passes/builtin.js';
import { MODELS, TINYLLAMA, tempDir } from '../../helpers/paths.js';

registerBuiltinPasses();
const CALIB = join(MODELS, 'calib.txt');
const HELDOUT = join(MODELS, 'heldout.txt');

describe('optimize --heldout', () => {
  it("feeds heal's check and --verify with the held-out file", async () => {
    const dir = tempDir();
    const output = join(dir, 'out.onnx');
    const { report } = await optimize({ input: TINYLLAMA, output, passes: 'attn-prune{layers=[6,10]},heal', calib: CALIB, heldout: HELDOUT, calibSequences: 8, calibLength: 64, verify: '', quiet: true });
    const run = report.heal!.runs[0]!;
    expect(run.weakCheck).toBe(false);
    expect(run.fitOn).toMatch(/^calib\.txt/);
    expect(run.checkedOn).toMatch(/^heldout\.txt/);
    // verify compared on the same held-out tokens, so it measures the KL heal ended at.
    expect(report.verify!.source!.description).toBe(run.checkedOn);
    expect(report.verify!.logits[0]!.klMean).toBeCloseTo(run.klAfter!, 4);
  }, 60_000);

  it('refuses a missing held-out file before reading the model or writing anything', async () => {
    const dir = tempDir();
    const output = join(dir, 'out.onnx');
    await expect(optimize({ input: TINYLLAMA, output, passes: 'heal', heldout: join(dir, 'nope.txt'), quiet: true })).rejects.toBeInstanceOf(OnnxOptError);
    expect(existsSync(output)).toBe(false);
  });
});
