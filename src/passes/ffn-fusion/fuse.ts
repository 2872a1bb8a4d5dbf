import { OnnxOptError } from '../../errors.js';
import { Attribute } from '../../ir/attribute.js';
import { DataType } from '../../ir/dtype.js';
import type { Graph } from '../../ir/graph.js';
import type { Model } from '../../ir/model.js';
import { Node } from '../../ir/node.js';
import { Tensor } from '../../ir/tensor.js';
import type { Value } from '../../ir/value.js';
import { removeDeadNodes } from '../../ir/dead-code.js';
import { analyzeDecoder } from '../analysis/analyze-decoder.js';
import { joinBias, rejoin } from '../rewrite/residual-join.js';
import { ALL_SPELLINGS } from '../analysis/spellings/index.js';
import { applyMatch, constantSource, constantTensor, findMatches } from '../pattern/index.js';
import { FUSED_LAYERS_KEY, type FfnInfo, type LayerMap, type NormInfo, type WeightRef } from '../analysis/layer-map.js';
import { columnSlice2d, concat2d, readFloats, transpose2d, vecMat, vectorTensor } from './weights.js';

export type FuseMode = 'exact' | 'paper';

/** Metadata key on nodes the fusion creates (same key the pattern rewriter uses). */
const PROVENANCE = 'onnx-opt.rule';

/**
 * Replaces FFNs j..k (a legal run) by one wide FFN reading the group's input x_j:
 * `x_out = x_j + FFN*(N*(x_j))`. Exact mode folds each layer's norm scale γ_t into its own gate/up
 * input rows (and LayerNorm β_t into the first bias), so one scale-free norm with the same epsilon
 * feeds the fused FFN: exact for the parallel form. Paper mode uses layer k's norm for every FFN.
 */
export function fuseGroup(model: Model, givenMap: LayerMap, group: readonly [number, number], mode: FuseMode = 'exact'): { nodesAdded: number } {
  const [j, k] = group;
  const g = model.graph;
  const map = canonicalizeGroup(model, givenMap, j, k) ? analyzeDecoder(model) : givenMap;
  const layers = map.layers.filter((l) => l.index >= j && l.index <= k).sort((a, b) => a.index - b.index);
  const ffns = layers.map((l) => l.ffn!);
  const first = ffns[0]!;
  const bad = (m: string) => new OnnxOptError('UNSUPPORTED', `ffn-fuse: group [${j},${k}]: ${m}`);
  if (ffns.some((f) => f.kind !== first.kind || f.activation !== first.activation)) throw bad('the FFNs are not all of one kind');
  if (ffns.some((f) => f.norm.kind !== first.norm.kind)) throw bad('the FFNs use different norm kinds');
  // One scaling of the sum is exact only when every FFN is scaled alike (Granite: one multiplier).
  if (ffns.some((f) => f.outputScale !== first.outputScale)) throw bad('the FFN outputs are scaled by different residual multipliers');
  if (mode === 'exact' && ffns.some((f) => f.norm.epsilon !== first.norm.epsilon)) {
    throw bad(`the norms' epsilons differ (${[...new Set(ffns.map((f) => f.norm.epsilon))].join(', ')}); one shared norm cannot be exact`);
  }
  const quantized = ffns.some((f) => [f.gate, f.up, f.down].some((w) => w?.kind === 'matmulnbits'));
  if (quantized) return fuseQuantizedGroup(model, layers, ffns, group, mode, bad);
  const xj = layers[0]!.residualMid;
  const join = layers[layers.length - 1]!.ffn!.join;
  if (!join) throw bad(`layer ${k}'s FFN output is not joined to the stream`);
  const prefix = `ffn_fuse.layers.${j}-${k}`;
  const before = join.at.node;
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
    const full = w.transposed ? transpose2d(`${t.name}.t`, t) : t;
    return w.columns ? columnSlice2d(`${t.name}.cols${w.columns[0]}-${w.columns[1]}`, full, w.columns[0], w.columns[1]) : full;
  };
  // A packed gate_up projection (sliced in halves by the graph) stays packed: all gates, then all ups.
  const packed = first.gate?.kind === 'matmul' && first.gate.columns !== undefined && first.gate.node === first.up.node;
  if (ffns.some((f) => (f.gate?.kind === 'matmul' && f.gate.columns !== undefined && f.gate.node === f.up.node) !== packed)) throw bad('the FFNs do not all pack gate and up the same way');
  const upParts = ffns.map((f, t) => ({ tensor: asInOut(f.up), rowScale: gammas[t] }));
  const gateParts = first.gate ? ffns.map((f, t) => ({ tensor: asInOut(f.gate!), rowScale: gammas[t] })) : [];
  const up = concat2d(`${prefix}.${packed ? 'gate_up' : 'up'}.weight`, packed ? [...gateParts, ...upParts] : upParts, 1);
  const gate = first.gate && !packed ? concat2d(`${prefix}.gate.weight`, gateParts, 1) : undefined;
  const down = concat2d(`${prefix}.down.weight`, ffns.map((f) => asInOut(f.down)), 0);

  // First-layer biases are concatenated (with β folded in); second-layer biases are summed.
  // A LayerNorm shift on projections without a bias (StableLM's SwiGLU) gets new bias Adds.
  const shiftOf = (f: FfnInfo, t: number, role: 'gate' | 'up') => (betas[t] ? vecMat(betas[t]!, asInOut(f[role]!)) : new Float64Array(asInOutDims(f[role]!)[1]!));
  const joined = (parts: Float64Array[]) => Float64Array.from(parts.flatMap((p) => [...p]));
  const replaceBias = new Map<Value, Tensor>();
  const newBiases = new Map<Node, Tensor>();
  const dtype = (first.up.weight.constant ?? first.up.weight.initializer)!.dtype;
  if (packed) {
    if (ffns.some((f) => f.upBias || f.gateBias)) throw bad('biases on a packed gate_up projection are not supported');
    if (betas.some((b) => b)) newBiases.set(first.up.node, vectorTensor(`${prefix}.gate_up.bias`, dtype, joined([...ffns.map((f, t) => shiftOf(f, t, 'gate')), ...ffns.map((f, t) => shiftOf(f, t, 'up'))])));
  } else {
    for (const role of first.gate ? (['gate', 'up'] as const) : (['up'] as const)) {
      const biasOf = (f: FfnInfo) => (role === 'gate' ? f.gateBias : f.upBias);
      if (ffns.some((f) => biasOf(f)) && ffns.some((f) => !biasOf(f))) throw bad(`some ${role} projections have a bias and some do not`);
      const own = biasOf(first);
      if (!own && !betas.some((b) => b)) continue;
      const parts = ffns.map((f, t) => {
        const shift = shiftOf(f, t, role);
        const b = biasOf(f);
        if (!b) return shift;
        const v = readFloats(constantTensor(b)!);
        for (let i = 0; i < v.length; i++) v[i] = v[i]! + shift[i]!;
        return v;
      });
      const fused = vectorTensor(`${prefix}.${role}.bias`, own ? constantTensor(own)!.dtype : dtype, joined(parts));
      if (own) replaceBias.set(own, fused);
      else newBiases.set(first[role]!.node, fused);
    }
  }
  let downBias: Tensor | undefined;
  if (ffns.some((f) => f.downBias)) {
    const sum = new Float64Array(readFloats(constantTensor(ffns.find((f) => f.downBias)!.downBias!)!).length);
    for (const f of ffns) if (f.downBias) readFloats(constantTensor(f.downBias)!).forEach((v, i) => (sum[i] = sum[i]! + v));
    downBias = vectorTensor(`${prefix}.down.bias`, f32or(constantTensor(ffns.find((f) => f.downBias)!.downBias!)!.dtype), sum);
  }
  void dtypeOf;

  // Clone layer j's FFN with the fused weights: the activation keeps the exporter's own spelling.
  const replace = new Map<Value, Value>();
  replace.set(first.input, z);
  const weightInput = (w: WeightRef) => w.node.inputs[1]!;
  replace.set(weightInput(first.up), g.addInitializer(up));
  if (first.gate && gate) replace.set(weightInput(first.gate), g.addInitializer(gate));
  replace.set(weightInput(first.down), g.addInitializer(down));
  for (const [bias, fused] of replaceBias) replace.set(bias, g.addInitializer(fused));
  if (first.downBias && downBias) replace.set(first.downBias, g.addInitializer(downBias));
  const order = new Map(g.nodes.map((n, i) => [n, i]));
  const nodes = [...first.nodes].filter((n) => n.graph === g).sort((a, b) => order.get(a)! - order.get(b)!);
  for (const n of nodes) {
    if (n.opType === 'Constant') continue;
    const clone = new Node({ opType: n.opType, domain: n.domain, name: n.name ? g.names.unique(`${prefix}/${n.opType}`) : '', attributes: [...n.attributes] });
    // Biases may be read through Identity chains; the map holds their source initializers.
    for (const v of n.inputs) clone.addInput(v ? (replace.get(v) ?? replace.get(constantSource(v) ?? v) ?? v) : undefined);
    for (const o of n.outputs) {
      if (!o) {
        g.attachOutput(clone, undefined);
        continue;
      }
      const nv = g.createValue(`${prefix}/${n.opType}_out`, o.type?.kind === 'tensor' ? undefined : o.type);
      g.attachOutput(clone, nv);
      replace.set(o, nv);
    }
    // Fused weights are stored [in, out]: a Gemm reads them without transposing.
    if (clone.opType === 'Gemm' && clone.attrInt('transB', 0) === 1) clone.setAttr(Attribute.int('transB', 0));
    g.insertNode(clone, { before });
    clone.setMetadata(PROVENANCE, 'ffn-fuse');
    added.push(clone);
    const bias = newBiases.get(n);
    if (bias) replace.set(n.output(0), add('Add', [clone.output(0), g.addInitializer(bias)]));
  }
  const fused = replace.get(first.output);
  if (!fused) throw bad('could not rebuild the fused FFN output');
  // Later analyses keep the original layer numbers: this FFN stands for layers j..k.
  const lo = layers[0]!.span?.[0] ?? j;
  const hi = layers[layers.length - 1]!.span?.[1] ?? k;
  fused.producer!.setMetadata(FUSED_LAYERS_KEY, `${lo}-${hi}`);
  // The FFN rules end at the down projection (a residual multiplier may follow): tag it too.
  replace.get(first.down.node.output(0))?.producer?.setMetadata(FUSED_LAYERS_KEY, `${lo}-${hi}`);
  fused.type = first.output.type;

  // Join the fused FFN to x_j where layer k's FFN joined the stream.
  added.push(...rejoin(model, join, { contribution: fused, stream: xj, bias: groupJoinBias(g, ffns, prefix, bad), name: prefix, rule: 'ffn-fuse' }).added);
  removeDeadNodes(model);
  if (!g.sortTopologically()) throw bad('the rewrite made a cycle (a bug)');
  return { nodesAdded: added.length };
}

/**
 * What the fused join adds along with the fused FFN: the sum of the members' join biases (a Skip
 * norm's bias input is added with the FFN output: ORT folds the down-projection bias there), summed
 * like the other second-layer biases.
 */
function groupJoinBias(g: Graph, ffns: FfnInfo[], prefix: string, bad: (m: string) => Error): Value | undefined {
  const biases = ffns.map((f) => (f.join ? joinBias(f.join) : undefined));
  if (!biases.some((b) => b)) return undefined;
  const tensors = biases.map((b) => b && constantTensor(b));
  if (biases.some((b, t) => b && !tensors[t])) throw bad('a Skip norm bias is not a constant');
  const first = tensors.find((t) => t)!;
  const sum = new Float64Array(first.size);
  for (const t of tensors) if (t) readFloats(t).forEach((v, i) => (sum[i] = sum[i]! + v));
  return g.addInitializer(vectorTensor(`${prefix}.join.bias`, first.dtype, sum));
}

/**
 * Rewrites the group's projections into plain MatMuls with the spellings' exact canonicalization
 * rules (GPT-2's Conv1D), so the fused FFN can be cloned from layer j's. True when anything changed.
 */
function canonicalizeGroup(model: Model, map: LayerMap, j: number, k: number): boolean {
  const within = new Set(map.layers.filter((l) => l.index >= j && l.index <= k).flatMap((l) => l.ffn?.nodes ?? []));
  let changed = false;
  for (const rule of ALL_SPELLINGS.flatMap((s) => s.canonicalize ?? [])) {
    for (const m of findMatches(model, rule, { within: [...within] })) {
      if (m.nodes.some((n) => n.graph !== model.graph)) continue;
      applyMatch(m, rule, model);
      changed = true;
    }
  }
  if (changed) model.graph.sortTopologically();
  return changed;
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
  // Non-parametric LayerNorm (OLMo) is exported with Constant-node scale and shift.
  const t = constantTensor(v) ?? v.initializer;
  if (!t) throw bad('a norm weight is not a constant');
  return readFloats(t);
}

/**
 * `x / rms(x)` (or `(x − μ)/σ`) of the group input: the graph's own unscaled value when layer j's
 * norm exposes it, else a new norm node of the same family with unit weight.
 */
function scaleFreeNorm(g: Graph, norm: NormInfo, xj: Value, add: (op: string, inputs: (Value | undefined)[], attrs?: Attribute[], domain?: string) => Value, bad: (m: string) => Error): Value {
  if (norm.unscaled && norm.input === xj) return norm.unscaled;
  const w = norm.weight && (constantTensor(norm.weight) ?? norm.weight.initializer);
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

/** A tensor with the same bytes under other dims (no copy until read). */
function reshaped(name: string, t: Tensor, dims: number[]): Tensor {
  return Tensor.lazy(name, t.dtype, dims, () => t.bytes(), (chunk) => t.chunks(chunk));
}

type NBits = Extract<WeightRef, { kind: 'matmulnbits' }>;

/**
 * MatMulNBits FFNs, concatenated in packed form without dequantizing: gate/up along N (rows of
 * the packed weight, scales and zero points), down along K (each row's blocks, which needs one
 * block size and byte-aligned zero points). Norm scales cannot be folded into packed weights
 * exactly, so exact mode needs every layer of the group to share one γ; paper mode applies layer
 * k's γ to the shared input (the paper's own approximation).
 */
function fuseQuantizedGroup(
  model: Model,
  layers: LayerMap['layers'],
  ffns: FfnInfo[],
  group: readonly [number, number],
  mode: FuseMode,
  bad: (m: string) => Error,
): { nodesAdded: number } {
  const [j, k] = group;
  const g = model.graph;
  const q = (w: WeightRef | undefined): NBits => {
    if (!w || w.kind !== 'matmulnbits') throw bad('a group mixes MatMulNBits and float projections');
    return w;
  };
  const first = ffns[0]!;
  const ups = ffns.map((f) => q(f.up));
  const gates = first.gate ? ffns.map((f) => q(f.gate)) : undefined;
  const downs = ffns.map((f) => q(f.down));
  const all = [...ups, ...(gates ?? []), ...downs];
  const { bits, blockSize } = all[0]!;
  if (all.some((w) => w.bits !== bits || w.blockSize !== blockSize)) throw bad('the MatMulNBits projections use different bits or block sizes');
  if (ffns.some((f) => f.upBias || f.downBias)) throw bad('MatMulNBits FFNs with biases are not fused');
  const hidden = ups[0]!.k;
  const gammas = ffns.map((f) => normVector((mode === 'paper' ? ffns[ffns.length - 1]! : f).norm.weight, bad, hidden));
  const differs = layers.findIndex((_, t) => gammas[t]!.some((v, i) => v !== gammas[0]![i]));
  if (differs >= 0) {
    throw bad(`layer ${layers[differs]!.index}'s norm scale differs from layer ${layers[0]!.index}'s, and MatMulNBits weights cannot absorb per-layer scales exactly (that needs requantizing); use mode=paper`);
  }
  const xj = layers[0]!.residualMid;
  const join = layers[layers.length - 1]!.ffn!.join;
  if (!join) throw bad(`layer ${k}'s FFN output is not joined to the stream`);
  const prefix = `ffn_fuse.layers.${j}-${k}`;
  const added: Node[] = [];
  const addNode = (opType: string, inputs: (Value | undefined)[], attrs: Attribute[] = []) => {
    const n = g.addNode({ opType, inputs, outputs: [`${prefix}/${opType}`], attributes: attrs, before: join.at.node });
    n.setMetadata(PROVENANCE, 'ffn-fuse');
    added.push(n);
    return n.output(0);
  };
  // One norm with the shared scale γ feeds the fused FFN, spelled like the model's own norms.
  const w0 = first.norm.weight?.constant ?? first.norm.weight?.initializer;
  if (!w0) throw bad('the norm weight is not a constant');
  const gamma = g.addInitializer(vectorTensor(`${prefix}.norm.weight`, w0.dtype, gammas[0]!));
  let z: Value;
  if (first.norm.unscaled && first.norm.input === xj) z = addNode('Mul', [gamma, first.norm.unscaled]);
  else if (first.norm.kind === 'rms') z = addNode('SimplifiedLayerNormalization', [xj, gamma], [Attribute.int('axis', -1), Attribute.float('epsilon', first.norm.epsilon)]);
  else throw bad('MatMulNBits fusion supports RMSNorm groups');

  const blocksOf = (w: NBits) => Math.ceil(w.k / blockSize);
  const blob = (blockSize * bits) / 8;
  const tensor = (v: Value | undefined) => (v?.constant ?? v?.initializer)!;
  const zpBytes = (w: NBits) => Math.ceil((blocksOf(w) * bits) / 8);
  /** Packed weight, scales and zero points of projections stacked along N (rows). */
  const alongN = (ws: NBits[], name: string) => {
    const n = ws.reduce((s2, w) => s2 + w.n, 0);
    const blocks = blocksOf(ws[0]!);
    if (ws.some((w) => w.k !== ws[0]!.k)) throw bad('gate/up projections read different widths');
    const b = concat2d(`${name}.qweight`, ws.map((w) => reshaped('', tensor(w.weight), [w.n, blocks * blob])), 0);
    const sc = concat2d(`${name}.scales`, ws.map((w) => reshaped('', tensor(w.scales), [w.n, blocks])), 0);
    const zp = ws.every((w) => w.zeroPoints) ? concat2d(`${name}.zero_points`, ws.map((w) => reshaped('', tensor(w.zeroPoints), [w.n, zpBytes(w)])), 0) : undefined;
    if (ws.some((w) => w.zeroPoints) && !zp) throw bad('some projections have zero points and some do not');
    return { b: reshaped(`${name}.qweight`, b, [n, blocks, blob]), sc: reshaped(`${name}.scales`, sc, [n * blocks]), zp: zp && reshaped(`${name}.zero_points`, zp, [zp.size]), n, k: ws[0]!.k };
  };
  /** The down projections side by side along K (each row's blocks). */
  const alongK = (ws: NBits[], name: string) => {
    const n = ws[0]!.n;
    if (ws.some((w) => w.n !== n)) throw bad('down projections write different widths');
    if (ws.some((w) => w.k % blockSize !== 0)) throw bad(`an FFN width is not a multiple of the block size ${blockSize}: the packed down weights cannot be concatenated along K`);
    if (ws.some((w) => w.zeroPoints) && ws.some((w) => (blocksOf(w) * bits) % 8 !== 0)) throw bad('zero points are not byte-aligned per row: cannot concatenate along K');
    const kTotal = ws.reduce((s2, w) => s2 + w.k, 0);
    const b = concat2d(`${name}.qweight`, ws.map((w) => reshaped('', tensor(w.weight), [n, blocksOf(w) * blob])), 1);
    const sc = concat2d(`${name}.scales`, ws.map((w) => reshaped('', tensor(w.scales), [n, blocksOf(w)])), 1);
    const zp = ws.every((w) => w.zeroPoints) ? concat2d(`${name}.zero_points`, ws.map((w) => reshaped('', tensor(w.zeroPoints), [n, zpBytes(w)])), 1) : undefined;
    const blocks = kTotal / blockSize;
    return { b: reshaped(`${name}.qweight`, b, [n, blocks, blob]), sc: reshaped(`${name}.scales`, sc, [n * blocks]), zp: zp && reshaped(`${name}.zero_points`, zp, [zp.size]), n, k: kTotal };
  };
  const packs = new Map<Node, { b: Tensor; sc: Tensor; zp: Tensor | undefined; n: number; k: number }>();
  packs.set(first.up.node, alongN(ups, `${prefix}.up`));
  if (gates) packs.set(first.gate!.node, alongN(gates, `${prefix}.gate`));
  packs.set(first.down.node, alongK(downs, `${prefix}.down`));

  const replace = new Map<Value, Value>([[first.input, z]]);
  const order = new Map(g.nodes.map((n, i) => [n, i]));
  const nodes = [...first.nodes].filter((n) => n.graph === g).sort((a, b) => order.get(a)! - order.get(b)!);
  for (const n of nodes) {
    if (n.opType === 'Constant') continue;
    const pack = packs.get(n);
    const attrs = pack ? n.attributes.map((a) => (a.name === 'N' ? Attribute.int('N', pack.n) : a.name === 'K' ? Attribute.int('K', pack.k) : a)) : n.attributes;
    const clone = new Node({ opType: n.opType, domain: n.domain, name: n.name ? g.names.unique(`${prefix}/${n.opType}`) : '', attributes: attrs });
    n.inputs.forEach((v, i) => {
      if (pack && i === 1) clone.addInput(g.addInitializer(pack.b));
      else if (pack && i === 2) clone.addInput(g.addInitializer(pack.sc));
      else if (pack && i === 3 && v) clone.addInput(pack.zp ? g.addInitializer(pack.zp) : undefined);
      else clone.addInput(v ? (replace.get(v) ?? v) : undefined);
    });
    for (const o of n.outputs) {
      const nv = o ? g.createValue(`${prefix}/${n.opType}_out`) : undefined;
      g.attachOutput(clone, nv);
      if (o && nv) replace.set(o, nv);
    }
    g.insertNode(clone, { before: join.at.node });
    clone.setMetadata(PROVENANCE, 'ffn-fuse');
    added.push(clone);
  }
  const fused = replace.get(first.output)!;
  fused.type = first.output.type;
  const span = `${layers[0]!.span?.[0] ?? j}-${layers[layers.length - 1]!.span?.[1] ?? k}`;
  fused.producer!.setMetadata(FUSED_LAYERS_KEY, span);
  replace.get(first.down.node.output(0))?.producer?.setMetadata(FUSED_LAYERS_KEY, span);
  added.push(...rejoin(model, join, { contribution: fused, stream: xj, bias: groupJoinBias(g, ffns, prefix, bad), name: prefix, rule: 'ffn-fuse' }).added);
  removeDeadNodes(model);
  if (!g.sortTopologically()) throw bad('the rewrite made a cycle (a bug)');
  return { nodesAdded: added.length };
}
