import type { Model } from '../ir/model.js';
import { analyzeDecoder } from './analysis/analyze-decoder.js';
import type { LayerMap } from './analysis/layer-map.js';
import type { PassContext } from './pass.js';

/** A fact computed from a model, cached until a pass modifies that model. */
export interface Analysis<T> {
  /** The name a pass lists in `preserves` to keep the cached result across its changes. */
  readonly name: string;
  compute(model: Model): T;
}

/** The decoder's layers (`analyzeDecoder`), the analysis every decoder pass starts from. */
export const LAYER_MAP: Analysis<LayerMap> = { name: 'layer-map', compute: (model) => analyzeDecoder(model) };

/**
 * Caches analyses per model object (MLIR's analysis manager). The pass manager invalidates a
 * model's results after a pass that reports `modified: true`, except those the pass declares it
 * preserves. A pass that edits the model and then asks again within its own run must call
 * {@link invalidate} itself first. Trial copies are other Model objects, so they never see the
 * original's results.
 */
export class AnalysisManager {
  private readonly cache = new WeakMap<Model, Map<string, unknown>>();
  /** Analyses computed and served from the cache (for --stats and tests). */
  readonly counts = { computed: 0, cached: 0 };

  get<T>(analysis: Analysis<T>, model: Model): T {
    let results = this.cache.get(model);
    if (!results) this.cache.set(model, (results = new Map()));
    if (results.has(analysis.name)) {
      this.counts.cached++;
      return results.get(analysis.name) as T;
    }
    const value = analysis.compute(model);
    this.counts.computed++;
    results.set(analysis.name, value);
    return value;
  }

  /** The model's decoder layer map. */
  layerMap(model: Model): LayerMap {
    return this.get(LAYER_MAP, model);
  }

  /** Drops `model`'s cached results, except the analyses named in `preserved` (`all` keeps everything). */
  invalidate(model: Model, preserved: readonly string[] | 'all' = []): void {
    if (preserved === 'all') return;
    const results = this.cache.get(model);
    if (!results) return;
    for (const name of [...results.keys()]) if (!preserved.includes(name)) results.delete(name);
  }
}

/**
 * The context's analysis manager; a context built by hand (`{ log, report, services }`) has none,
 * and gets a fresh one each call: correct, just not cached.
 */
export function analysesOf(ctx: PassContext): AnalysisManager {
  return ctx.analyses ?? new AnalysisManager();
}
