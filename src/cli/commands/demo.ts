import { mkdirSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { saveModel } from '../../io/write-model.js';
import { DEMO_PIPELINE, makeDemoModel } from '../../fixtures/demo.js';
import { writeReport, summarizeReport } from '../../report/write.js';
import { EXIT_CHECK_FAILED } from '../exit.js';
import { optimize } from './optimize.js';

export interface DemoArgs {
  dir: string;
  quiet?: boolean;
}

/**
 * `onnx-opt demo` (what `npm start` runs): builds the demo model with planted redundancy, runs
 * attn-prune and ffn-fuse with verification, writes an HTML and a JSON report, and prints a
 * summary of a few lines.
 */
export async function demoCommand(args: DemoArgs): Promise<number> {
  const dir = resolve(args.dir);
  mkdirSync(dir, { recursive: true });
  const input = join(dir, 'demo-model.onnx');
  const output = join(dir, 'demo-model.opt.onnx');
  const html = join(dir, 'report.html');
  saveModel(makeDemoModel(), input);
  const out = (s: string) => process.stdout.write(s + '\n');
  out(`demo model: ${relative(process.cwd(), input)} (10 Llama layers made by the fixture generator; planted: redundant attention in 3, 4, 5, 7, 8; independent FFNs in 2–5)`);
  out(`pipeline:   ${DEMO_PIPELINE} --verify (calibration sampled from the model itself)`);
  const { report, passed } = await optimize({ input, output, passes: DEMO_PIPELINE, verify: '', calib: 'sampled', quiet: true, report: html });
  writeReport(join(dir, 'report.json'), report);
  for (const line of summarizeReport(report, relative(process.cwd(), html))) out(`  ${line}`);
  out(`optimized:  ${relative(process.cwd(), output)}`);
  return passed ? 0 : EXIT_CHECK_FAILED;
}
