import { OnnxOptError } from '../../errors.js';
import { Attribute } from '../../ir/attribute.js';
import { cloneModel } from '../../ir/clone.js';
import type { Model } from '../../ir/model.js';
import type { Node } from '../../ir/node.js';
import { Tensor } from '../../ir/tensor.js';
import type { Value } from '../../ir/value.js';
import type { AttentionInfo, LayerInfo, WeightRef } from '../analysis/layer-map.js';
import { columnSlice2d, concat2d, readFloats, transpose2d, vectorTensor } from '../ffn-fusion/weights.js';
import { constantNumbers, constantTensor } from '../pattern/constants.js';
import { inferShapes } from '../shape-inference/infer-shapes.js';
import { widenHeads } from './head-axis.js';

export interface MergedAttention {
  /** The merged attention's output (layer j's, now n times as many heads). */
  output: Value;
  heads: number;
  kvHeads: number;
  /** Cache graph inputs of layers j+1..k, to drop once nothing reads them. */
  dropInputs: Value[];
  /** Filled by the caller: the cache inputs dropped. */
  cacheInputsRemoved: string[];
  cacheOutputsRemoved: string[];
  cacheResized: { name: string; dims: (number | string | null)[] }[];
}

/**
 * Merges the window's attentions, which all read x by now, into layer j's: Q/K/V weights
 * concatenated along their output axis with each layer's norm scale folded into its rows (so one
 * scale-free norm of x feeds them), O weights along their input axis, the head axis of every
 * intermediate (and of layer j's KV cache) n times wider. Layers j+1..k's attentions and their
 * cache outputs are dropped; their cache inputs are returned for the caller to drop after DCE.
 */
export function mergeAttentions(model: Model, layers: LayerInfo[], x: Value, window: [number, number]): MergedAttention {
  const where = `window [${window.join(',')}]`;
  const bad = (m: string) => new OnnxOptError('UNSUPPORTED', `block-parallel: ${where}: merge-heads: ${m} (use merge-heads=false)`);
  const g = model.graph;
  const atts = layers.map((l) => l.attention!);
  const a0 = atts[0]!;
  const n = atts.length;
  const problem = cannotMerge(layers, window);
  if (problem) throw bad(problem);
  // Shapes before the edit, for following the head axis (inferred on a copy: the model keeps its value infos).
  const typed = cloneModel(model);
  inferShapes(typed);
  const shapes = (v: Value) => {
    const t = typed.graph.findValue(v.name)?.type;
    return t?.kind === 'tensor' ? t.shape : undefined;
  };

  const prefix = `block_parallel.layers.${window[0]}-${window[1]}.self_attn`;
  const hidden = (asInOut(a0.q!).dims[0])!;
  const gammas = atts.map((a) => {
    const t = a.norm.weight && (constantTensor(a.norm.weight) ?? a.norm.weight.initializer);
    if (a.norm.weight && !t) throw bad('a norm weight is not a constant');
    return t ? readFloats(t) : new Float64Array(hidden).fill(1);
  });
  const stacked = (role: 'q' | 'k' | 'v') => concat2d(`${prefix}.${role}_proj.weight`, atts.map((a, t) => ({ tensor: asInOut(a[role]!), rowScale: gammas[t] })), 1);
  const wo = concat2d(`${prefix}.o_proj.weight`, atts.map((a) => asInOut(a.o!)), 0);

  const z = scaleFree(model, a0, x, `${prefix}`);
  const projections = [a0.q!, a0.k!, a0.v!];
  // The heads start after the projections' biases (Qwen2, OPT), which are as wide as the outputs.
  const seeds = projections.map((w) => biasOf(w)?.node.output(0) ?? w.node.output(0));
  const scope = new Set(a0.nodes);
  // Heads first: the patcher reads the old shape vectors, before the projections widen.
  const widened = widenHeads(g, seeds, a0.o!.node, scope, n, shapes, where);
  for (const [w, role] of [[a0.q!, 'q'], [a0.k!, 'k'], [a0.v!, 'v']] as const) {
    setWeight(w, g.addInitializer(stacked(role)));
    // Biases of Q/K/V are concatenated like their columns; O's are summed below.
    const bias = biasOf(w);
    if (bias) bias.node.setInput(bias.input, g.addInitializer(joinedBias(`${prefix}.${role}_proj.bias`, atts.map((a) => biasOf(a[role]!)!.tensor), 'concat')));
    w.node.setInput(0, z);
  }
  setWeight(a0.o!, g.addInitializer(wo));
  const oBias = biasOf(a0.o!);
  if (oBias) oBias.node.setInput(oBias.input, g.addInitializer(joinedBias(`${prefix}.o_proj.bias`, atts.map((a) => biasOf(a.o!)!.tensor), 'sum')));
  // Other readers of the old norm (Shape for batch and length) read the shared one.
  for (const u of [...a0.norm.output.uses]) if (scope.has(u.node)) u.node.setInput(u.index, z);

  const cacheOutputsRemoved: string[] = [];
  for (const a of atts.slice(1)) {
    for (const out of a.cacheOutputs) {
      for (let i = g.outputs.length - 1; i >= 0; i--) if (g.outputs[i] === out) g.outputs.splice(i, 1);
      cacheOutputsRemoved.push(out.name);
    }
  }
  const cacheResized: MergedAttention['cacheResized'] = [];
  for (const { value } of [...widened.inputs, ...widened.outputs]) {
    const t = value.type;
    if (t?.kind === 'tensor' && t.shape) cacheResized.push({ name: value.name, dims: [...t.shape] });
  }
  return {
    output: a0.output,
    heads: atts.reduce((s, a) => s + headCounts(a).heads!, 0),
    kvHeads: atts.reduce((s, a) => s + headCounts(a).kvHeads!, 0),
    dropInputs: atts.slice(1).flatMap((a) => a.cacheInputs),
    cacheInputsRemoved: [],
    cacheOutputsRemoved,
    cacheResized,
  };
}

/** Why the window's attentions cannot become one, or undefined. */
export function cannotMerge(layers: readonly LayerInfo[], window: readonly [number, number]): string | undefined {
  const atts = layers.map((l) => l.attention!);
  const a0 = atts[0]!;
  for (const [t, a] of atts.entries()) {
    const i = window[0] + t;
    if (a.op !== 'decomposed') return (`layer ${i}'s attention is a fused ${a.op} op; merging heads is supported for decomposed attention`);
    if (a.qkv) return (`layer ${i} packs Q, K and V in one projection`);
    if (!a.q || !a.k || !a.v) return `layer ${i}'s Q, K and V are not separate projections (packed QKV)`;
    for (const [role, w] of [['q', a.q], ['k', a.k], ['v', a.v], ['o', a.o]] as const) {
      if (!w || w.kind !== 'matmul' || w.columns) return (`layer ${i}'s ${role} projection is not a plain float MatMul`);
      if (w.kind === 'matmul' && w.node.opType === 'Gemm' && w.node.inputs[2]) return `layer ${i}'s ${role} projection is a Gemm with a bias`;
      if (!biasOf(w) !== !biasOf(a0[role]!)) return `layers ${window[0]} and ${i} differ in whether the ${role} projection has a bias`;
    }
    const [h, h0] = [headCounts(a), headCounts(a0)];
    if (!h.heads || !h.kvHeads || !h0.heads || !h0.kvHeads) return `layer ${i}'s head counts are unknown`;
    if (h.heads * h0.kvHeads !== h0.heads * h.kvHeads) return `layers ${window[0]} and ${i} have different query heads per KV head (${h0.heads}/${h0.kvHeads} vs ${h.heads}/${h.kvHeads})`;
    if (width(a.q!) / h.heads !== width(a0.q!) / h0.heads) return `layers ${window[0]} and ${i} have different head sizes`;
    if (a.norm.kind !== a0.norm.kind || a.norm.epsilon !== a0.norm.epsilon) return (`layers ${window[0]} and ${i} use different attention norms (kind or epsilon): one shared norm cannot be exact`);
    if (a.norm.bias && constantTensor(a.norm.bias) && readFloats(constantTensor(a.norm.bias)!).some((b) => b !== 0)) return (`layer ${i}'s LayerNorm has a shift, which would need projection biases`);
    if (a.norm.fused) return (`layer ${i}'s attention norm is a fused Skip norm`);
  }

  for (const [t, a] of atts.entries()) {
    const why = t > 0 ? attentionDifference(a0, a) : undefined;
    if (why) return `layer ${window[0] + t}'s attention differs from layer ${window[0]}'s beyond its projections (${why}): one set of the other ops cannot serve both`;
  }
  return undefined;
}

/**
 * Where attention `a` computes something other than `a0` with other projection weights: its own
 * nodes (those not shared with a0) taken in graph order must match a0's op for op, and every
 * constant they read other than the Q/K/V/O weights must be equal (Qwen3's per-layer q_norm scale
 * is not). Undefined when they match.
 */
function attentionDifference(a0: AttentionInfo, a: AttentionInfo): string | undefined {
  const g = a0.output.graph;
  const at = new Map(g.nodes.map((n, i) => [n, i]));
  const shared = new Set(a0.nodes.filter((n) => a.nodes.includes(n)));
  const own = (x: AttentionInfo) => x.nodes.filter((n) => !shared.has(n) && n.opType !== 'Constant' && at.has(n)).sort((p, q) => at.get(p)! - at.get(q)!);
  const weightsOf = (x: AttentionInfo) =>
    new Set(
      [x.q, x.k, x.v, x.o].flatMap((w) => {
        const b = w && biasOf(w);
        return w ? [w.weight, w.node.inputs[1], ...(b ? [b.node.inputs[b.input]] : [])] : [];
      }),
    );
  const [mine, theirs] = [own(a0), own(a)];
  const [w0, w1] = [weightsOf(a0), weightsOf(a)];
  if (mine.length !== theirs.length) return `${theirs.length} nodes against ${mine.length}`;
  for (const [i, n0] of mine.entries()) {
    const n1 = theirs[i]!;
    if (n0.opType !== n1.opType || n0.domain !== n1.domain || n0.inputs.length !== n1.inputs.length) return `${n1.label} against ${n0.label}`;
    for (const [k, v0] of n0.inputs.entries()) {
      const v1 = n1.inputs[k];
      if (!v0 || !v1 || v0 === v1 || (w0.has(v0) && w1.has(v1))) continue;
      const [t0, t1] = [constantTensor(v0), constantTensor(v1)];
      if (!t0 && !t1) continue;
      if (!t0 || !t1 || !sameTensor(t0, t1)) return `${v1.name} against ${v0.name}`;
    }
  }
  return undefined;
}

function sameTensor(a: Tensor, b: Tensor): boolean {
  if (a.dtype !== b.dtype || a.dims.length !== b.dims.length || a.dims.some((d, i) => d !== b.dims[i])) return false;
  const [x, y] = [a.bytes(), b.bytes()];
  return x.length === y.length && x.every((byte, i) => byte === y[i]);
}

/** `x / rms(x)` (or `(x − μ)/σ`): the norm's own unscaled value when it normalizes x, else a new unit-weight norm. */
function scaleFree(model: Model, a: AttentionInfo, x: Value, prefix: string): Value {
  const norm = a.norm;
  if (norm.unscaled && norm.input === x) return norm.unscaled;
  const g = model.graph;
  const w = norm.weight && (constantTensor(norm.weight) ?? norm.weight.initializer);
  if (!w) throw new OnnxOptError('UNSUPPORTED', `block-parallel: the attention norm has no weight to size a unit norm from`);
  const ones = g.addInitializer(vectorTensor(`${prefix}.unit_norm_weight`, w.dtype, new Float64Array(w.size).fill(1)));
  const attrs = [Attribute.int('axis', -1), Attribute.float('epsilon', norm.epsilon)];
  const inputs = norm.kind === 'layer' ? [x, ones, g.addInitializer(vectorTensor(`${prefix}.unit_norm_bias`, w.dtype, new Float64Array(w.size)))] : [x, ones];
  const node = g.addNode({ opType: norm.kind === 'layer' ? 'LayerNormalization' : 'SimplifiedLayerNormalization', inputs, outputs: [`${prefix}/unit_norm`], attributes: attrs, before: a.q!.node });
  node.setMetadata('onnx-opt.rule', 'block-parallel');
  node.output(0).type = norm.output.type;
  return node.output(0);
}

/** The weight in ONNX [in, out] layout (a transposed one is transposed back lazily). */
function asInOut(w: WeightRef): Tensor {
  if (w.kind !== 'matmul') throw new OnnxOptError('UNSUPPORTED', 'block-parallel: unsupported weight kind');
  const t = (w.weight.constant ?? w.weight.initializer)!;
  const full = w.transposed ? transpose2d(`${t.name}.t`, t) : t;
  return w.columns ? columnSlice2d(`${t.name}.cols`, full, w.columns[0], w.columns[1]) : full;
}

function width(w: WeightRef): number {
  return asInOut(w).dims[1]!;
}

/** Points the projection at a new [in, out] weight (a Gemm then reads it untransposed). */
function setWeight(w: WeightRef, v: Value): void {
  const node: Node = w.node;
  node.setInput(1, v);
  if (node.opType === 'Gemm' && node.attrInt('transB', 0) === 1) node.setAttr(Attribute.int('transB', 0));
}

/**
 * Head counts: the analysis' own, else read from the `Reshape(·, [.., H, Dh])` after a biased
 * projection (the analysis looks right after the MatMul).
 */
function headCounts(a: AttentionInfo): { heads: number | undefined; kvHeads: number | undefined } {
  const after = (w: WeightRef | undefined): number | undefined => {
    const out = w && (biasOf(w)?.node.output(0) ?? w.node.output(0));
    for (const u of out?.uses ?? []) {
      if (u.node.opType !== 'Reshape' || !u.node.inputs[1]) continue;
      const target = u.node.inputs[1];
      const cat = target.producer?.opType === 'Concat' ? target.producer.inputs : [target];
      const tail = cat.slice(-2).map((v) => (v ? constantNumbers(v) : undefined));
      const [heads, dh] = tail.length === 2 && tail.every((t) => t?.length === 1) ? tail.map((t) => t![0]!) : (constantNumbers(target)?.slice(-2) ?? []);
      if (heads === undefined || dh === undefined || dh <= 0) continue;
      return heads > 0 ? heads : width(w!) % dh === 0 ? width(w!) / dh : undefined;
    }
    return undefined;
  };
  return { heads: a.heads ?? after(a.q), kvHeads: a.kvHeads ?? after(a.k) };
}

/** The bias Add right after a projection (`MatMul(x, W) + b`, b a constant vector), if any. */
function biasOf(w: WeightRef): { node: Node; input: number; tensor: Tensor } | undefined {
  const out = w.node.output(0);
  if (out.uses.length !== 1) return undefined;
  const add = out.uses[0]!.node;
  if (add.opType !== 'Add' || add.domain !== '') return undefined;
  const input = add.inputs[0] === out ? 1 : 0;
  const tensor = add.inputs[input] && constantTensor(add.inputs[input]!);
  return tensor && tensor.dims.length === 1 ? { node: add, input, tensor } : undefined;
}

/** Biases concatenated (Q/K/V, one per head group) or summed (O, added once), in the first one's dtype. */
function joinedBias(name: string, parts: Tensor[], how: 'concat' | 'sum'): Tensor {
  const values = parts.map(readFloats);
  const out = how === 'concat' ? Float64Array.from(values.flatMap((v) => [...v])) : values.reduce((acc, v) => acc.map((x, i) => x + v[i]!));
  return vectorTensor(name, parts[0]!.dtype, out);
}
