import { OnnxOptError } from '../../errors.js';
import { parallelWindowNote, type LayerMap } from '../analysis/layer-map.js';
import type { LayerScore } from './scores.js';

export interface SelectionOptions {
  count?: number;
  ratio?: number;
  threshold?: number;
  /** Explicit layer list: wins over count/ratio/threshold. */
  layers?: number[];
  /** Protected layers; negative indices count from the end (-1 is the last layer). */
  protect: number[];
  /** Number of decoder layers by original index (to resolve negative indices; see originalLayerCount). */
  numLayers: number;
  /** Windows of parallel attentions (block-parallel, merge-heads=false), never removed: why, by first layer. */
  windows?: { span: [number, number]; note: string }[];
}

/** The map's windows of parallel attentions, for SelectionOptions.windows. */
export function parallelWindows(map: LayerMap): { span: [number, number]; note: string }[] {
  return map.layers.filter((l) => l.attentions).map((l) => ({ span: l.span ?? [l.index, l.index], note: parallelWindowNote(l) }));
}

/** Normalizes `-1` to the last layer, and so on. */
export function resolveIndices(list: readonly number[], numLayers: number): number[] {
  return list.map((i) => (i < 0 ? numLayers + i : i));
}

/**
 * Which layers lose their attention: the explicit list, or the lowest-scoring unprotected
 * layers by count, ratio or threshold. Returned in ascending score order (the order to remove
 * them in, which matters for max-kl).
 */
export function selectLayers(scores: readonly LayerScore[], o: SelectionOptions): number[] {
  const given = [o.count !== undefined, o.ratio !== undefined, o.threshold !== undefined, o.layers !== undefined].filter(Boolean).length;
  if (given > 1) throw new OnnxOptError('USAGE', 'attn-prune: give only one of count, ratio, threshold, layers');
  const protect = new Set(resolveIndices(o.protect, o.numLayers));
  if (o.layers) {
    const known = new Set(scores.map((s) => s.layer));
    const layers = resolveIndices(o.layers, o.numLayers);
    for (const l of layers) {
      const w = o.windows?.find((x) => l >= x.span[0] && l <= x.span[1]);
      if (w) throw new OnnxOptError('UNSUPPORTED', `attn-prune: layer ${l}: ${w.note}; attn-prune leaves such a window alone`);
    }
    for (const l of layers) if (!known.has(l)) throw new OnnxOptError('USAGE', `attn-prune: layer ${l} has no attention sublayer to remove`);
    return [...new Set(layers)];
  }
  const ranked = scores.filter((s) => !protect.has(s.layer)).sort((a, b) => a.score - b.score || a.layer - b.layer);
  if (o.threshold !== undefined) return ranked.filter((s) => s.score < o.threshold!).map((s) => s.layer);
  let n = 0;
  if (o.count !== undefined) n = o.count;
  else if (o.ratio !== undefined) {
    if (o.ratio < 0 || o.ratio > 1) throw new OnnxOptError('USAGE', `attn-prune: ratio must be within [0, 1], got ${o.ratio}`);
    n = Math.round(o.ratio * scores.length);
  }
  if (n > ranked.length) throw new OnnxOptError('USAGE', `attn-prune: asked to remove ${n} attention sublayers, but only ${ranked.length} are not protected`);
  return ranked.slice(0, n).map((s) => s.layer);
}
