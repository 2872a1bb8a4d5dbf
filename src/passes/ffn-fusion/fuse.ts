import { OnnxOptError } from '../../errors.js';
import { Attribute } from '../../ir/attribute.js';
import { DataType } from '../../ir/dtype.js';
import type { Graph } from '../../ir/graph.js';
import type { Model } from '../../ir/model.js';
import { Node } from '../../ir/node.js';
import { Tensor } from '../../ir/tensor.js';
import type { Value } from '../../ir/value.js';
import { removeDeadNodes } from '../attn-prune/remove-attention.js';
import { FUSED_LAYERS_KEY, type FfnInfo, type LayerMap, type NormInfo, type WeightRef } from '../analysis/layer-map.js';
import { concat2d, readFloats, transpose2d, vecMat, vectorTensor } from './weights.js';

export type FuseMode = 'exact' | 'paper';

/** Metadata key on nodes the fusion creates (same key the pattern rewriter uses). */
const PROVENANCE = 'onnx-opt.rule';

/**
 * Replaces FFNs j..k (a legal run) by one wide FFN reading the group's input x_j:
 * `x_out = x_j + FFN*(N*(x_j))`. Exact mode folds each layer's norm scale γ_t into its own gate/up
 * input rows (and LayerNorm β_t into the first bias), so one scale-free norm with the same epsilon
 * feeds the fused FFN: exact for the parallel form. Paper mode uses layer k's norm for every FFN.
 */
export function fuseGroup(model: Model, map: LayerMap, group: readonly [number, number], mode: FuseMode = 'exact'): { nodesAdded: number } {
  const [j, k] = group;
  const g = model.graph;
  const layers = map.layers.filter((l) => l.index >= j && l.index <= k).sort((a, b) => a.index - b.index);
  const ffns = layers.map((l) => l.ffn!);
  const first = ffns[0]!;
  const bad = (m: string) => new OnnxOptError('UNSUPPORTED', `ffn-fuse: group [${j},${k}]: ${m}`);
  if (ffns.some((f) => f.kind !== first.kind || f.activation !== first.activation)) throw bad('the FFNs are not all of one kind');
  if (ffns.some((f) => f.norm.kind !== first.norm.kind)) throw bad('the FFNs use different norm kinds');
  if (mode === 'exact' && ffns.some((f) => f.norm.epsilon !== first.norm.epsilon)) {
    throw bad(`the norms' epsilons differ (${[...new Set(ffns.map((f) => f.norm.epsilon))].join(', ')}); one shared norm cannot be exact`);
  }
  for (const f of ffns) for (const w of [f.gate, f.up, f.down]) if (w?.kind === 'matmulnbits') throw bad('MatMulNBits weights are not fused yet');
  const xj = layers[0]!.residualMid;
  const join = layers[layers.length - 1]!.ffn!.residualAdd;
  if (!join) throw bad(`layer ${k}'s FFN output is not joined to the stream`);
  const prefix = `ffn_fuse.layers.${j}-${k}`;
  const before = join;
  const added: Node[] = [];
  const add = (opType: string, inputs: (Value | undefined)[], attrs: Attribute[] = [], domain = '') => {
    const n = g.addNode({ opType, domain, inputs, outputs: [`${prefix}/${opType}`], attributes: attrs, before });
    n.setMetadata(PROVENANCE, 'ffn-fuse');
    added.push(n);
    return n.output(0);
  };

  // Norm scales: each layer's own (exact) or layer k's for all (paper).
  const scaleOf = (f: FfnInfo) => (mode === 'paper' ? ffns[ffns.length - 1]!.norm : f.norm);
  const hidden = (first.up.kind === 'matmul' ? asInOutDims(first.up) : [first.up.k])[0]!;
  const gammas = ffns.map((f) => normVector(scaleOf(f).weight, bad, hidden));
  const betas = ffns.map((f) => (scaleOf(f).bias ? normVector(scaleOf(f).bias, bad, hidden) : undefined));
  const z = scaleFreeNorm(g, first.norm, xj, add, bad);

  const dtypeOf = (w: WeightRef) => (w.weight.constant ?? w.weight.initializer)!.dtype;
  const asInOut = (w: WeightRef): Tensor => {
    const t = (w.weight.constant ?? w.weight.initializer)!;
    if (w.kind !== 'matmul') throw bad('unsupported weight kind');
    return w.transposed ? transpose2d(`${t.name}.t`, t) : t;
  };
  const up = concat2d(`${prefix}.up.weight`, ffns.map((f, t) => ({ tensor: asInOut(f.up), rowScale: gammas[t] })), 1);
  const gate = first.gate ? concat2d(`${prefix}.gate.weight`, ffns.map((f, t) => ({ tensor: asInOut(f.gate!), rowScale: gammas[t] })), 1) : undefined;
  const down = concat2d(`${prefix}.down.weight`, ffns.map((f) => asInOut(f.down)), 0);

  // First-layer biases are concatenated (with β folded in); second-layer biases are summed.
  let upBias: Tensor | undefined;
  const needsUpBias = ffns.some((f) => f.upBias) || betas.some((b) => b);
  if (needsUpBias) {
    if (ffns.some((f) => !f.upBias)) throw bad('a LayerNorm shift needs the first projection to have a bias');
    const parts = ffns.map((f, t) => {
      const b = readFloats(f.upBias!.constant!);
      const beta = betas[t];
      if (beta) {
        const shift = vecMat(beta, asInOut(f.up));
        for (let i = 0; i < b.length; i++) b[i] = b[i]! + shift[i]!;
      }
      return b;
    });
    const all = new Float64Array(parts.reduce((s, p) => s + p.length, 0));
    let at = 0;
    for (const p of parts) (all.set(p, at), (at += p.length));
    upBias = vectorTensor(`${prefix}.up.bias`, f32or(first.upBias!.constant!.dtype), all);
  }
  let downBias: Tensor | undefined;
  if (ffns.some((f) => f.downBias)) {
    const sum = new Float64Array(readFloats(ffns.find((f) => f.downBias)!.downBias!.constant!).length);
    for (const f of ffns) if (f.downBias) readFloats(f.downBias.constant!).forEach((v, i) => (sum[i] = sum[i]! + v));
    downBias = vectorTensor(`${prefix}.down.bias`, f32or(ffns.find((f) => f.downBias)!.downBias!.constant!.dtype), sum);
  }
  void dtypeOf;

  // Clone layer j's FFN with the fused weights: the activation keeps the exporter's own spelling.
  const replace = new Map<Value, Value>();
  replace.set(first.input, z);
  const weightInput = (w: WeightRef) => w.node.inputs[1]!;
  replace.set(weightInput(first.up), g.addInitializer(up));
  if (first.gate && gate) replace.set(weightInput(first.gate), g.addInitializer(gate));
  replace.set(weightInput(first.down), g.addInitializer(down));
  if (first.upBias && upBias) replace.set(first.upBias, g.addInitializer(upBias));
  if (first.downBias && downBias) replace.set(first.downBias, g.addInitializer(downBias));
  const order = new Map(g.nodes.map((n, i) => [n, i]));
  const nodes = [...first.nodes].filter((n) => n.graph === g).sort((a, b) => order.get(a)! - order.get(b)!);
  for (const n of nodes) {
    if (n.opType === 'Constant') continue;
    const clone = new Node({ opType: n.opType, domain: n.domain, name: n.name ? g.names.unique(`${prefix}/${n.opType}`) : '', attributes: n.attributes });
    for (const v of n.inputs) clone.addInput(v ? (replace.get(v) ?? v) : undefined);
    for (const o of n.outputs) {
      if (!o) {
        g.attachOutput(clone, undefined);
        continue;
      }
      const nv = g.createValue(`${prefix}/${n.opType}_out`, o.type?.kind === 'tensor' ? undefined : o.type);
      g.attachOutput(clone, nv);
      replace.set(o, nv);
    }
    g.insertNode(clone, { before });
    clone.setMetadata(PROVENANCE, 'ffn-fuse');
    added.push(clone);
  }
  const fused = replace.get(first.output);
  if (!fused) throw bad('could not rebuild the fused FFN output');
  // Later analyses keep the original layer numbers: this FFN stands for layers j..k.
  const lo = layers[0]!.span?.[0] ?? j;
  const hi = layers[layers.length - 1]!.span?.[1] ?? k;
  fused.producer!.setMetadata(FUSED_LAYERS_KEY, `${lo}-${hi}`);
  fused.type = first.output.type;

  // Join the fused FFN to x_j where layer k's FFN joined the stream.
  const last = ffns[ffns.length - 1]!;
  if (join.opType === 'Add' && join.domain === '') {
    const out = add('Add', [xj, fused]);
    out.type = join.output(0).type;
    g.replaceAllUsesWith(join.output(0), out);
  } else {
    const ffnAt = join.inputs[0] === last.output ? 0 : 1;
    join.setInput(ffnAt, fused);
    join.setInput(1 - ffnAt, xj);
    // A Skip norm's bias input is added with the FFN output (ORT folds the down-projection bias
    // there): the fused join must add every group member's, summed like the other second biases.
    const at = join.opType === 'SkipLayerNormalization' ? 4 : 3;
    const biases = ffns.map((f) => (f.residualAdd && f.residualAdd.opType === join.opType ? f.residualAdd.inputs[at] : undefined));
    if (biases.some((b) => b)) {
      const first = biases.find((b) => b)!.constant!;
      const sum = new Float64Array(first.size);
      for (const b of biases) if (b?.constant) readFloats(b.constant).forEach((v, i) => (sum[i] = sum[i]! + v));
      join.setInput(at, g.addInitializer(vectorTensor(`${prefix}.join.bias`, first.dtype, sum)));
    }
  }
  removeDeadNodes(model);
  if (!g.sortTopologically()) throw bad('the rewrite made a cycle (a bug)');
  return { nodesAdded: added.length };
}

function asInOutDims(w: WeightRef): number[] {
  const d = (w.weight.constant ?? w.weight.initializer)!.dims;
  return w.kind === 'matmul' && w.transposed ? [d[1]!, d[0]!] : [...d];
}

function f32or(d: DataType): DataType {
  return d;
}

/** A norm's scale as numbers; a scale-free norm (an earlier fusion's input) scales by 1. */
function normVector(v: Value | undefined, bad: (m: string) => Error, size: number): Float64Array {
  if (!v) return new Float64Array(size).fill(1);
  const t = v.constant ?? v.initializer;
  if (!t) throw bad('a norm weight is not a constant');
  return readFloats(t);
}

/**
 * `x / rms(x)` (or `(x − μ)/σ`) of the group input: the graph's own unscaled value when layer j's
 * norm exposes it, else a new norm node of the same family with unit weight.
 */
function scaleFreeNorm(g: Graph, norm: NormInfo, xj: Value, add: (op: string, inputs: (Value | undefined)[], attrs?: Attribute[], domain?: string) => Value, bad: (m: string) => Error): Value {
  if (norm.unscaled && norm.input === xj) return norm.unscaled;
  const w = norm.weight?.constant ?? norm.weight?.initializer;
  if (!w) throw bad('the norm has no weight to size a unit-weight norm from');
  const ones = g.addInitializer(Tensor.lazy(`${xj.name}.unit_norm_weight`, w.dtype, w.dims, () => unitBytes(w.dtype, w.size, 1)));
  const attrs = [Attribute.int('axis', -1), Attribute.float('epsilon', norm.epsilon)];
  if (norm.kind === 'layer') {
    const zeros = g.addInitializer(Tensor.lazy(`${xj.name}.unit_norm_bias`, w.dtype, w.dims, () => unitBytes(w.dtype, w.size, 0)));
    return add('LayerNormalization', [xj, ones, zeros], attrs);
  }
  return add('SimplifiedLayerNormalization', [xj, ones], attrs);
}

function unitBytes(dtype: DataType, n: number, value: number): Uint8Array {
  return vectorTensor('', dtype, new Float64Array(n).fill(value)).bytes();
}
