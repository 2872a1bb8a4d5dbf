import { OnnxOptError } from '../../errors.js';
import { removeDeadNodes } from '../../ir/dead-code.js';
import type { Model } from '../../ir/model.js';
import type { Node } from '../../ir/node.js';
import type { Value } from '../../ir/value.js';
import type { LayerInfo, LayerMap, NormInfo, ResidualJoin } from '../analysis/layer-map.js';
import { fuseGroup } from '../ffn-fusion/fuse.js';
import { joinBias, rejoin } from '../rewrite/residual-join.js';
import { cannotMerge, mergeAttentions, type MergedAttention } from './merge-attention.js';
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

/** Why the window cannot be rewritten with these options, or undefined (checked before any edit). */
export function parallelizeProblem(map: LayerMap, window: [number, number], o: ParallelizeOptions): string | undefined {
  const why = windowProblem(map, window);
  if (why) return why;
  const layers = windowLayers(map, window) as LayerInfo[];
  if (o.mergeHeads) {
    const m = cannotMerge(layers, window);
    if (m) return `merge-heads: ${m} (use merge-heads=false)`;
  }
  if (o.fuseFfn) {
    const biased = layers.find((l) => l.ffn!.join && joinBias(l.ffn!.join));
    if (biased) return `layer ${biased.index}'s FFN bias is added by its fused Skip-norm join, which the fused FFN cannot carry (use fuse-ffn=false)`;
  }
  return undefined;
}

/**
 * Rewrites window [j, k] into the sublayer-parallel form: every attention reads the window input
 * x, `x' = x + Σ_t Attn_t(N1_t(x))`, then every FFN reads x', `x'' = x' + Σ_t FFN_t(N2_t(x'))`.
 * With `mergeHeads` the attentions become one attention with all their heads; with `fuseFfn` the
 * FFNs one wide FFN. Norms fused into Skip-norm joins (genai) become plain norms of x or x' with
 * the same weights; the window's last join (plain or fused) adds the FFN sum to x' through
 * rewrite/residual-join. Only layer map entries of the window are used, so windows rewritten from
 * the end backwards can share one map.
 */
export function parallelizeWindow(model: Model, map: LayerMap, window: [number, number], o: ParallelizeOptions): ParallelizedWindow {
  const why = parallelizeProblem(map, window, o);
  if (why) throw new OnnxOptError('UNSUPPORTED', `block-parallel: window [${window.join(',')}]: ${why}`);
  const g = model.graph;
  const layers = windowLayers(map, window) as LayerInfo[];
  const last = layers[layers.length - 1]!;
  const finalJoin = last.ffn!.join!;
  const before = finalJoin.at.node;
  const prefix = `block_parallel.layers.${window[0]}-${window[1]}`;
  const tag = (n: Node) => {
    n.setMetadata(PROVENANCE, 'block-parallel');
    return n.output(0);
  };
  const add = (a: Value, b: Value, like: Value): Value => {
    const out = tag(g.addNode({ opType: 'Add', inputs: [a, b], outputs: [`${prefix}/Add`], before }));
    out.type = like.type;
    return out;
  };
  /** What a sublayer adds to the stream: its contribution, plus the bias its fused join adds with it. */
  const contribution = (join: ResidualJoin) => {
    const bias = joinBias(join);
    return bias ? add(join.contribution, bias, join.contribution) : join.contribution;
  };
  /** Points the sublayer's norm at `stream`: its own nodes, or a plain norm for one fused into a join. */
  const normOf = (norm: NormInfo, fusedIn: ResidualJoin | undefined, sublayerNodes: readonly Node[], streamIn: Value, stream: Value): Value => {
    if (!norm.fused) {
      rewire([...norm.nodes, ...sublayerNodes], [streamIn, norm.input], stream);
      return norm.output;
    }
    const spec = fusedIn?.at.node === norm.fused.node ? fusedIn.at.fusedNorm?.unfused : undefined;
    if (!spec) throw new OnnxOptError('UNSUPPORTED', `block-parallel: window [${window.join(',')}]: the fused norm ${norm.fused.node.label} has no plain form`);
    const plain = tag(g.addNode({ opType: spec.opType, domain: spec.domain, inputs: [stream, ...spec.params], outputs: [`${prefix}/${spec.opType}`], attributes: [...spec.attributes], before }));
    plain.type = norm.output.type;
    const own = new Set(sublayerNodes);
    for (const u of [...norm.output.uses]) if (own.has(u.node)) u.node.setInput(u.index, plain);
    return plain;
  };
  const x = layers[0]!.residualIn;

  // Attentions: every norm reads x (layer j's already does).
  layers.slice(1).forEach((l, t) => normOf(l.attention!.norm, layers[t]!.ffn!.join, l.attention!.nodes, l.residualIn, x));
  let merged: MergedAttention | undefined;
  let xMid: Value;
  if (o.mergeHeads) {
    merged = mergeAttentions(model, layers, x, window);
    xMid = add(x, merged.output, layers[0]!.residualMid);
  } else {
    xMid = x;
    for (const l of layers) xMid = add(xMid, contribution(l.attention!.join!), l.residualMid);
  }

  // FFNs: every norm reads x' (in the view the FFNs read the stream in: OPT's 2-D Reshape);
  // their sum joins x' where layer k's FFN joined the stream.
  const first = layers[0]!;
  const xMidView = viewOf(first.residualMid, first.attention!.join!.out ?? first.residualMid, xMid, before, prefix);
  const ffnInputs = layers.map((l) => normOf(l.ffn!.norm, l.attention!.join, l.ffn!.nodes, l.residualMid, xMidView));
  let sum = contribution(layers[0]!.ffn!.join!);
  for (const l of layers.slice(1)) sum = add(sum, contribution(l.ffn!.join!), l.ffn!.output);
  const joined = rejoin(model, finalJoin, { contribution: sum, stream: xMidView, name: prefix, rule: 'block-parallel' });
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
    // first FFN reading x' and the sum's join as layer k's join.
    const node = finalJoin.at.fusedNorm ? finalJoin.at.node : joined.out!.producer!;
    const join: ResidualJoin = finalJoin.at.fusedNorm
      ? { ...finalJoin, contribution: sum, stream: xMidView, parallel: false }
      : { at: { node, sum: node.output(0) }, slot: node.inputs[0] === sum ? 0 : 1, contribution: sum, stream: xMidView, out: node.output(0), parallel: false };
    const groupMap: LayerMap = {
      ...map,
      layers: map.layers.map((l) => {
        if (l === layers[0]) return { ...l, residualMid: xMidView, ffn: { ...l.ffn!, input: ffnInputs[0]!, join: undefined } };
        if (l === last) return { ...l, ffn: { ...l.ffn!, residualAdd: node, join } };
        // The members' old joins are gone; their biases are refused above.
        if (layers.includes(l)) return { ...l, ffn: { ...l.ffn!, join: undefined } };
        return l;
      }),
    };
    try {
      fuseGroup(model, groupMap, window, 'exact');
    } catch (e) {
      if (!(e instanceof OnnxOptError) || e.code !== 'UNSUPPORTED') throw e;
      throw new OnnxOptError('UNSUPPORTED', `block-parallel: window [${window.join(',')}]: fuse-ffn: ${e.message.replace(/^ffn-fuse: group \[[^\]]*\]: /, '')} (use fuse-ffn=false)`);
    }
  }
  return { window, merged, ffnFused: o.fuseFfn };
}

/**
 * `view` (a no-op Reshape/Cast chain of `root`, or `root` itself) rebuilt on `newRoot`: the chain's
 * nodes are cloned with the same shape inputs.
 */
function viewOf(view: Value, root: Value, newRoot: Value, before: Node, prefix: string): Value {
  const chain: Node[] = [];
  for (let at = view; at !== root; ) {
    const p = at.producer;
    if (!p || !p.inputs[0] || chain.length >= 8) throw new OnnxOptError('UNSUPPORTED', `block-parallel: ${view.name} is not a view of the residual stream ${root.name}`);
    chain.unshift(p);
    at = p.inputs[0];
  }
  let out = newRoot;
  const g = newRoot.graph;
  for (const n of chain) {
    const c = g.addNode({ opType: n.opType, domain: n.domain, inputs: [out, ...n.inputs.slice(1)], outputs: [`${prefix}/${n.opType}_view`], attributes: [...n.attributes], before });
    c.setMetadata(PROVENANCE, 'block-parallel');
    c.output(0).type = n.output(0).type;
    out = c.output(0);
  }
  return out;
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
