import type { Model } from '../../ir/model.js';
import type { Node } from '../../ir/node.js';
import type { Value } from '../../ir/value.js';
import { findMatches } from '../pattern/index.js';
import { FUSED_LAYERS_KEY, attentionsOf, type AttentionInfo, type FfnInfo, type LayerInfo, type LayerMap, type NormInfo, type ResidualJoin, type SumNode, type UnrecognizedLayer, type WeightRef } from './layer-map.js';
import { backwardNodes, dependsOn, forwardNodes } from './slices.js';
import { scaledContribution, scaledSublayerOutput } from './spellings/common.js';
import { throughNoOpCasts } from './stream-casts.js';
import type { AttentionOp, FfnFound, NormFound, Spelling, SpellingContext } from './spelling.js';
import { spellingContext } from './spelling.js';
import { ALL_SPELLINGS } from './spellings/index.js';

export interface AnalyzeOptions {
  /** Spellings to try (default: all). */
  spellings?: readonly Spelling[];
}

interface Found<T> {
  item: T;
  spelling: string;
}

/** The value that carries the residual stream out of a norm: output 3 of fused Skip norms, else its input. */
function streamOf(n: NormFound): Value {
  return n.fused?.residualOutput ?? n.input;
}

/**
 * Finds the decoder layers: norms and FFNs come from the spellings' pattern rules, and the join
 * nodes, fused attention ops and weight forms from what the spellings describe; which sublayer
 * joins the stream where, the attention sublayers and KV-cache ownership follow from dataflow
 * between them. A layer whose parts are not all recognized is reported unrecognized, with the
 * reason, never guessed.
 */
export function analyzeDecoder(model: Model, options: AnalyzeOptions = {}): LayerMap {
  const spellings = options.spellings ?? ALL_SPELLINGS;
  const g = model.graph;
  const order = new Map(g.nodes.map((n, i) => [n, i]));
  const position = (v: Value) => (v.producer ? (order.get(v.producer) ?? -1) : -1);

  const ctx = spellingContext(spellings);
  const norms = new Map<Value, Found<NormFound>>();
  const ffns: Found<FfnFound>[] = [];
  const rejected: string[] = [];
  // A rule shared by several spellings (SwiGLU) runs once; the first spelling claims its matches.
  const ran = new Set<string>();
  for (const s of spellings) {
    for (const r of s.norms) {
      if (ran.has(r.rule.name)) continue;
      ran.add(r.rule.name);
      for (const m of findMatches(model, r.rule)) {
        if (m.graph !== g) continue;
        const d = r.describe(m, ctx);
        if (typeof d === 'string') rejected.push(`${r.rule.name} at ${m.root.label}: ${d}`);
        else if (!norms.has(d.output)) norms.set(d.output, { item: d, spelling: s.name });
      }
    }
    for (const r of s.ffns) {
      if (ran.has(r.rule.name)) continue;
      ran.add(r.rule.name);
      for (const m of findMatches(model, r.rule)) {
        if (m.graph !== g) continue;
        const d = r.describe(m, ctx);
        if (typeof d === 'string') rejected.push(`${r.rule.name} at ${m.root.label}: ${d}`);
        else if (!ffns.some((f) => f.item.output === d.output)) ffns.push({ item: d, spelling: s.name });
      }
    }
  }
  // A match nested inside a larger one (an MLP without its bias Add) is the same FFN: keep the larger.
  for (let i = ffns.length - 1; i >= 0; i--) {
    const p = ffns[i]!.item.output.producer;
    if (p && ffns.some((o, j) => j !== i && o.item.nodes.includes(p) && o.item.output !== ffns[i]!.item.output)) ffns.splice(i, 1);
  }
  ffns.sort((a, b) => position(a.item.output) - position(b.item.output));

  const normOf = (v: Value): Found<NormFound> | undefined => {
    const direct = norms.get(v);
    if (direct) return direct;
    // fp16 exports may cast the normalized value before the projections.
    const p = v.producer;
    if (p?.opType === 'Cast' && p.inputs[0]) return norms.get(p.inputs[0]);
    return undefined;
  };

  const an = analysisOf(spellings, ctx, norms, position);
  // A stream add whose operand is an FFN output is the previous layer's FFN join, not an attention.
  const ffnOutputs = new Set(ffns.flatMap((f) => [f.item.output, ...[normReading(f.item.output, norms)?.output, scaledSublayerOutput(f.item.output)?.output].filter((v) => v !== undefined)]));
  const layers: LayerInfo[] = [];
  const unrecognized: UnrecognizedLayer[] = [];
  const usedSpellings = new Set<string>();

  // Indices are original layer numbers: a fused FFN (tagged by ffn-fuse) stands for its span.
  let nextIndex = 0;
  ffns.forEach((f) => {
    const ffn = f.item;
    const tag = ffn.output.producer?.getMetadata(FUSED_LAYERS_KEY);
    const span = tag && /^\d+-\d+$/.test(tag) ? (tag.split('-').map(Number) as [number, number]) : undefined;
    const index = span ? span[0] : nextIndex;
    nextIndex = span ? span[1] + 1 : nextIndex + 1;
    const n2 = normOf(ffn.input);
    if (!n2) {
      unrecognized.push({ index, reason: `the FFN at ${ffn.output.producer?.label} does not read the output of a recognized norm` });
      return;
    }
    usedSpellings.add(n2.spelling);
    const norm2 = n2.item;
    const xMid = streamOf(norm2);
    // Sandwich norms (Gemma 2): the FFN output is normalized before it joins the stream.
    const direct = findJoin(ffn.output, xMid, an);
    const postNorm = direct ? undefined : normReading(ffn.output, norms);
    // Granite scales it by a constant instead: the product is what the FFN adds.
    const scaled = direct || postNorm ? undefined : scaledSublayerOutput(ffn.output);
    const ffnJoin = direct ?? findJoin(postNorm?.output ?? scaled?.output ?? ffn.output, xMid, an);
    // Attention: what was added to the stream just before the FFN's norm.
    let attention: AttentionInfo | undefined;
    let attentions: AttentionInfo[] | undefined;
    let xIn = xMid;
    let parallel = false;
    const attJoin = attentionJoin(norm2, an, ffnOutputs);
    if (attJoin) {
      const info = describeAttention(model, attJoin.norm, attJoin.output, attJoin.join, an, norms.get(attJoin.output)?.item);
      if (typeof info === 'string') {
        unrecognized.push({ index, reason: info });
        return;
      }
      attention = info;
      xIn = attJoin.streamIn;
    } else if (ffnJoin?.parallelWith) {
      const n1 = ffnJoin.parallelWith;
      if (ffnOutputs.has(n1.output)) {
        unrecognized.push({ index, reason: `the FFN output ${ffn.output.name} is added to another FFN's output ${n1.output.name} before the stream: FFNs side by side (block-parallel with fuse-ffn=false) are not recognized` });
        return;
      }
      // The node that adds the attention output (a + f, or x + a).
      const use = n1.output.uses.find((u) => u.index < 2 && an.sumNode(u.node));
      const join: ResidualJoin | undefined = use && { ...joinOf(an.sumNode(use.node)!, use.index as 0 | 1, n1.output, xMid, ffnJoin.join.out), parallel: true };
      const info = describeAttention(model, n1.norm, n1.output, join, an);
      if (typeof info === 'string') {
        unrecognized.push({ index, reason: info });
        return;
      }
      attention = info;
      parallel = true;
    } else {
      // block-parallel's window with separate attentions: x' = x + a_j + ... + a_k.
      const window = parallelAttentions(norm2, an, ffnOutputs);
      if (window) {
        const layersOf = span ? span[1] - span[0] + 1 : 1;
        if (window.parts.length !== layersOf) {
          unrecognized.push({ index, reason: `the stream ${xMid.name} adds ${window.parts.length} parallel attentions, but the FFN reading it stands for ${layersOf} layer(s)` });
          return;
        }
        attentions = [];
        for (const p of window.parts) {
          const info = describeAttention(model, p.norm, p.output, p.join, an);
          if (typeof info === 'string') {
            unrecognized.push({ index, reason: info });
            return;
          }
          attentions.push(info);
        }
        xIn = window.x;
      }
    }
    if (!ffnJoin) {
      unrecognized.push({ index, reason: `the FFN output ${ffn.output.name} is not added to the residual stream ${xMid.name}` });
      return;
    }
    const ffnInfo: FfnInfo = {
      norm: stripNorm(norm2),
      kind: ffn.kind,
      input: ffn.input,
      output: scaled ? scaled.output : ffn.output,
      join: ffnJoin.join,
      residualAdd: ffnJoin.node,
      nodes: scaled ? [...ffn.nodes, scaled.node] : ffn.nodes,
      ...(scaled ? { outputScale: scaled.factor } : {}),
      gate: ffn.gate,
      up: ffn.up,
      down: ffn.down,
      upBias: ffn.upBias,
      ...(ffn.gateBias ? { gateBias: ffn.gateBias } : {}),
      downBias: ffn.downBias,
      activation: ffn.activation,
      ...(postNorm ? { postNorm } : {}),
    };
    layers.push({ index, residualIn: xIn, residualMid: xMid, residualOut: ffnJoin.out, attention, ffn: ffnInfo, parallel, ...(span ? { span } : {}), ...(attentions ? { attentions } : {}) });
  });

  // FFNs side by side after one attention (block-parallel's merged window with fuse-ffn=false) each
  // find that attention: not separate layers, so none of them is claimed as one.
  const byAttention = new Map<Value, LayerInfo[]>();
  for (const l of layers) if (l.attention) byAttention.set(l.attention.output, [...(byAttention.get(l.attention.output) ?? []), l]);
  for (const shared of byAttention.values()) {
    // Only FFNs added to a partial sum (f_1 + f_2 joined to x'), not a duplicate of one layer's FFN.
    if (shared.length < 2 || !shared.every((l) => l.ffn?.join?.parallel)) continue;
    const names = shared.map((l) => l.index).join(', ');
    for (const l of shared) {
      layers.splice(layers.indexOf(l), 1);
      unrecognized.push({ index: l.index, reason: `layers ${names} add their FFNs to the output of one attention (${l.attention!.output.name}) side by side (block-parallel with fuse-ffn=false): not recognized` });
    }
  }
  unrecognized.sort((a, b) => a.index - b.index);

  assignCaches(layers);
  const backbone: Value[] = [];
  for (const l of layers) {
    if (backbone[backbone.length - 1] !== l.residualIn) backbone.push(l.residualIn);
    if (l.residualMid !== l.residualIn) backbone.push(l.residualMid);
    backbone.push(l.residualOut);
  }
  const hiddenSize = layers[0]?.ffn?.down ? weightDims(layers[0].ffn.down)?.[1] : undefined;
  return {
    spelling: [...usedSpellings].join('+') || 'none',
    layers,
    unrecognized,
    backbone,
    hiddenSize,
    ...(rejected.length ? { notes: rejected } : {}),
  } as LayerMap;
}

/** The recognized norm whose input is `v` and that is `v`'s only reader. */
function normReading(v: Value, norms: Map<Value, Found<NormFound>>): NormFound | undefined {
  const found = [...norms.values()].map((f) => f.item).find((n) => n.input === v);
  return found && v.uses.every((u) => found.nodes.includes(u.node)) ? found : undefined;
}

function stripNorm(n: NormFound): NormInfo {
  return n;
}

/** [in, out] of a weight as the MatMul sees it. */
export function weightDims(w: WeightRef): [number, number] | undefined {
  if (w.kind === 'matmulnbits') return [w.k, w.n];
  const d = w.weight.initializer?.dims ?? w.weight.constant?.dims;
  if (!d || d.length !== 2) return undefined;
  return w.transposed ? [d[1]!, d[0]!] : [d[0]!, d[1]!];
}

/** What the helpers below ask of the spellings in use, and the norms found. */
interface Analysis {
  norms: Map<Value, Found<NormFound>>;
  position: (v: Value) => number;
  /** The node as a residual join (a sum of its inputs 0 and 1), in any spelling in use. */
  sumNode(n: Node): SumNode | undefined;
  weight: SpellingContext['weight'];
  attentionOps: Map<string, AttentionOp>;
}

function analysisOf(spellings: readonly Spelling[], ctx: SpellingContext, norms: Map<Value, Found<NormFound>>, position: (v: Value) => number): Analysis {
  const joins = [...new Map(spellings.flatMap((s) => s.joins).map((j) => [j.name, j])).values()];
  const attentionOps = new Map<string, AttentionOp>();
  for (const a of spellings.flatMap((s) => s.attentionOps)) if (!attentionOps.has(a.op)) attentionOps.set(a.op, a);
  return {
    norms,
    position,
    sumNode: (n) => {
      for (const j of joins) {
        const d = j.describe(n);
        if (d) return d;
      }
      return undefined;
    },
    weight: ctx.weight,
    attentionOps,
  };
}

/** A direct join of `contribution` into `stream` at input `slot` of `at`. */
function joinOf(at: SumNode, slot: 0 | 1, contribution: Value, stream: Value, out: Value | undefined = at.sum): ResidualJoin {
  const scale = scaledContribution(contribution);
  return { at, slot, contribution, stream, out, parallel: false, ...(scale ? { scale } : {}) };
}

interface Join {
  join: ResidualJoin;
  /** The node adding the contribution to the stream (for parallel blocks, the block's sum). */
  node: Node;
  /** The residual stream after the join. */
  out: Value;
  /** Parallel blocks: the attention added in the same join. */
  parallelWith?: { norm: NormFound; output: Value };
}

/**
 * The stream after join `at`: its sum; a fused norm that does not output its sum stands for the
 * stream by its input.
 */
function streamAfter(at: SumNode, norms: Map<Value, Found<NormFound>>): Value {
  if (at.sum) return at.sum;
  const fused = [...norms.values()].find((f) => f.item.fused?.node === at.node);
  return fused ? streamOf(fused.item) : at.node.output(0);
}

/**
 * Where sublayer output `s` joins stream `x`: a join node (as the spellings spell it: an `Add`, or
 * a fused Skip norm whose output 3 is the new stream) reading both. Parallel blocks add `s` to
 * `x + a`, or `a` to `x + s`, or `a + s` to x.
 */
function findJoin(s: Value, x: Value, an: Analysis): Join | undefined {
  /** The attention sublayer of a parallel block: `a` computed from a norm of stream x. */
  const attentionOf = (a: Value | undefined) => {
    if (!a) return undefined;
    const n1 = [...an.norms.values()].map((f) => f.item).find((n) => streamOf(n) === x && dependsOn(a, n.output, new Set([x])));
    return n1 ? { norm: n1, output: a } : undefined;
  };
  for (const u of s.uses) {
    const at = u.index < 2 ? an.sumNode(u.node) : undefined;
    if (!at) continue;
    const slot = u.index as 0 | 1;
    const other = at.node.inputs[1 - slot];
    if (other === x) return { join: joinOf(at, slot, s, x), node: at.node, out: streamAfter(at, an.norms) };
    // Parallel residual: the local sum is a plain add (`a + f`, or `(x + a) + f`).
    if (at.fusedNorm || !at.sum) continue;
    const sum = at.sum;
    // x + (a + f); the genai builder adds `a + f` to the stream in the next layer's fused Skip norm.
    for (const w of sum.uses) {
      const outer = w.index < 2 ? an.sumNode(w.node) : undefined;
      const att = outer && w.node.inputs[1 - w.index] === x ? attentionOf(other) : undefined;
      if (outer && att) return { join: { ...joinOf(at, slot, s, x, outer.sum), parallel: true }, node: outer.node, out: streamAfter(outer, an.norms), parallelWith: att };
    }
    const inner = other?.producer && an.sumNode(other.producer);
    if (inner && !inner.fusedNorm && inner.node.inputs.includes(x)) {
      const att2 = attentionOf(inner.node.inputs[0] === x ? inner.node.inputs[1] : inner.node.inputs[0]);
      if (att2) return { join: { ...joinOf(at, slot, s, x), parallel: true }, node: at.node, out: sum, parallelWith: att2 };
    }
  }
  return undefined;
}

/**
 * The attention sublayer ending where the FFN's norm reads the stream: the stream is
 * `Add(x_in, a)` (or a fused Skip norm over the two) with `a` computed from the norm of `x_in`.
 */
function attentionJoin(norm2: NormFound, an: Analysis, ffnOutputs: ReadonlySet<Value>): { norm: NormFound; output: Value; join: ResidualJoin; streamIn: Value } | undefined {
  let at: SumNode | undefined;
  if (norm2.fused) at = an.sumNode(norm2.fused.node);
  else {
    const v = throughNoOpCasts(norm2.input);
    at = v.producer && an.sumNode(v.producer);
    if (at?.sum !== v) at = undefined;
  }
  if (!at) return undefined;
  const operands = [at.node.inputs[0], at.node.inputs[1]];
  for (const [i, u] of operands.entries()) {
    const a = operands[1 - i];
    if (!u || !a || ffnOutputs.has(a)) continue;
    // The previous parallel block's `a + f` is not an attention sublayer either.
    const ap = a.producer && an.sumNode(a.producer);
    if (ap && !ap.fusedNorm && ap.node.inputs.some((v) => v && ffnOutputs.has(v))) continue;
    // The attention's norm reads stream `u`, and `a` depends on that norm's output.
    const candidates = [...an.norms.values()].map((f) => f.item).filter((n) => streamOf(n) === u && n !== norm2);
    for (const n1 of candidates.sort((x, y) => an.position(y.output) - an.position(x.output))) {
      if (dependsOn(a, n1.output, new Set([u]))) return { norm: n1, output: a, join: joinOf(at, (1 - i) as 0 | 1, a, u), streamIn: u };
    }
  }
  return undefined;
}

/**
 * A window of parallel attentions (block-parallel with merge-heads=false): the FFN's norm reads
 * `((x + a_j) + a_j+1) + ...` through plain sum nodes, each `a_t` computed from its own norm of x.
 * Two attentions at least (one is an ordinary layer); undefined otherwise.
 */
function parallelAttentions(norm2: NormFound, an: Analysis, ffnOutputs: ReadonlySet<Value>): { x: Value; parts: { norm: NormFound; output: Value; join: ResidualJoin }[] } | undefined {
  if (norm2.fused) return undefined;
  const normsOf = (x: Value) => [...an.norms.values()].map((f) => f.item).filter((n) => n !== norm2 && streamOf(n) === x);
  const fromNormOf = (a: Value, x: Value) => !ffnOutputs.has(a) && normsOf(x).some((n) => dependsOn(a, n.output, new Set([x])));
  type Step = { at: SumNode; slot: 0 | 1; output: Value };
  // Innermost first: the add whose stream operand is x, then each add of the partial sum.
  const walk = (v: Value, depth: number): { x: Value; steps: Step[] } | undefined => {
    const at = v.producer && an.sumNode(v.producer);
    if (!at || at.fusedNorm || at.sum !== v || depth > 256) return undefined;
    for (const i of [0, 1] as const) {
      const [p, a] = [at.node.inputs[i], at.node.inputs[1 - i]];
      if (p && a && fromNormOf(a, p)) return { x: p, steps: [{ at, slot: (1 - i) as 0 | 1, output: a }] };
    }
    for (const i of [0, 1] as const) {
      const [p, a] = [at.node.inputs[i], at.node.inputs[1 - i]];
      const inner = p && a ? walk(p, depth + 1) : undefined;
      if (inner && fromNormOf(a!, inner.x)) return { x: inner.x, steps: [...inner.steps, { at, slot: (1 - i) as 0 | 1, output: a! }] };
    }
    return undefined;
  };
  const found = walk(throughNoOpCasts(norm2.input), 0);
  if (!found || found.steps.length < 2) return undefined;
  const { x, steps } = found;
  // Each attention's norm: the latest norm of x it depends on that no earlier attention claimed.
  const claimed = new Set<NormFound>();
  const parts: { norm: NormFound; output: Value; join: ResidualJoin }[] = [];
  for (const [t, s] of steps.entries()) {
    const norm = normsOf(x)
      .filter((n) => !claimed.has(n))
      .sort((p, q) => an.position(q.output) - an.position(p.output))
      .find((n) => dependsOn(s.output, n.output, new Set([x])));
    if (!norm) return undefined;
    claimed.add(norm);
    const join = joinOf(s.at, s.slot, s.output, x);
    parts.push({ norm, output: s.output, join: t === 0 ? join : { ...join, parallel: true } });
  }
  return { x, parts };
}

function describeAttention(model: Model, norm: NormFound, output: Value, join: ResidualJoin | undefined, an: Analysis, postNorm?: NormFound): AttentionInfo | string {
  const stream = streamOf(norm);
  const between = backwardNodes([output], { stopAt: new Set([norm.output, stream]) });
  const fused = [...between].find((n) => an.attentionOps.has(`${n.domain}::${n.opType}`));
  const softmax = [...between].find((n) => n.opType === 'Softmax' && n.domain === '');
  if (!fused && !softmax) return `the sublayer adding ${output.name} to the stream has no Softmax or attention op: not an attention`;
  // Sandwich norms (Gemma 2): the projection feeds a post-attention norm whose output is added.
  const o = outputProjection(postNorm ? postNorm.input : output, an.weight);
  const projections = [...forwardNodes([norm.output], new Set([output]))].filter(
    (n) => between.has(n) && an.weight(n) && (n.inputs[0] === norm.output || n.inputs[0]?.producer?.inputs[0] === norm.output),
  );
  let q: WeightRef | undefined;
  let k: WeightRef | undefined;
  let v: WeightRef | undefined;
  let qkv: WeightRef | undefined;
  let heads: number | undefined;
  let kvHeads: number | undefined;
  if (fused) {
    // What the op's attributes say (heads, a packed QKV weight input), as its spelling reads them.
    ({ heads, kvHeads, qkv } = an.attentionOps.get(`${fused.domain}::${fused.opType}`)!.describe(fused));
    const [qi, ki, vi] = fused.inputs;
    for (const p of projections) {
      const w = an.weight(p)!;
      const out = p.output(0);
      const hitsQ = qi && dependsOn(qi, out);
      const hitsK = ki && dependsOn(ki, out);
      const hitsV = vi && dependsOn(vi, out);
      if (hitsQ && !hitsK && !hitsV) q = w;
      else if (hitsK && !hitsQ && !hitsV) k = w;
      else if (hitsV && !hitsQ && !hitsK) v = w;
      else if (hitsQ) qkv = w;
    }
  } else if (softmax) {
    const scores = latestMatMul(backwardNodes([softmax.inputs[0]!], { stopAt: new Set([norm.output, stream]) }), an.weight);
    const context = [...between].find((n) => n.opType === 'MatMul' && n.inputs[0] && dependsOn(n.inputs[0], softmax.output(0)) && !an.weight(n));
    for (const p of projections) {
      const w = an.weight(p)!;
      const out = p.output(0);
      if (context?.inputs[1] && dependsOn(context.inputs[1], out)) v = v ? v : w;
      else if (scores?.inputs[1] && dependsOn(scores.inputs[1], out)) k = w;
      else if (scores?.inputs[0] && dependsOn(scores.inputs[0], out)) q = w;
    }
    if (q && k) {
      heads = headsFromReshape(q.node, an.weight);
      kvHeads = headsFromReshape(k.node, an.weight);
    }
  }
  void model;
  return {
    norm: stripNorm(norm),
    output,
    join,
    residualAdd: join?.at.node,
    nodes: [...between],
    op: fused ? fused.qualifiedOp : 'decomposed',
    q,
    k,
    v,
    o,
    ...(qkv ? { qkv } : {}),
    heads,
    kvHeads,
    cacheInputs: [],
    cacheOutputs: [],
  };
}

/** The o_proj weight: the MatMul producing the attention output (maybe behind a bias Add). */
function outputProjection(out: Value, weight: SpellingContext['weight']): WeightRef | undefined {
  const p = out.producer;
  if (!p) return undefined;
  const w = weight(p);
  if (w) return w;
  if (p.opType === 'Add') for (const i of p.inputs) if (i?.producer && weight(i.producer)) return weight(i.producer);
  // Granite's residual multiplier scales the projection's output.
  if (p.opType === 'Mul') for (const i of p.inputs) if (i?.producer && i.uses.length === 1 && scaledSublayerOutput(i)) return outputProjection(i, weight);
  return undefined;
}

/** The attention-scores MatMul: the last activation-by-activation MatMul before the Softmax. */
function latestMatMul(nodes: Set<Node>, weight: SpellingContext['weight']): Node | undefined {
  let best: Node | undefined;
  let bestAt = -1;
  for (const n of nodes) {
    if (n.opType !== 'MatMul' || weight(n)) continue;
    const at = n.graph?.nodes.indexOf(n) ?? -1;
    if (at > bestAt) {
      best = n;
      bestAt = at;
    }
  }
  return best;
}

function constantOf(v: Value | undefined) {
  const p = v?.producer;
  if (p?.opType !== 'Constant') return undefined;
  const a = p.attr('value')?.value;
  return a && typeof a === 'object' && 'dims' in a ? a : undefined;
}

/** Heads from `Reshape(proj, [B, S, H, Dh])` right after a projection, when the target is constant or a Concat of constants. */
function headsFromReshape(proj: Node, weight: SpellingContext['weight']): number | undefined {
  for (const u of proj.output(0).uses) {
    const r = u.node;
    if (r.opType !== 'Reshape') continue;
    const shape = r.inputs[1];
    if (!shape) continue;
    const direct = shape.constant?.toNumbers();
    if (direct && direct.length === 4) return headsOrInferred(direct[2]!, direct[3]!, proj, weight);
    const cat = shape.producer;
    if (cat?.opType !== 'Concat') continue;
    // [.., H, Dh]: read constant pieces from the end until two numbers are known.
    const tail: number[] = [];
    for (let k = cat.inputs.length - 1; k >= 0 && tail.length < 2; k--) {
      const v = cat.inputs[k];
      const t = v?.constant ?? constantOf(v);
      if (!t) break;
      tail.unshift(...t.toNumbers());
    }
    if (tail.length >= 2) return headsOrInferred(tail[tail.length - 2]!, tail[tail.length - 1]!, proj, weight);
  }
  return undefined;
}

/** `view(B, S, -1, Dh)` (transformers ≥ 4.48) leaves the head count to the projection's width. */
function headsOrInferred(heads: number, headDim: number, proj: Node, weight: SpellingContext['weight']): number | undefined {
  if (heads > 0) return heads;
  const w = weight(proj);
  const out = w && weightDims(w)?.[1];
  return out && headDim > 0 && out % headDim === 0 ? out / headDim : undefined;
}

function isShapeRead(n: Node): boolean {
  return (n.opType === 'Shape' || n.opType === 'Size') && n.domain === '';
}

/**
 * KV-cache ownership. Outputs: graph outputs downstream of the layer's attention norm but not of
 * its attention output (the logits depend on both). Inputs: graph inputs read only by nodes of the
 * layer's attention (its slice back to the norm, shared plumbing included), claimed by exactly
 * one layer: masks and ids are read by every layer's plumbing, `past_i` only by layer i's.
 */
function assignCaches(layers: LayerInfo[]): void {
  const attn = layers.flatMap((l) => attentionsOf(l).map((a) => ({ l, a })));
  const claims = new Map<AttentionInfo, Value[]>();
  for (const { l, a } of attn) {
    const fromNorm = forwardNodes([a.norm.output]);
    const fromOut = forwardNodes([a.output]);
    const g = a.output.graph;
    a.cacheOutputs = g.outputs.filter((o) => o.producer && fromNorm.has(o.producer) && !fromOut.has(o.producer));
    const nodes = new Set(a.nodes);
    for (const n of backwardNodes(a.cacheOutputs, { stopAt: new Set([a.norm.output, l.residualIn]) })) nodes.add(n);
    a.nodes = [...nodes];
    claims.set(
      a,
      // Shape-only reads (a past length for positions) do not make an input shared; attn-prune
      // still refuses to cut an input that such a read keeps alive.
      g.inputs.filter((v) => !v.initializer && v.uses.some((u) => nodes.has(u.node)) && v.uses.every((u) => nodes.has(u.node) || isShapeRead(u.node))),
    );
  }
  const count = new Map<Value, number>();
  for (const vs of claims.values()) for (const v of vs) count.set(v, (count.get(v) ?? 0) + 1);
  // A cache output that several layers feed (one stacked tensor for all layers) is shared: kept
  // in every owner's list, and attn-prune refuses to cut it.
  const outCount = new Map<Value, number>();
  for (const { a } of attn) for (const o of a.cacheOutputs) outCount.set(o, (outCount.get(o) ?? 0) + 1);
  for (const { a } of attn) {
    a.cacheInputs = claims.get(a)!.filter((v) => count.get(v) === 1);
    a.sharedCacheOutputs = a.cacheOutputs.filter((o) => outCount.get(o)! > 1);
  }
}
