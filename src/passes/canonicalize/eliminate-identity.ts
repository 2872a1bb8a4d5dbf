import { DataType } from '../../ir/dtype.js';
import type { Graph } from '../../ir/graph.js';
import type { Node } from '../../ir/node.js';
import type { Value } from '../../ir/value.js';
import { definePass } from '../pass.js';

/**
 * Removes nodes that pass their input through unchanged: Identity; Cast to the type the input
 * already has (and CastLike to it); Reshape to the input's own static shape; Transpose with the
 * identity permutation; Dropout in inference mode whose mask nothing reads. Readers are rewired to
 * the input. A graph output keeps its name; where that would only trade one Identity for another
 * (the input is a graph input, an initializer, an outer-scope value or another output) the node stays.
 */
export const eliminateIdentity = definePass({
  name: 'eliminate-identity',
  summary: 'remove Identity, no-op Cast/CastLike/Reshape/Transpose and inference-mode Dropout',
  run(model) {
    const opset = model.opset('') ?? 1;
    const stats: Record<string, number> = {};
    const visit = (g: Graph) => {
      for (const n of [...g.nodes]) {
        if (n.graph !== g) continue;
        for (const sub of n.subgraphs) visit(sub);
        const src = passThrough(n, opset);
        if (!src) continue;
        const out = n.outputs[0]!;
        if (out.isGraphOutput && !renamable(src, g)) continue;
        g.replaceAllUsesWith(out, src);
        g.removeNode(n);
        stats[`${n.opType} removed`] = (stats[`${n.opType} removed`] ?? 0) + 1;
      }
    };
    visit(model.graph);
    return { modified: Object.keys(stats).length > 0, stats };
  },
});

/** Whether replaceAllUsesWith can hand a graph output's name to `v` instead of adding an Identity. */
function renamable(v: Value, g: Graph): boolean {
  return v.producer?.graph === g && !v.isGraphOutput && !v.isGraphInput && !v.isInitializer;
}

/** The value a node's only live output equals, when the node is a no-op. */
export function passThrough(n: Node, opset: number): Value | undefined {
  if (n.domain !== '' && n.domain !== 'ai.onnx') return undefined;
  const x = n.inputs[0];
  const out = n.outputs[0];
  if (!x || !out) return undefined;
  switch (n.opType) {
    case 'Identity':
      return x;
    case 'Cast': {
      const to = n.attrInt('to');
      return to !== undefined && dtypeOf(x) === to ? x : undefined;
    }
    case 'CastLike': {
      const like = n.inputs[1];
      const d = dtypeOf(x);
      return like && d !== undefined && d === dtypeOf(like) ? x : undefined;
    }
    case 'Reshape':
      return reshapeIsNoop(n, x) ? x : undefined;
    case 'Transpose': {
      const perm = n.attrInts('perm');
      if (perm) return perm.every((p, i) => p === i) ? x : undefined;
      // Default: reverse the dims, a no-op only up to rank 1.
      const rank = x.type?.kind === 'tensor' ? x.type.shape?.length : undefined;
      return rank !== undefined && rank <= 1 ? x : undefined;
    }
    case 'Dropout':
      return dropoutIsNoop(n, opset) ? x : undefined;
    default:
      return undefined;
  }
}

function dtypeOf(v: Value): DataType | undefined {
  if (v.type?.kind === 'tensor' && v.type.dtype !== DataType.UNDEFINED) return v.type.dtype;
  return v.constant?.dtype;
}

function staticShape(v: Value): number[] | undefined {
  if (v.constant) return [...v.constant.dims];
  const s = v.type?.kind === 'tensor' ? v.type.shape : undefined;
  return s && s.every((d): d is number => typeof d === 'number') ? [...s] : undefined;
}

function reshapeIsNoop(n: Node, x: Value): boolean {
  const inDims = staticShape(x);
  if (!inDims) return false;
  let target: number[] | undefined = n.attrInts('shape');
  if (!target) {
    const t = n.inputs[1]?.constant;
    if (!t || (t.dtype !== DataType.INT64 && t.dtype !== DataType.INT32)) return false;
    target = t.toNumbers();
  }
  const allowzero = n.attrInt('allowzero', 0) === 1;
  if (target.length !== inDims.length) return false;
  // With every other dim matching, a single -1 stands for the remaining dim, provided the other
  // dims' product is not zero (then it would be ambiguous).
  if (target.filter((d) => d === -1).length > 1) return false;
  return target.every((d, i) => {
    if (d === inDims[i] || (d === 0 && !allowzero)) return true;
    return d === -1 && inDims.every((e, j) => j === i || e !== 0);
  });
}

function dropoutIsNoop(n: Node, opset: number): boolean {
  const mask = n.outputs[1];
  if (mask && (mask.uses.length > 0 || mask.isGraphOutput)) return false;
  if (opset < 7) return n.attrInt('is_test', 0) === 1;
  if (opset < 12) return true;
  const training = n.inputs[2];
  if (!training) return true;
  const t = training.constant;
  return !!t && t.size === 1 && t.dtype === DataType.BOOL && t.toNumbers()[0] === 0;
}
