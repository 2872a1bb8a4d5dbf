import { lstatSync, readdirSync, realpathSync, statSync } from 'node:fs';
import { isAbsolute, join, relative, resolve } from 'node:path';
import { OnnxOptError } from '../errors.js';
import { kindOf } from '../io/file-checks.js';
import type { Model } from '../ir/model.js';
import { readGenaiConfig } from './genai-config.js';

/**
 * Model folders in the Hugging Face / optimum / onnxruntime-genai layout: `model.onnx` (+ data),
 * `genai_config.json`, tokenizer and config files. A folder given as input resolves to its model
 * file; the output folder gets the optimized model under the same name and copies of the other files.
 */
export function resolveModelPath(path: string): { modelPath: string; folder: string | undefined } {
  const st = statSync(path, { throwIfNoEntry: false });
  if (!st?.isDirectory()) return { modelPath: path, folder: undefined };
  const cfg = join(path, 'genai_config.json');
  if (lstatSync(cfg, { throwIfNoEntry: false })) {
    const name = ((readGenaiConfig(cfg).model as { decoder: { filename?: string } }).decoder).filename;
    if (name !== undefined) {
      // Like external data: the model the config names must be a file inside this folder.
      const inside = insideFolder(path, name);
      if (!inside.ok) throw new OnnxOptError('USAGE', `model.decoder.filename '${name}' ${inside.why}`, { file: cfg });
      return { modelPath: join(path, name), folder: path };
    }
  }
  if (statSync(join(path, 'model.onnx'), { throwIfNoEntry: false })) return { modelPath: join(path, 'model.onnx'), folder: path };
  const onnx = readdirSync(path).filter((f) => f.endsWith('.onnx'));
  if (onnx.length === 1) return { modelPath: join(path, onnx[0]!), folder: path };
  throw new OnnxOptError('USAGE', onnx.length ? `holds several .onnx files (${onnx.join(', ')}); name one` : 'holds no .onnx model', { file: path });
}

/** Whether `name` is a plain file name in `folder` whose real path (through any symlink) stays inside it. */
function insideFolder(folder: string, name: string): { ok: true } | { ok: false; why: string } {
  if (isAbsolute(name) || name.includes('\\') || name.split('/').length !== 1 || name === '.' || name === '..') return { ok: false, why: 'must be a plain file name in the model folder' };
  let real: string;
  try {
    real = realpathSync(join(folder, name));
  } catch {
    return { ok: false, why: 'does not exist in the model folder' };
  }
  const rel = relative(realpathSync(folder), real);
  if (!rel || rel.startsWith('..') || isAbsolute(rel)) return { ok: false, why: 'leads out of the model folder (through a symlink)' };
  const st = statSync(real);
  if (!st.isFile()) return { ok: false, why: `is ${kindOf(st)}, not a regular file` };
  return { ok: true };
}

/**
 * The folder's other files (tokenizer, configs) to copy to the output folder: not .onnx files, not
 * the model's external data (rewritten by the writer), not genai_config.json (rewritten), and not
 * files the output folder already is. Each must be a regular file inside the folder: a symlink to
 * /etc/passwd is refused, as external data leading out of the folder is.
 */
export function companionFiles(model: Model, inputFolder: string, outputFolder: string): { name: string; copyFrom: string }[] {
  const data = new Set<string>();
  for (const v of model.graph.initializers.values()) {
    const s = v.initializer!.storage;
    if (s.kind === 'external') data.add(s.location);
  }
  const out: { name: string; copyFrom: string }[] = [];
  for (const f of readdirSync(inputFolder).sort()) {
    const from = join(inputFolder, f);
    const lst = lstatSync(from);
    if (lst.isDirectory() || f.endsWith('.onnx') || f.endsWith('.onnx.data') || data.has(f) || f === 'genai_config.json') continue;
    if (lst.isSymbolicLink() && statSync(from, { throwIfNoEntry: false })?.isDirectory()) continue;
    const inside = insideFolder(inputFolder, f);
    if (!inside.ok) throw new OnnxOptError('USAGE', `companion file '${f}' ${inside.why}; it is not copied, so fix or remove it`, { file: from });
    if (resolve(from) === resolve(join(outputFolder, f))) continue;
    out.push({ name: f, copyFrom: realpathSync(from) });
  }
  return out;
}
