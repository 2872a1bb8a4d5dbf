import { OnnxOptError } from '../../errors.js';
import { checkOutputPath, statInputFile } from '../../io/file-checks.js';
import { loadModel } from '../../io/read-model.js';
import { checkGoldenSets, makeGoldenSets } from '../../verify/golden-sets.js';
import { checkCalibrationArgs, loadCalibrationFromArgs, type CalibrationArgs } from '../calibration-args.js';
import { EXIT_CHECK_FAILED } from '../exit.js';

export interface GoldenMakeArgs extends CalibrationArgs {
  model: string;
  output: string;
}

/** `onnx-opt golden make <model> --calib … -o <dir>`: one test_data_set per calibration sequence. */
export async function goldenMakeCommand(args: GoldenMakeArgs): Promise<number> {
  checkCalibrationArgs(args);
  checkOutputPath(args.output, { folder: true });
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
  for (const [name, v] of [['rtol', args.rtol], ['atol', args.atol]] as const) {
    if (v !== undefined && !(Number.isFinite(v) && v >= 0)) throw new OnnxOptError('USAGE', `--${name} expects a number of at least 0, got '${v}'`);
  }
  const dir = statInputFile(args.dir, { allowDirectory: true });
  if (!dir.isDirectory()) throw new OnnxOptError('USAGE', 'is a file; golden check takes the folder that holds test_data_set_N', { file: args.dir });
  const r = await checkGoldenSets(loadModel(args.model), args.dir, { tolerance: { rtol: args.rtol ?? 1e-3, atol: args.atol ?? 1e-7 } });
  if (args.json) process.stdout.write(JSON.stringify(r, null, 2) + '\n');
  else {
    process.stdout.write(`${r.sets} data sets, compared ${r.compared.join(', ')}: ${r.passed ? 'PASSED' : 'FAILED'}\n`);
    for (const m of r.mismatches.slice(0, 10)) process.stdout.write(`  set ${m.set} ${m.output}: ${m.reason}\n`);
  }
  return r.passed ? 0 : EXIT_CHECK_FAILED;
}
