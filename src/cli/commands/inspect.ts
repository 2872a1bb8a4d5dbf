import { loadModel } from '../../io/read-model.js';
import { formatSummary, summarizeModel } from '../../ir/summary.js';

export interface InspectArgs {
  model: string;
  json?: boolean;
}

/** `onnx-opt inspect <model>`: op histogram, signature, parameters, external data. Reads no weights. */
export function inspectCommand(args: InspectArgs): number {
  const model = loadModel(args.model);
  const summary = summarizeModel(model);
  if (args.json) process.stdout.write(JSON.stringify(summary, null, 2) + '\n');
  else process.stdout.write(`${args.model}\n${formatSummary(summary)}\n`);
  return 0;
}
