import { existsSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { OnnxOptError } from '../errors.js';
import { readInputFile } from '../io/file-checks.js';
import type { Model } from '../ir/model.js';
import type { Value } from '../ir/value.js';

export interface GenaiConfigSync {
  /** The config written beside the output. */
  path: string;
  /** KV-cache names renumbered densely: [old, new]. */
  renamed: [string, string][];
  layersBefore: number;
  layersAfter: number;
  /** The object to write. */
  config: Record<string, unknown>;
}

type Decoder = {
  num_hidden_layers?: number;
  num_key_value_heads?: number;
  filename?: string;
  inputs?: Record<string, string>;
  outputs?: Record<string, string>;
  sliding_window?: { layers?: number[] };
};

/**
 * Keeps an onnxruntime-genai `genai_config.json` true to the optimized graph. The format names the
 * KV cache with `%d` templates over `0 .. num_hidden_layers-1`, so it cannot describe gaps: when
 * attn-prune removed some layers' cache, the remaining cache inputs and outputs are renumbered
 * densely (in layer order) in the model, and `num_hidden_layers` (and `sliding_window.layers`)
 * are updated to match. Returns undefined when the input folder has no genai_config.json.
 */
export function syncGenaiConfig(model: Model, inputModelPath: string, outputModelPath: string): GenaiConfigSync | undefined {
  const src = join(dirname(inputModelPath), 'genai_config.json');
  if (!existsSync(src)) return undefined;
  const config = readGenaiConfig(src);
  const decoder = (config.model as { decoder: Decoder }).decoder;
  const templates: [string | undefined, Value[]][] = [
    [decoder.inputs?.past_key_names, model.graph.inputs],
    [decoder.inputs?.past_value_names, model.graph.inputs],
    [decoder.outputs?.present_key_names, model.graph.outputs],
    [decoder.outputs?.present_value_names, model.graph.outputs],
  ];
  const layersBefore = decoder.num_hidden_layers ?? 0;
  // Which layer indices still have a cache, from the first template that names any value.
  const indicesOf = (template: string, values: Value[]) => {
    const re = new RegExp(`^${template.replace(/[.*+?^${}()|[\]\\]/g, '\\$&').replace('%d', '(\\d+)')}$`);
    const out = new Map<number, Value>();
    for (const v of values) {
      const m = re.exec(v.name);
      if (m) out.set(Number(m[1]), v);
    }
    return out;
  };
  const present = [...new Set(templates.flatMap(([t, vs]) => (t ? [...indicesOf(t, vs).keys()] : [])))].sort((a, b) => a - b);
  checkUniformHeads(decoder, templates.flatMap(([t, vs]) => (t ? [...indicesOf(t, vs)] : [])), outputModelPath);
  const renamed: [string, string][] = [];
  const dense = present.every((i, k) => i === k);
  if (!dense) {
    const rank = new Map(present.map((i, k) => [i, k]));
    const g = model.graph;
    // Two phases, so no new name ever collides with an old one still in use.
    const moves: [Value, string][] = [];
    for (const [t, vs] of templates) {
      if (!t) continue;
      for (const [i, v] of indicesOf(t, vs)) moves.push([v, t.replace('%d', String(rank.get(i)))]);
    }
    for (const [v] of moves) g.renameValue(v, g.names.unique(`${v.name}.renumbering`), { force: true });
    for (const [v, name] of moves) {
      renamed.push([v.name.replace(/\.renumbering(_\d+)?$/, ''), name]);
      g.renameValue(v, name, { force: true });
    }
    if (decoder.sliding_window?.layers) decoder.sliding_window.layers = decoder.sliding_window.layers.filter((l) => rank.has(l)).map((l) => rank.get(l)!);
  }
  decoder.num_hidden_layers = present.length;
  decoder.filename = basename(outputModelPath);
  return { path: join(dirname(outputModelPath), 'genai_config.json'), renamed, layersBefore, layersAfter: present.length, config };
}

/**
 * genai_config.json gives one `num_key_value_heads` for every layer and genai sizes each layer's
 * cache from it, so a graph whose caches have different head counts (block-parallel's merged
 * layers) cannot be described: refused before anything is written.
 */
function checkUniformHeads(decoder: Decoder, caches: [number, Value][], path: string): void {
  const declared = decoder.num_key_value_heads;
  const heads = new Map<number, number>();
  for (const [layer, v] of caches) {
    const d = v.type?.kind === 'tensor' ? v.type.shape?.[1] : undefined;
    if (typeof d === 'number') heads.set(layer, d);
  }
  const expected = Number.isInteger(declared) ? declared! : [...heads.values()][0];
  const odd = [...heads].find(([, h]) => h !== expected);
  if (odd) {
    throw new OnnxOptError(
      'UNSUPPORTED',
      `genai_config.json cannot describe this graph: layer ${odd[0]}'s KV cache has ${odd[1]} heads, the other layers ${expected} (genai sizes every layer's cache from one num_key_value_heads; for block-parallel use merge-heads=false)`,
      { file: path },
    );
  }
}

/** genai configs are small; a bigger file is not one. */
const MAX_CONFIG_BYTES = 16 << 20;

/**
 * Reads and validates a genai_config.json: the fields onnx-opt reads or rewrites must have the
 * types the format gives them, so a bad file is refused (naming the field) before any work.
 */
export function readGenaiConfig(path: string): Record<string, unknown> {
  let config: unknown;
  try {
    config = JSON.parse(readInputFile(path, MAX_CONFIG_BYTES).toString('utf8'));
  } catch (e) {
    if (e instanceof OnnxOptError) throw e;
    throw new OnnxOptError('USAGE', `not valid JSON: ${(e as Error).message.split('\n')[0]}`, { file: path });
  }
  const bad = (where: string, msg: string) => new OnnxOptError('USAGE', `${where} ${msg}`, { file: path });
  const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
  if (!isObject(config)) throw bad('the file', 'must hold a JSON object');
  if (!isObject(config.model) || !isObject(config.model.decoder)) throw bad('model.decoder', 'is missing or not an object');
  const d = config.model.decoder;
  if (d.filename !== undefined && (typeof d.filename !== 'string' || !d.filename)) throw bad('model.decoder.filename', 'must be a non-empty string');
  if (d.num_hidden_layers !== undefined && !(Number.isInteger(d.num_hidden_layers) && (d.num_hidden_layers as number) >= 0)) throw bad('model.decoder.num_hidden_layers', 'must be a non-negative integer');
  for (const [section, keys] of [
    ['inputs', ['past_key_names', 'past_value_names']],
    ['outputs', ['present_key_names', 'present_value_names']],
  ] as const) {
    const o = d[section];
    if (o === undefined) continue;
    if (!isObject(o)) throw bad(`model.decoder.${section}`, 'must be an object');
    for (const k of keys) {
      const t = o[k];
      if (t === undefined) continue;
      if (typeof t !== 'string' || t.split('%d').length !== 2) throw bad(`model.decoder.${section}.${k}`, "must be a name template with one '%d', like 'past_key_values.%d.key'");
    }
  }
  const sw = d.sliding_window;
  if (sw !== undefined) {
    if (!isObject(sw)) throw bad('model.decoder.sliding_window', 'must be an object');
    if (sw.layers !== undefined && !(Array.isArray(sw.layers) && sw.layers.every((l) => Number.isInteger(l) && l >= 0))) throw bad('model.decoder.sliding_window.layers', 'must be a list of layer indices');
  }
  return config;
}
