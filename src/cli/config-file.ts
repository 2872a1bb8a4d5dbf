import { dirname, resolve } from 'node:path';
import { OnnxOptError } from '../errors.js';
import { readInputFile } from '../io/file-checks.js';
import { printPipeline } from '../passes/pipeline.js';
import { isTarget } from '../codegen/targets/check.js';
import type { OptimizeArgs } from './commands/optimize.js';

/**
 * A pipeline file in the manner of Olive's configs, instead of flags:
 *
 * ```json
 * { "input": "model.onnx", "output": "out/model.onnx",
 *   "passes": ["canonicalize", { "name": "attn-prune", "options": { "count": 4, "protect": [0, 15] } }, "ffn-fuse"],
 *   "calibration": { "path": "calib.txt", "sequences": 16, "length": 128, "seed": 0 },
 *   "verify": { "maxKl": 0.05, "minTop1": 0.9 }, "report": "report.html", "externalData": "auto" }
 * ```
 * Paths are relative to the config file's folder. Every problem is reported with its JSON path.
 */
export function readConfigFile(path: string): OptimizeArgs {
  let raw: unknown;
  // A pipeline file is a few KiB; a device or a huge file is refused before it is read.
  const bytes = readInputFile(path, 16 << 20);
  try {
    raw = JSON.parse(bytes.toString('utf8'));
  } catch (e) {
    throw new OnnxOptError('USAGE', `not valid JSON: ${(e as Error).message.split('\n')[0]}`, { file: path });
  }
  const bad = (where: string, msg: string) => new OnnxOptError('USAGE', `${where}: ${msg}`, { file: path });
  const obj = (v: unknown, where: string): Record<string, unknown> => {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) throw bad(where, 'must be an object');
    return v as Record<string, unknown>;
  };
  const str = (v: unknown, where: string) => {
    if (typeof v !== 'string' || !v) throw bad(where, 'must be a non-empty string');
    return v;
  };
  const num = (v: unknown, where: string) => {
    if (typeof v !== 'number' || !Number.isFinite(v)) throw bad(where, 'must be a number');
    return v;
  };
  const allowed = (o: Record<string, unknown>, keys: string[], where: string) => {
    for (const k of Object.keys(o)) if (!keys.includes(k)) throw bad(`${where}.${k}`, `unknown key (allowed: ${keys.join(', ')})`);
  };
  const base = dirname(resolve(path));
  const rel = (p: string) => resolve(base, p);

  const c = obj(raw, '$');
  allowed(c, ['$schema', 'input', 'output', 'passes', 'calibration', 'verify', 'report', 'externalData', 'scores', 'target'], '$');
  const input = rel(str(c.input, '$.input'));
  const output = rel(str(c.output, '$.output'));
  if (!Array.isArray(c.passes)) throw bad('$.passes', 'must be an array of pass names or {"name", "options"} objects');
  const elements = c.passes.map((p, i) => {
    const where = `$.passes[${i}]`;
    if (typeof p === 'string') return { name: str(p, where), options: [] as [string, string][], position: 0 };
    const o = obj(p, where);
    allowed(o, ['name', 'options'], where);
    const options = o.options === undefined ? {} : obj(o.options, `${where}.options`);
    return {
      name: str(o.name, `${where}.name`),
      options: Object.entries(options).map(([k, v]) => [k, optionText(v, `${where}.options.${k}`, bad)] as [string, string]),
      position: 0,
    };
  });
  const args: OptimizeArgs = { input, output, passes: printPipeline(elements) };
  if (c.calibration !== undefined) {
    const cal = obj(c.calibration, '$.calibration');
    allowed(cal, ['path', 'sampled', 'tokenizer', 'sequences', 'length', 'windows', 'seed'], '$.calibration');
    if (cal.path !== undefined) args.calib = rel(str(cal.path, '$.calibration.path'));
    else if (cal.sampled === true) args.calib = 'sampled';
    if (cal.tokenizer !== undefined) args.tokenizer = rel(str(cal.tokenizer, '$.calibration.tokenizer'));
    if (cal.sequences !== undefined) args.calibSequences = num(cal.sequences, '$.calibration.sequences');
    if (cal.length !== undefined) args.calibLength = num(cal.length, '$.calibration.length');
    if (cal.windows !== undefined) {
      const w = str(cal.windows, '$.calibration.windows');
      if (w !== 'sequential' && w !== 'random') throw bad('$.calibration.windows', "must be 'sequential' or 'random'");
      args.calibWindows = w;
    }
    if (cal.seed !== undefined) args.seed = num(cal.seed, '$.calibration.seed');
  }
  if (c.verify !== undefined) {
    if (c.verify === true) args.verify = '';
    else if (c.verify !== false) {
      const v = obj(c.verify, '$.verify');
      allowed(v, ['maxKl', 'minTop1', 'maxAbs'], '$.verify');
      const parts: string[] = [];
      if (v.maxKl !== undefined) parts.push(`max-kl=${num(v.maxKl, '$.verify.maxKl')}`);
      if (v.minTop1 !== undefined) parts.push(`min-top1=${num(v.minTop1, '$.verify.minTop1')}`);
      if (v.maxAbs !== undefined) parts.push(`max-abs=${num(v.maxAbs, '$.verify.maxAbs')}`);
      args.verify = parts.join(',');
    }
  }
  if (c.report !== undefined) args.report = rel(str(c.report, '$.report'));
  if (c.scores !== undefined) args.scores = rel(str(c.scores, '$.scores'));
  if (c.target !== undefined) {
    const t = str(c.target, '$.target');
    if (!isTarget(t)) throw bad('$.target', 'must be any, cpu, cuda or tensorrt');
    args.target = t;
  }
  if (c.externalData !== undefined) {
    const e = str(c.externalData, '$.externalData');
    if (!['auto', 'inline', 'external', 'keep'].includes(e)) throw bad('$.externalData', 'must be auto, inline, external or keep');
    args.externalData = e as OptimizeArgs['externalData'];
  }
  return args;
}

function optionText(v: unknown, where: string, bad: (w: string, m: string) => Error): string {
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (typeof v === 'string' && /^[^,{}()[\]=\s]+$/.test(v)) return v;
  if (Array.isArray(v)) return `[${v.map((x, i) => optionText(x, `${where}[${i}]`, bad)).join(',')}]`;
  throw bad(where, 'must be a number, boolean, plain string or list of those');
}
