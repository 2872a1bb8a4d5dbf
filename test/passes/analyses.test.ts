import { describe, expect, it } from 'vitest';
import { loadModel } from '../../src/io/read-model.js';
import { cloneModel } from '../../src/ir/clone.js';
import { AnalysisManager, analysesOf } from '../../src/passes/analyses.js';
import type { LayerMap } from '../../src/passes/analysis/layer-map.js';
import { attnPrune } from '../../src/passes/attn-prune/attn-prune.js';
import { definePass, type PassContext } from '../../src/passes/pass.js';
import { runPipeline } from '../../src/passes/pass-manager.js';
import { PassRegistry } from '../../src/passes/registry.js';
import { TINYLLAMA } from '../helpers/paths.js';

/** Records the layer map each of its runs got from the cache. */
function recorder(seen: LayerMap[]) {
  return definePass({
    name: 'look',
    summary: 'reads the layer map',
    run(model, ctx) {
      seen.push(analysesOf(ctx).layerMap(model));
      return { modified: false };
    },
  });
}

/** Edits the model (a harmless metadata prop) and says so; `preserves` as given. */
function editor(name: string, preserves?: readonly string[]) {
  return definePass({
    name,
    summary: 'modifies the model',
    ...(preserves ? { preserves } : {}),
    run(model) {
      model.metadataProps.push([name, '1']);
      return { modified: true };
    },
  });
}

function registry(seen: LayerMap[]): PassRegistry {
  const r = new PassRegistry();
  r.register(recorder(seen));
  r.register(attnPrune);
  r.register(editor('touch'));
  r.register(editor('touch-keeping-layers', ['layer-map']));
  return r;
}

describe('the analysis cache', () => {
  it('serves one layer map until a pass modifies the model, except what the pass preserves', async () => {
    const model = loadModel(TINYLLAMA);
    const seen: LayerMap[] = [];
    const analyses = new AnalysisManager();
    await runPipeline(model, 'look,look,touch-keeping-layers,look,touch,look', { registry: registry(seen), analyses });
    expect(seen).toHaveLength(4);
    expect(seen.map((m) => m === seen[0])).toEqual([true, true, true, false]);
    expect(seen[3]!.layers.map((l) => l.index)).toEqual(seen[0]!.layers.map((l) => l.index));
    expect(analyses.counts).toEqual({ computed: 2, cached: 2 });
  });

  it('attn-prune starts from the cached map, and the next pass sees the pruned model', async () => {
    const model = loadModel(TINYLLAMA);
    const seen: LayerMap[] = [];
    const analyses = new AnalysisManager();
    await runPipeline(model, 'look,attn-prune{layers=[3,5]},look', { registry: registry(seen), analyses });
    // attn-prune's first map came from the cache; its removals re-analyze the edited model itself.
    expect(analyses.counts.cached).toBe(1);
    expect(seen[0]!.layers.find((l) => l.index === 3)!.attention).toBeDefined();
    const after = seen[1]!;
    expect(after === seen[0]).toBe(false);
    expect(after.layers.filter((l) => !l.attention).map((l) => l.index)).toEqual([3, 5]);
  });

  it('keeps results per model object: a clone is analyzed on its own', () => {
    const model = loadModel(TINYLLAMA);
    const analyses = new AnalysisManager();
    const a = analyses.layerMap(model);
    const copy = cloneModel(model);
    const b = analyses.layerMap(copy);
    // Identity checked as booleans: a failing toBe would pretty-print whole graphs.
    expect(b === a).toBe(false);
    expect(b.layers[0]!.residualIn.graph === copy.graph).toBe(true);
    expect(analyses.layerMap(model) === a).toBe(true);
    analyses.invalidate(model);
    expect(analyses.layerMap(model) === a).toBe(false);
    expect(analyses.layerMap(copy) === b).toBe(true);
  });

  it('a hand-built context without a cache still gets a correct map', () => {
    const model = loadModel(TINYLLAMA);
    const ctx: PassContext = { log: () => {}, report: {}, services: {} };
    expect(analysesOf(ctx).layerMap(model).layers).toHaveLength(16);
  });
});
