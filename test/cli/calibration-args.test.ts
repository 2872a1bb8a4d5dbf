import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadCalibrationFromArgs } from '../../src/cli/calibration-args.js';
import { readConfigFile } from '../../src/cli/config-file.js';
import { writeFileSync } from 'node:fs';
import { loadModel } from '../../src/io/read-model.js';
import { MODELS, TINYLLAMA, tempDir } from '../helpers/paths.js';

const CALIB = join(MODELS, 'calib.txt');

describe('--calib-windows', () => {
  const model = loadModel(TINYLLAMA);

  it('sequential (the default) takes windows in order from the start of the file', async () => {
    const a = await loadCalibrationFromArgs(model, { calib: CALIB, calibSequences: 4, calibLength: 32 });
    const b = await loadCalibrationFromArgs(model, { calib: CALIB, calibSequences: 4, calibLength: 32, calibWindows: 'sequential' });
    expect(b.sequences).toEqual(a.sequences);
    // The first window is the file's first bytes.
    const head = [...Buffer.from(readFileSync(CALIB).subarray(0, 32))];
    expect(a.sequences[0]).toEqual(head);
    expect(a.source.description).toContain('sequential');
  });

  it('random spreads seeded windows over the whole file', async () => {
    const seq = await loadCalibrationFromArgs(model, { calib: CALIB, calibSequences: 4, calibLength: 32 });
    const r0 = await loadCalibrationFromArgs(model, { calib: CALIB, calibSequences: 4, calibLength: 32, calibWindows: 'random', seed: 0 });
    const again = await loadCalibrationFromArgs(model, { calib: CALIB, calibSequences: 4, calibLength: 32, calibWindows: 'random', seed: 0 });
    const r1 = await loadCalibrationFromArgs(model, { calib: CALIB, calibSequences: 4, calibLength: 32, calibWindows: 'random', seed: 1 });
    expect(r0.source.description).toContain('random');
    expect(again.sequences).toEqual(r0.sequences);
    expect(r0.sequences).not.toEqual(seq.sequences);
    expect(r1.sequences).not.toEqual(r0.sequences);
  });

  it('a config file takes calibration.windows and refuses other values', () => {
    const dir = tempDir();
    const config = (windows: string) => {
      const p = join(dir, 'pipeline.json');
      writeFileSync(p, JSON.stringify({ input: 'in.onnx', output: 'out.onnx', passes: ['dce'], calibration: { path: CALIB, windows } }));
      return p;
    };
    expect(readConfigFile(config('random')).calibWindows).toBe('random');
    expect(() => readConfigFile(config('shuffled'))).toThrow(/calibration.windows: must be 'sequential' or 'random'/);
  });
});
