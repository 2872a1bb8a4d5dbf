import { AttributeType } from '../../ir/attribute.js';
import { DataType } from '../../ir/dtype.js';
import type { Graph } from '../../ir/graph.js';
import type { Node } from '../../ir/node.js';
import type { Dim, TensorType } from '../../ir/types.js';
import { ONNX, normAxis, type OutputInfo, type RuleEntry, type ShapeRule } from './context.js';

/** If/Loop/Scan: bodies are inferred in place; outputs get what every path agrees on. */

function graphAttr(node: Node, name: string): Graph | undefined {
  const a = node.attr(name);
  return a && a.type === AttributeType.GRAPH ? (a.value as Graph) : undefined;
}

/** What two possible types of one value agree on: same-rank dims that are equal, else unknown. */
function join(a: TensorType | undefined, b: TensorType | undefined): OutputInfo | undefined {
  if (!a || !b) return undefined;
  const dtype = a.dtype === b.dtype ? a.dtype : undefined;
  if (!a.shape || !b.shape || a.shape.length !== b.shape.length) return { dtype };
  return { dtype, shape: a.shape.map((d, i) => (d === b.shape![i] ? d : null)) };
}

function rankOnly(t: TensorType | undefined): OutputInfo | undefined {
  return t ? { dtype: t.dtype, shape: t.shape?.map(() => null) } : undefined;
}

const ifRule: ShapeRule = (node, ctx) => {
  const thenG = graphAttr(node, 'then_branch');
  const elseG = graphAttr(node, 'else_branch');
  if (thenG) ctx.inferSubgraph(thenG);
  if (elseG) ctx.inferSubgraph(elseG);
  const cond = ctx.value(node.input(0))?.data[0];
  return node.outputs.map((_, i) => {
    const t = ctx.type(thenG?.outputs[i]);
    const e = ctx.type(elseG?.outputs[i]);
    if (typeof cond === 'number') {
      const taken = cond ? t : e;
      return taken ? { dtype: taken.dtype, shape: taken.shape } : undefined;
    }
    return join(t, e);
  });
};

/** Loop(M, cond, v_initial...) with body (iter, cond, v...) → (cond, v..., scan_outputs...). */
const loop: ShapeRule = (node, ctx) => {
  const body = graphAttr(node, 'body');
  if (!body) return;
  const carried = node.inputs.slice(2);
  const bodyIn = body.inputs;
  if (bodyIn[0]) ctx.refine(bodyIn[0], { dtype: DataType.INT64, shape: [] });
  if (bodyIn[1]) ctx.refine(bodyIn[1], { dtype: DataType.BOOL, shape: [] });
  // Loop-carried shapes may change between iterations: give the body only the element type and rank.
  carried.forEach((v, j) => {
    const bi = bodyIn[2 + j];
    const info = rankOnly(ctx.type(v));
    if (bi && info) ctx.refine(bi, info);
  });
  ctx.inferSubgraph(body);
  const n = carried.length;
  return node.outputs.map((_, i) => {
    if (i < n) return join(ctx.type(carried[i]), ctx.type(body.outputs[1 + i])) ?? rankOnly(ctx.type(carried[i]));
    const t = ctx.type(body.outputs[1 + i]);
    return t ? { dtype: t.dtype, shape: t.shape ? [null, ...t.shape] : undefined } : undefined;
  });
};

/** Scan(state..., scan_inputs...) with body (state..., slices...) → (state..., scan_outputs...). */
const scan: ShapeRule = (node, ctx) => {
  const body = graphAttr(node, 'body');
  const m = node.attrInt('num_scan_inputs');
  if (!body || m === undefined) return;
  const n = node.inputs.length - m;
  const inAxes = node.attrInts('scan_input_axes') ?? new Array<number>(m).fill(0);
  const outAxes = node.attrInts('scan_output_axes');
  let seqLen: Dim = null;
  node.inputs.forEach((v, i) => {
    const bi = body.inputs[i];
    const t = ctx.type(v);
    if (!bi || !t) return;
    if (i < n) {
      const info = rankOnly(t);
      if (info) ctx.refine(bi, info);
      return;
    }
    const s = t.shape;
    const axis = s ? normAxis(inAxes[i - n] ?? 0, s.length) : undefined;
    if (!s || axis === undefined) return ctx.refine(bi, { dtype: t.dtype });
    if (i === n) seqLen = s[axis]!;
    ctx.refine(bi, { dtype: t.dtype, shape: s.filter((_, k) => k !== axis) });
  });
  ctx.inferSubgraph(body);
  return node.outputs.map((_, i) => {
    const t = ctx.type(body.outputs[i]);
    if (i < n) return join(ctx.type(node.inputs[i]), t) ?? rankOnly(ctx.type(node.inputs[i]));
    if (!t) return undefined;
    if (!t.shape) return { dtype: t.dtype };
    const axis = normAxis(outAxes?.[i - n] ?? 0, t.shape.length + 1);
    if (axis === undefined) return { dtype: t.dtype };
    const shape = [...t.shape];
    shape.splice(axis, 0, seqLen);
    return { dtype: t.dtype, shape };
  });
};

export const CONTROL_RULES: RuleEntry[] = [
  [ONNX, ['If'], ifRule],
  [ONNX, ['Loop'], loop],
  [ONNX, ['Scan'], scan],
];
