import { createHash } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { basename, dirname, isAbsolute, relative, resolve, sep } from 'node:path';
import { OnnxOptError } from '../../errors.js';
import type { Model } from '../../ir/model.js';
import { planDecoder, type DecoderPlan } from './decoder.js';
import { identifier, isIdentifier, tensorSpec, type TensorSpec } from './types.js';

export interface RunnerOptions {
  /**
   * The .onnx file the runner is for: named in the header, hashed (unless `modelHash` is given),
   * and the default path `create()` opens.
   */
  modelPath: string;
  /** SHA-256 of the .onnx file (hex); computed from `modelPath` when absent. */
  modelHash?: string;
  /** The generated class (default: from the file name, e.g. `tinyllama-16l-kv.onnx` → `Tinyllama16lKvRunner`). */
  className?: string;
  /**
   * Where the runner will be written. When given, the default model path is embedded relative to
   * its folder (so the two can move together); otherwise `modelPath` is embedded as given, and a
   * relative one resolves against the runner's folder at run time.
   */
  outFile?: string;
  /**
   * How the runner finds its own folder: `esm` (default) uses `import.meta.url`, `commonjs` uses
   * `__dirname` (for packages without `"type": "module"`).
   */
  module?: 'esm' | 'commonjs';
}

/** Everything the emitter needs, fixed at generation time. */
export interface RunnerPlan {
  readonly className: string;
  /** The model as the header names it (the path given). */
  readonly modelPath: string;
  /** The default path `create()` opens: absolute, or relative to the runner's folder. */
  readonly embeddedModelPath: string;
  readonly modelHash: string;
  readonly module: 'esm' | 'commonjs';
  readonly inputs: readonly TensorSpec[];
  readonly outputs: readonly TensorSpec[];
  /** Present for KV-cache decoders: they get `generate()`. */
  readonly decoder: DecoderPlan | undefined;
  /** Why a part was left out (shown in the header). */
  readonly notes: readonly string[];
}

/** Reads what the runner needs from the model. Throws UNSUPPORTED for inputs or outputs ORT's JS binding cannot carry. */
export function planRunner(model: Model, options: RunnerOptions): RunnerPlan {
  const g = model.graph;
  // onnxruntime-node feeds only the session's inputNames, which leave out inputs with an
  // initializer default (older IRs): those keep their defaults and are not in Inputs.
  const defaulted = g.inputs.filter((v) => g.initializers.has(v.name)).map((v) => v.name);
  const inputs = g.inputs.filter((v) => !g.initializers.has(v.name)).map((v) => tensorSpec(v.name, v.type));
  const outputs = g.outputs.map((v) => tensorSpec(v.name, v.type));
  const { plan: decoder, note } = planDecoder(model);
  const notes = [...(note ? [note] : [])];
  if (defaulted.length) notes.push(`input(s) with an initializer default keep it (onnxruntime-node does not feed them): ${defaulted.join(', ')}`);
  const className = options.className ?? defaultClassName(options.modelPath);
  if (!isIdentifier(className)) throw new OnnxOptError('USAGE', `class name '${className}' is not a TypeScript identifier`);
  return {
    className,
    modelPath: options.modelPath,
    embeddedModelPath: embeddedPath(options.modelPath, options.outFile),
    modelHash: options.modelHash ?? sha256File(options.modelPath),
    module: options.module ?? 'esm',
    inputs,
    outputs,
    decoder,
    notes,
  };
}

/** `tinyllama-16l-kv.onnx` → `Tinyllama16lKvRunner`. */
export function defaultClassName(modelPath: string): string {
  const stem = basename(modelPath).replace(/\.onnx$/i, '');
  const words = stem.split(/[^A-Za-z0-9]+/).filter(Boolean);
  let name = words.map((w) => w[0]!.toUpperCase() + w.slice(1)).join('');
  if (!name || /^[0-9]/.test(name)) name = `Model${name}`;
  return identifier(`${name}Runner`);
}

/** SHA-256 (hex) of a file. */
export function sha256File(path: string): string {
  const st = statSync(path, { throwIfNoEntry: false });
  if (!st?.isFile()) throw new OnnxOptError('FILE_NOT_FOUND', 'no such file (pass modelHash to generate without it)', { file: path });
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}

function embeddedPath(modelPath: string, outFile: string | undefined): string {
  const p = outFile ? relative(dirname(resolve(outFile)), resolve(modelPath)) : modelPath;
  // Forward slashes work on every platform; a bare name gets ./ so it reads as relative.
  const posix = sep === '\\' ? p.split(sep).join('/') : p;
  return isAbsolute(p) || posix.startsWith('.') ? posix : `./${posix}`;
}
