import { loadModel } from '../../io/read-model.js';
import { checkGoldenSets, makeGoldenSets } from '../../verify/golden-sets.js';
import { loadCalibrationFromArgs, type CalibrationArgs } from '../calibration-args.js';
import { EXIT_CHECK_FAILED } from '../exit.js';

export interface GoldenMakeArgs extends CalibrationArgs {
  model: string;
  output: string;
}

/** `onnx-opt golden make <model> --calib … -o <dir>`: one test_data_set per calibration sequence. */
export async function goldenMakeCommand(args: GoldenMakeArgs): Promise<number> {
  const model = loadModel(args.model);
  const data = await loadCalibrationFromArgs(model, args);
  const n = await makeGoldenSets(model, data.sequences, args.output);
  process.stdout.write(`wrote ${n} test data sets to ${args.output} (${data.source.description})\n`);
  return 0;
}

export interface GoldenCheckArgs {
  model: string;
  dir: string;
  rtol?: number;
  atol?: number;
  json?: boolean;
}

/** `onnx-opt golden check <model> <dir>`: exit 1 if any shared output is outside tolerance. */
export async function goldenCheckCommand(args: GoldenCheckArgs): Promise<number> {
  const r = await checkGoldenSets(loadModel(args.model), args.dir, { tolerance: { rtol: args.rtol ?? 1e-3, atol: args.atol ?? 1e-7 } });
  if (args.json) process.stdout.write(JSON.stringify(r, null, 2) + '\n');
  else {
    process.stdout.write(`${r.sets} data sets, compared ${r.compared.join(', ')}: ${r.passed ? 'PASSED' : 'FAILED'}\n`);
    for (const m of r.mismatches.slice(0, 10)) process.stdout.write(`  set ${m.set} ${m.output}: ${m.reason}\n`);
  }
  return r.passed ? 0 : EXIT_CHECK_FAILED;
}
