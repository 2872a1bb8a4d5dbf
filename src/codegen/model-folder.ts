import { copyFileSync, existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { OnnxOptError } from '../errors.js';
import type { Model } from '../ir/model.js';

/**
 * Model folders in the Hugging Face / optimum / onnxruntime-genai layout: `model.onnx` (+ data),
 * `genai_config.json`, tokenizer and config files. A folder given as input resolves to its model
 * file; the output folder gets the optimized model under the same name and copies of the other files.
 */
export function resolveModelPath(path: string): { modelPath: string; folder: string | undefined } {
  const st = statSync(path, { throwIfNoEntry: false });
  if (!st?.isDirectory()) return { modelPath: path, folder: undefined };
  const cfg = join(path, 'genai_config.json');
  if (existsSync(cfg)) {
    try {
      const name = (JSON.parse(readFileSync(cfg, 'utf8')) as { model?: { decoder?: { filename?: string } } }).model?.decoder?.filename;
      if (name && existsSync(join(path, name))) return { modelPath: join(path, name), folder: path };
    } catch {
      // Fall through to the file search; the config itself is validated when it is updated.
    }
  }
  if (existsSync(join(path, 'model.onnx'))) return { modelPath: join(path, 'model.onnx'), folder: path };
  const onnx = readdirSync(path).filter((f) => f.endsWith('.onnx'));
  if (onnx.length === 1) return { modelPath: join(path, onnx[0]!), folder: path };
  throw new OnnxOptError('USAGE', onnx.length ? `holds several .onnx files (${onnx.join(', ')}); name one` : 'holds no .onnx model', { file: path });
}

/**
 * Copies the folder's other files (tokenizer, configs) to the output folder: not .onnx files, not
 * the model's external data (rewritten by the writer), not genai_config.json (updated separately).
 */
export function copyCompanionFiles(model: Model, inputFolder: string, outputFolder: string): string[] {
  const data = new Set<string>();
  for (const v of model.graph.initializers.values()) {
    const s = v.initializer!.storage;
    if (s.kind === 'external') data.add(s.location);
  }
  const copied: string[] = [];
  for (const f of readdirSync(inputFolder)) {
    const from = join(inputFolder, f);
    if (!statSync(from).isFile() || f.endsWith('.onnx') || f.endsWith('.onnx.data') || data.has(f) || f === 'genai_config.json') continue;
    if (resolve(from) === resolve(join(outputFolder, f))) continue;
    copyFileSync(from, join(outputFolder, f));
    copied.push(basename(f));
  }
  return copied;
}
