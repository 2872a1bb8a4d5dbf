import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { OnnxOptError } from '../../errors.js';
import { loadModel } from '../../io/read-model.js';
import { saveModel, type SaveOptions } from '../../codegen/write-model.js';
import { buildPipeline, runSteps } from '../../passes/pass-manager.js';
import { defaultRegistry } from '../../passes/registry.js';
import { formatBytes } from '../../ir/summary.js';

export interface OptimizeArgs {
  input: string;
  output: string;
  passes: string;
  stats?: boolean;
  verifyEach?: boolean;
  printIrAfter?: string;
  externalData?: SaveOptions['externalData'];
  fsync?: boolean;
  quiet?: boolean;
  json?: boolean;
}

/** `onnx-opt <in> -o <out> --passes=...`: load, run the pipeline, write atomically. */
export async function optimizeCommand(args: OptimizeArgs): Promise<number> {
  // Parse the pipeline before touching any file, so a typo costs nothing.
  const steps = buildPipeline(args.passes, defaultRegistry);
  if (!existsSync(args.input)) throw new OnnxOptError('FILE_NOT_FOUND', 'no such file', { file: args.input });
  const log = (m: string) => {
    if (!args.quiet && !args.json) process.stderr.write(m + '\n');
  };
  const model = loadModel(args.input);
  const run = await runSteps(model, steps, {
    verifyEach: args.verifyEach,
    printIrAfter: args.printIrAfter,
    log,
    reproducer: (pipeline) => `onnx-opt ${JSON.stringify(resolve(args.input))} -o /tmp/repro.onnx --passes='${pipeline}' --debug`,
  });
  const saved = saveModel(model, args.output, { externalData: args.externalData, fsync: args.fsync });
  if (args.stats && !args.json) {
    process.stderr.write('pass statistics:\n');
    for (const t of run.timings) {
      const stats = Object.entries(t.stats).map(([k, v]) => `${k}: ${v}`).join(', ');
      process.stderr.write(`  ${t.pass.padEnd(28)} ${t.ms.toFixed(1).padStart(9)} ms  ${t.modified ? 'changed' : 'unchanged'}${stats ? `  (${stats})` : ''}\n`);
    }
  }
  if (args.json) {
    process.stdout.write(JSON.stringify({ input: args.input, output: saved.modelPath, dataFiles: saved.dataFiles, pipeline: args.passes, modified: run.modified, passes: run.timings, report: run.report }, null, 2) + '\n');
  } else {
    log(`wrote ${args.output} (${formatBytes(saved.bytesWritten)}${saved.dataFiles.length ? `, ${saved.dataFiles.length} data file(s)` : ''})`);
  }
  return 0;
}
