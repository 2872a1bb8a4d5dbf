import { OnnxOptError } from '../../errors.js';
import type { Model } from '../../ir/model.js';
import type { Node } from '../../ir/node.js';
import type { Value } from '../../ir/value.js';
import { removeDeadNodes } from '../attn-prune/remove-attention.js';
import type { LayerInfo, LayerMap } from '../analysis/layer-map.js';
import { fuseGroup } from '../ffn-fusion/fuse.js';
import { mergeAttentions, type MergedAttention } from './merge-attention.js';
import { windowLayers, windowProblem } from './window.js';

export const PROVENANCE = 'onnx-opt.rule';

export interface ParallelizeOptions {
  /** One attention with the heads of all (default), or the window's attentions side by side. */
  mergeHeads: boolean;
  /** Concatenate the window's FFNs into one (ffn-fuse's exact fusion). */
  fuseFfn: boolean;
}

export interface ParallelizedWindow {
  window: [number, number];
  merged: MergedAttention | undefined;
  ffnFused: boolean;
}

/**
 * Rewrites window [j, k] into the sublayer-parallel form: every attention reads the window input
 * x, `x' = x + Σ_t Attn_t(N1_t(x))`, then every FFN reads x', `x'' = x' + Σ_t FFN_t(N2_t(x'))`.
 * With `mergeHeads` the attentions become one attention with all their heads; with `fuseFfn` the
 * FFNs one wide FFN. Only layer map entries of the window are used, so windows rewritten from the
 * end backwards can share one map.
 */
export function parallelizeWindow(model: Model, map: LayerMap, window: [number, number], o: ParallelizeOptions): ParallelizedWindow {
  const why = windowProblem(map, window);
  if (why) throw new OnnxOptError('UNSUPPORTED', `block-parallel: window [${window.join(',')}]: ${why}`);
  const g = model.graph;
  const layers = windowLayers(map, window) as LayerInfo[];
  const last = layers[layers.length - 1]!;
  const before = last.ffn!.residualAdd!;
  const prefix = `block_parallel.layers.${window[0]}-${window[1]}`;
  const add = (a: Value, b: Value, like: Value): Value => {
    const n = g.addNode({ opType: 'Add', inputs: [a, b], outputs: [`${prefix}/Add`], before });
    n.setMetadata(PROVENANCE, 'block-parallel');
    n.output(0).type = like.type;
    return n.output(0);
  };
  const x = layers[0]!.residualIn;

  // Attentions: every norm reads x.
  for (const l of layers.slice(1)) rewire([...l.attention!.norm.nodes, ...l.attention!.nodes], [l.residualIn, l.attention!.norm.input], x);
  let merged: MergedAttention | undefined;
  let xMid: Value;
  if (o.mergeHeads) {
    merged = mergeAttentions(model, layers, x, window);
    xMid = add(x, merged.output, layers[0]!.residualMid);
  } else {
    xMid = x;
    for (const l of layers) xMid = add(xMid, l.attention!.output, l.residualMid);
  }

  // FFNs: every norm reads x'; their outputs are summed onto x'.
  for (const l of layers) rewire([...l.ffn!.norm.nodes, ...l.ffn!.nodes], [l.residualMid, l.ffn!.norm.input], xMid);
  let xOut = xMid;
  let lastAdd: Node | undefined;
  for (const l of layers) {
    xOut = add(xOut, l.ffn!.output, l.residualOut);
    lastAdd = xOut.producer!;
  }
  g.replaceAllUsesWith(last.residualOut, xOut);
  removeDeadNodes(model);
  if (merged) {
    for (const v of merged.dropInputs) {
      if (v.uses.length === 0 && !v.isGraphOutput && g.inputs.includes(v)) {
        g.inputs.splice(g.inputs.indexOf(v), 1);
        merged.cacheInputsRemoved.push(v.name);
      }
    }
  }
  if (!g.sortTopologically()) throw new OnnxOptError('PASS', `block-parallel: window [${window.join(',')}]: the rewrite made a cycle (a bug)`);

  if (o.fuseFfn) {
    // The FFNs now read one stream: ffn-fuse's exact concatenation applies, with the window's
    // first FFN reading x' and the last one joined by the final sum.
    const groupMap: LayerMap = {
      ...map,
      layers: map.layers.map((l) => {
        if (l === layers[0]) return { ...l, residualMid: xMid };
        if (l === last) {
          const sum = lastAdd!;
          const join = { at: { node: sum, sum: sum.output(0) }, slot: 1 as const, contribution: l.ffn!.output, stream: sum.inputs[0]!, out: sum.output(0), parallel: false };
          return { ...l, ffn: { ...l.ffn!, residualAdd: sum, join } };
        }
        return l;
      }),
    };
    fuseGroup(model, groupMap, window, 'exact');
  }
  return { window, merged, ffnFused: o.fuseFfn };
}

/** Points every input of `nodes` that reads one of `from` at `to`. */
function rewire(nodes: Iterable<Node>, from: readonly Value[], to: Value): void {
  const old = new Set(from.filter((v) => v !== to));
  for (const n of new Set(nodes)) {
    if (n.graph === undefined) continue;
    n.inputs.forEach((v, i) => {
      if (v && old.has(v)) n.setInput(i, to);
    });
  }
}
