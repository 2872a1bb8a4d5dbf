import { existsSync, readFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { OnnxOptError } from '../errors.js';
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
  let config: Record<string, unknown>;
  try {
    config = JSON.parse(readFileSync(src, 'utf8')) as Record<string, unknown>;
  } catch (e) {
    throw new OnnxOptError('USAGE', `not valid JSON: ${(e as Error).message.split('\n')[0]}`, { file: src });
  }
  const decoder = (config.model as { decoder?: Decoder } | undefined)?.decoder;
  if (!decoder) throw new OnnxOptError('USAGE', 'no model.decoder section', { file: src });
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
