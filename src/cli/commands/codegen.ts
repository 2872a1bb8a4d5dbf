import { writeRunner } from '../../codegen/ts-runner/index.js';
import { checkOutputPath } from '../../io/file-checks.js';
import { loadModel } from '../../io/read-model.js';

export interface CodegenArgs {
  model: string;
  output: string;
  className?: string;
  module?: 'esm' | 'commonjs';
  quiet?: boolean;
}

/** `onnx-opt codegen <model.onnx> -o runner.ts`: a typed onnxruntime-node runner (with generate() for decoders). */
export function codegenCommand(args: CodegenArgs): number {
  checkOutputPath(args.output);
  const model = loadModel(args.model);
  const { path, plan } = writeRunner(model, args.output, { modelPath: args.model, className: args.className, module: args.module });
  if (!args.quiet) {
    process.stderr.write(
      `${path}: class ${plan.className}, ${plan.inputs.length} inputs, ${plan.decoder ? `generate() with ${plan.decoder.cache.length} cache pairs` : 'run() only'}\n`,
    );
    for (const n of plan.notes) process.stderr.write(`note: ${n}\n`);
  }
  return 0;
}
