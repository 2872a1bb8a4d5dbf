import { OnnxOptError } from '../../errors.js';
import { Attribute } from '../../ir/attribute.js';
import { cloneModel } from '../../ir/clone.js';
import type { Model } from '../../ir/model.js';
import type { Node } from '../../ir/node.js';
import { Tensor } from '../../ir/tensor.js';
import type { Value } from '../../ir/value.js';
import type { AttentionInfo, LayerInfo, WeightRef } from '../analysis/layer-map.js';
import { columnSlice2d, concat2d, readFloats, transpose2d, vectorTensor } from '../ffn-fusion/weights.js';
import { constantTensor } from '../pattern/constants.js';
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
  const seeds = projections.map((w) => w.node.output(0));
  const scope = new Set(a0.nodes);
  // Heads first: the patcher reads the old shape vectors, before the projections widen.
  const widened = widenHeads(g, seeds, a0.o!.node, scope, n, shapes, where);
  for (const [w, role] of [[a0.q!, 'q'], [a0.k!, 'k'], [a0.v!, 'v']] as const) {
    setWeight(w, g.addInitializer(stacked(role)));
    w.node.setInput(0, z);
  }
  setWeight(a0.o!, g.addInitializer(wo));
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
    heads: atts.reduce((s, a) => s + a.heads!, 0),
    kvHeads: atts.reduce((s, a) => s + a.kvHeads!, 0),
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
    for (const [role, w] of [['q', a.q], ['k', a.k], ['v', a.v], ['o', a.o]] as const) {
      if (!w || w.kind !== 'matmul' || w.columns) return (`layer ${i}'s ${role} projection is not a plain float MatMul`);
      if (hasBias(w)) return (`layer ${i}'s ${role} projection has a bias`);
    }
    if (!a.heads || !a.kvHeads) return (`layer ${i}'s head counts are unknown`);
    if (a.heads * a0.kvHeads! !== a0.heads! * a.kvHeads) return (`layers ${window[0]} and ${i} have different query heads per KV head (${a0.heads}/${a0.kvHeads} vs ${a.heads}/${a.kvHeads})`);
    if (width(a.q!) / a.heads !== width(a0.q!) / a0.heads!) return (`layers ${window[0]} and ${i} have different head sizes`);
    if (a.norm.kind !== a0.norm.kind || a.norm.epsilon !== a0.norm.epsilon) return (`layers ${window[0]} and ${i} use different attention norms (kind or epsilon): one shared norm cannot be exact`);
    if (a.norm.bias && constantTensor(a.norm.bias) && readFloats(constantTensor(a.norm.bias)!).some((b) => b !== 0)) return (`layer ${i}'s LayerNorm has a shift, which would need projection biases`);
    if (a.norm.fused) return (`layer ${i}'s attention norm is a fused Skip norm`);
  }

  return undefined;
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

/** A bias on the projection: Gemm's C, or an Add of a constant right after it. */
function hasBias(w: WeightRef): boolean {
  if (w.node.opType === 'Gemm' && w.node.inputs[2]) return true;
  return w.node.output(0).uses.some((u) => u.node.opType === 'Add' && u.node.inputs.some((v) => v && v !== w.node.output(0) && constantTensor(v)));
}
