import { OnnxOptError } from '../../errors.js';
import { DataType } from '../../ir/dtype.js';
import type { Graph } from '../../ir/graph.js';
import { Node } from '../../ir/node.js';
import { Tensor } from '../../ir/tensor.js';
import type { Dim } from '../../ir/types.js';
import type { Value } from '../../ir/value.js';
import { constantNumbers, constantTensor } from '../pattern/constants.js';

/**
 * Widening a decomposed attention to n times its heads. The projections' outputs carry the heads
 * on their last axis (`H·Dh`, heads outermost); this follows that axis through the attention's
 * ONNX ops (Reshape to heads, Transpose, rotary arithmetic, repeat_kv's Expand, the score and
 * context MatMuls, Reshape back) to the output projection, and multiplies by n each element of a
 * Reshape/Expand target that sizes the head axis. Only ONNX semantics are used: the shapes a
 * spelling computes dynamically (`Shape(q)[1]`) widen by themselves, constant ones are patched
 * (new tensors; the shape vector's Concat/Where/Cast chain is cloned for the one consumer).
 */

export interface HeadAxisResult {
  /** Graph inputs that carry heads (past KV caches), with the head axis. */
  inputs: { value: Value; axis: number }[];
  /** Graph outputs that carry heads (present KV caches). */
  outputs: { value: Value; axis: number }[];
  /** Shape elements patched. */
  patched: number;
}

type Shapes = (v: Value) => readonly Dim[] | undefined;

const UNARY = new Set(['Identity', 'Cast', 'Neg', 'Sqrt', 'Exp', 'Tanh', 'Sigmoid', 'Relu', 'Erf', 'Reciprocal', 'Abs', 'Softmax', 'LogSoftmax', 'Dropout', 'IsNaN', 'Not']);
const REDUCE = new Set(['ReduceMean', 'ReduceSum', 'ReduceMax', 'ReduceMin', 'ReduceL2', 'ReduceSumSquare']);
const BROADCAST = new Set(['Add', 'Sub', 'Mul', 'Div', 'Pow', 'Where', 'Max', 'Min', 'Equal', 'Less', 'Greater', 'And', 'Or']);

export function widenHeads(g: Graph, seeds: readonly Value[], end: Node, scope: ReadonlySet<Node>, n: number, shapes: Shapes, where: string): HeadAxisResult {
  const bad = (m: string) => new OnnxOptError('UNSUPPORTED', `block-parallel: ${where}: merge-heads: ${m} (use merge-heads=false)`);
  const rank = (v: Value) => {
    const s = shapes(v);
    if (!s) throw bad(`the rank of ${v.name} is unknown`);
    return s.length;
  };
  const dim = (v: Value, i: number) => shapes(v)?.[i];
  const axisOf = new Map<Value, number>();
  for (const s of seeds) axisOf.set(s, rank(s) - 1);
  const result: HeadAxisResult = { inputs: [], outputs: [], patched: 0 };
  const patcher = new ShapePatcher(g, n, shapes, axisOf, bad);
  const patch = (node: Node, input: number, element: number, keep: readonly number[]) => {
    const v = node.inputs[input];
    if (!v) throw bad(`${node.label} has no shape input`);
    const nv = patcher.patch(v, element, keep, node);
    if (nv !== v) {
      node.setInput(input, nv);
      result.patched++;
    }
  };
  const order = g.nodes.slice();
  let reachedEnd = false;
  for (const node of order) {
    const carried = node.inputs.map((v) => (v ? axisOf.get(v) : undefined));
    if (carried.every((c) => c === undefined)) continue;
    if (node === end) {
      const x = node.inputs[0]!;
      if (carried[0] === undefined || carried[0] !== rank(x) - 1 || carried.slice(1).some((c) => c !== undefined)) throw bad(`the output projection does not read the heads on its last axis`);
      reachedEnd = true;
      continue;
    }
    const op = node.domain === '' || node.domain === 'ai.onnx' ? node.opType : `${node.domain}::${node.opType}`;
    if (op === 'Shape' || op === 'Size') continue;
    if (!scope.has(node)) throw bad(`${node.label}, outside the attention, reads its heads`);
    const out = node.outputs[0];
    if (!out) continue;
    const a = carried[0];
    let outAxis: number;
    if (UNARY.has(op)) {
      if (a === undefined) throw bad(`${node.label} reads heads on an unexpected input`);
      if ((op === 'Softmax' || op === 'LogSoftmax') && norm(node.attrInt('axis', -1)!, rank(out)) === a) throw bad(`${node.label} normalizes over the head axis`);
      outAxis = a;
    } else if (BROADCAST.has(op)) {
      const r = rank(out);
      const axes = new Set<number>();
      node.inputs.forEach((v, i) => {
        if (!v) return;
        const ri = rank(v);
        const c = carried[i];
        if (c !== undefined) axes.add(c + r - ri);
      });
      if (axes.size !== 1) throw bad(`${node.label} combines heads on different axes`);
      outAxis = [...axes][0]!;
      node.inputs.forEach((v, i) => {
        if (!v || carried[i] !== undefined) return;
        const local = outAxis - (r - rank(v));
        if (local >= 0 && dim(v, local) !== 1) throw bad(`${node.label} combines the heads with ${v.name}, which is not broadcast over them`);
      });
    } else if (op === 'Transpose') {
      const r = rank(out);
      const perm = node.attrInts('perm') ?? Array.from({ length: r }, (_, i) => r - 1 - i);
      outAxis = perm.indexOf(a!);
    } else if (op === 'Reshape') {
      if (a === undefined) throw bad(`${node.label} reshapes by a head-sized shape`);
      const inShape = shapes(node.inputs[0]!);
      const outShape = shapes(out);
      if (!inShape || !outShape) throw bad(`the shapes around ${node.label} are unknown`);
      // Only splits and merges the sizes prove: heads outermost in the axis they share.
      const product = (x: Dim | undefined, y: Dim | undefined) => (typeof x === 'number' && typeof y === 'number' ? x * y : undefined);
      if (outShape.length === inShape.length + 1 && a === inShape.length - 1 && product(outShape[a], outShape[a + 1]) === inShape[a]) outAxis = a; // [.., H·Dh] → [.., H, Dh]
      else if (outShape.length === inShape.length - 1 && a < inShape.length - 1 && product(inShape[a], inShape[a + 1]) === outShape[a]) outAxis = a; // [.., H, Dh] → [.., H·Dh]; [B, kvH, rep, ..] → [B, H, ..]
      else if (outShape.length === inShape.length && outShape[a] === inShape[a] && outShape[a] !== null) outAxis = a;
      else throw bad(`cannot follow the head axis through ${node.label}`);
      patch(node, 1, outAxis, [-1, 0]);
    } else if (op === 'Expand') {
      const r = rank(out);
      outAxis = a! + r - rank(node.inputs[0]!);
      patch(node, 1, outAxis, [-1, 1]);
    } else if (op === 'Unsqueeze') {
      const axes = (node.attrInts('axes') ?? (node.inputs[1] && constantNumbers(node.inputs[1]))) as number[] | undefined;
      if (!axes) throw bad(`${node.label} has no constant axes`);
      const r = rank(out);
      const inserted = new Set(axes.map((x) => norm(x, r)));
      let k = -1;
      outAxis = -1;
      for (let p = 0; p < r; p++) if (!inserted.has(p) && ++k === a) outAxis = p;
    } else if (op === 'Squeeze') {
      const axes = (node.attrInts('axes') ?? (node.inputs[1] && constantNumbers(node.inputs[1]))) as number[] | undefined;
      if (!axes) throw bad(`${node.label} has no constant axes`);
      const rin = rank(node.inputs[0]!);
      const removed = axes.map((x) => norm(x, rin));
      if (removed.includes(a!)) throw bad(`${node.label} squeezes the head axis`);
      outAxis = a! - removed.filter((x) => x < a!).length;
    } else if (REDUCE.has(op)) {
      // Per-head norms (Qwen3's q_norm) reduce over the head size, never over the heads.
      const rin = rank(node.inputs[0]!);
      const given = node.attrInts('axes') ?? (node.inputs[1] ? constantNumbers(node.inputs[1]) : undefined);
      const axes = (given ?? Array.from({ length: rin }, (_, i) => i)).map((x) => norm(x, rin));
      if (axes.includes(a!)) throw bad(`${node.label} reduces over the head axis`);
      outAxis = node.attrInt('keepdims', 1) ? a! : a! - axes.filter((x) => x < a!).length;
    } else if (op === 'Slice') {
      const starts = node.inputs[1] && constantNumbers(node.inputs[1]);
      const axes = node.inputs[3] ? constantNumbers(node.inputs[3]) : starts?.map((_, i) => i);
      const rin = rank(node.inputs[0]!);
      if (!axes) throw bad(`${node.label} has no constant axes`);
      if (axes.map((x) => norm(x, rin)).includes(a!)) throw bad(`${node.label} slices the head axis`);
      outAxis = a!;
    } else if (op === 'Concat') {
      const r = rank(out);
      const axis = norm(node.attrInt('axis', 0)!, r);
      const axes = new Set(carried.filter((c): c is number => c !== undefined));
      if (axes.size !== 1) throw bad(`${node.label} concatenates heads on different axes`);
      outAxis = [...axes][0]!;
      if (axis === outAxis) throw bad(`${node.label} concatenates along the head axis`);
      node.inputs.forEach((v, i) => {
        if (!v || carried[i] !== undefined) return;
        if (v.isGraphInput && !v.initializer) {
          result.inputs.push({ value: v, axis: outAxis });
          axisOf.set(v, outAxis);
        } else throw bad(`${node.label} joins the heads with ${v.name}, which has the old head count`);
      });
    } else if (op === 'Split') {
      const axis = norm(node.attrInt('axis', 0)!, rank(node.inputs[0]!));
      if (axis === a) throw bad(`${node.label} splits the head axis`);
      outAxis = a!;
      for (const o of node.outputs) if (o) axisOf.set(o, a!);
    } else if (op === 'MatMul') {
      const r = rank(out);
      const axes = new Set<number>();
      node.inputs.forEach((v, i) => {
        const c = carried[i];
        if (!v || c === undefined) return;
        const ri = rank(v);
        if (c >= ri - 2) throw bad(`${node.label} multiplies along the head axis`);
        axes.add(c + r - ri);
      });
      if (axes.size !== 1) throw bad(`${node.label} multiplies heads on different axes`);
      outAxis = [...axes][0]!;
      node.inputs.forEach((v, i) => {
        if (!v || carried[i] !== undefined) return;
        const local = outAxis - (r - rank(v));
        if (local >= 0 && dim(v, local) !== 1) throw bad(`${node.label} multiplies the heads with ${v.name}, which has no head axis`);
      });
    } else {
      throw bad(`cannot follow the head axis through ${node.label}`);
    }
    if (outAxis < 0) throw bad(`lost the head axis at ${node.label}`);
    for (const o of node.outputs) if (o && !axisOf.has(o)) axisOf.set(o, outAxis);
    for (const o of node.outputs) if (o?.isGraphOutput) result.outputs.push({ value: o, axis: axisOf.get(o)! });
  }
  if (!reachedEnd) throw bad('the heads never reach the output projection');
  // Declared types follow: the head axis (or the flattened H·Dh axis) is n times wider.
  for (const [v, axis] of axisOf) {
    const t = v.type;
    if (t?.kind !== 'tensor' || !t.shape) continue;
    const d = t.shape[axis];
    if (typeof d === 'number') v.type = { ...t, shape: t.shape.map((x, i) => (i === axis ? d * n : x)) };
  }
  return result;
}

function norm(axis: number, r: number): number {
  return axis < 0 ? axis + r : axis;
}

/** Rebuilds a shape vector with one element multiplied by n, cloning the chain that computes it. */
class ShapePatcher {
  private readonly memo = new Map<Value, Map<number, Value>>();

  constructor(
    private readonly g: Graph,
    private readonly n: number,
    private readonly shapes: Shapes,
    private readonly heads: ReadonlyMap<Value, number>,
    private readonly bad: (m: string) => Error,
  ) {}

  patch(v: Value, element: number, keep: readonly number[], before: Node): Value {
    const seen = this.memo.get(v)?.get(element);
    if (seen) return seen;
    const out = this.build(v, element, keep, before);
    (this.memo.get(v) ?? this.memo.set(v, new Map()).get(v)!).set(element, out);
    return out;
  }

  private build(v: Value, element: number, keep: readonly number[], before: Node): Value {
    const nums = constantNumbers(v);
    if (nums) {
      const x = nums[element];
      if (x === undefined) throw this.bad(`shape ${v.name} has no element ${element}`);
      if (keep.includes(x)) return v;
      const t = constantTensor(v);
      const dtype = t?.dtype ?? DataType.INT64;
      const dims = t?.dims ?? [nums.length];
      const data = nums.map((y, i) => (i === element ? y * this.n : y));
      const arr = dtype === DataType.INT32 ? Int32Array.from(data) : BigInt64Array.from(data.map((y) => BigInt(y)));
      return this.g.addInitializer(Tensor.fromArray(this.g.names.unique(`${v.name}.heads_x${this.n}`), dtype, dims, arr));
    }
    const p = v.producer;
    if (!p) throw this.bad(`shape ${v.name} is a graph input`);
    const clone = (inputs: (Value | undefined)[]) => {
      const c = new Node({ opType: p.opType, domain: p.domain, name: p.name ? this.g.names.unique(`${p.name}_heads`) : '', attributes: [...p.attributes] });
      for (const i of inputs) c.addInput(i);
      for (const o of p.outputs) {
        const nv = o ? this.g.createValue(`${o.name}_heads`, o.type) : undefined;
        this.g.attachOutput(c, nv);
      }
      this.g.insertNode(c, { before });
      c.setMetadata('onnx-opt.rule', 'block-parallel');
      return c.output(0);
    };
    switch (p.opType) {
      case 'Concat': {
        let at = 0;
        for (const [i, piece] of p.inputs.entries()) {
          const len = piece && (constantNumbers(piece)?.length ?? this.length(piece));
          if (len === undefined) throw this.bad(`cannot size piece ${piece?.name} of shape ${v.name}`);
          if (element < at + len) {
            const np = this.patch(piece!, element - at, keep, before);
            return np === piece ? v : clone(p.inputs.map((x, k) => (k === i ? np : x)));
          }
          at += len;
        }
        throw this.bad(`shape ${v.name} has no element ${element}`);
      }
      case 'Reshape':
      case 'Identity':
      case 'Cast':
      case 'Unsqueeze':
      case 'Squeeze': {
        const np = this.patch(p.inputs[0]!, element, keep, before);
        return np === p.inputs[0] ? v : clone([np, ...p.inputs.slice(1)]);
      }
      case 'Where': {
        // `Where(shape == -1, 1, shape)` (torch's expand): the value comes from the else branch.
        const np = this.patch(p.inputs[2]!, element, keep, before);
        return np === p.inputs[2] ? v : clone([p.inputs[0], p.inputs[1], np]);
      }
      case 'Gather':
        if (this.dynamic(v)) return v;
        break;
      case 'Mul': {
        // repeat_kv's `Shape(k)[1] · n_rep`: a multiple of a head count the merged graph reads wider.
        const [a, b] = p.inputs;
        if (a && b && ((this.dynamic(a) && constantNumbers(b)) || (this.dynamic(b) && constantNumbers(a)))) return v;
        break;
      }
    }
    throw this.bad(`cannot rebuild shape element ${element} of ${v.name} (computed by ${p.opType})`);
  }

  /** `Shape(t)[i]` of a tensor that carries the heads (through Casts and Unsqueezes): the merged graph computes it. */
  private dynamic(v: Value): boolean {
    const p = v.producer;
    if (!p) return false;
    if (['Cast', 'Unsqueeze', 'Squeeze', 'Identity', 'Reshape'].includes(p.opType)) return p.inputs[0] !== undefined && this.dynamic(p.inputs[0]);
    const src = p.opType === 'Gather' ? p.inputs[0]?.producer : undefined;
    return src?.opType === 'Shape' && src.inputs[0] !== undefined && this.heads.has(src.inputs[0]);
  }

  private length(v: Value): number | undefined {
    const s = this.shapes(v);
    if (!s) return undefined;
    if (s.length === 0) return 1;
    return typeof s[0] === 'number' && s.length === 1 ? s[0] : undefined;
  }
}
