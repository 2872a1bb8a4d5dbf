import { OnnxOptError } from '../../errors.js';
import { loadModel } from '../../io/read-model.js';
import { formatSummary, summarizeModel } from '../../ir/summary.js';
import { analyzeDecoder } from '../../passes/analysis/analyze-decoder.js';
import { analysisRules, formatLayerTable, layerRows } from '../../passes/analysis/format.js';
import { explainRule } from '../../passes/pattern/index.js';

export interface InspectArgs {
  model: string;
  json?: boolean;
  layers?: boolean;
  explainRule?: string;
}

/**
 * `onnx-opt inspect <model>`: op histogram, signature, parameters, external data (no weights read);
 * `--layers` the decoder layer map; `--explain-rule=<name>` why a rule matches or not.
 */
export function inspectCommand(args: InspectArgs): number {
  const model = loadModel(args.model);
  if (args.explainRule !== undefined) {
    const rules = analysisRules();
    const rule = rules.find((r) => r.name === args.explainRule);
    if (!rule) throw new OnnxOptError('USAGE', `no rule named '${args.explainRule}' (rules: ${rules.map((r) => r.name).join(', ')})`);
    const e = explainRule(model, rule);
    if (args.json) process.stdout.write(JSON.stringify({ rule: e.rule, candidates: e.candidates, matches: e.matches, text: e.text }, null, 2) + '\n');
    else process.stdout.write(e.text + '\n');
    return 0;
  }
  if (args.layers) {
    const map = analyzeDecoder(model);
    if (args.json) process.stdout.write(JSON.stringify({ spelling: map.spelling, hiddenSize: map.hiddenSize, layers: layerRows(map), unrecognized: map.unrecognized }, null, 2) + '\n');
    else process.stdout.write(formatLayerTable(map) + '\n');
    return 0;
  }
  const summary = summarizeModel(model);
  if (args.json) process.stdout.write(JSON.stringify(summary, null, 2) + '\n');
  else process.stdout.write(`${args.model}\n${formatSummary(summary)}\n`);
  return 0;
}
