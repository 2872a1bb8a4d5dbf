import { OnnxOptError } from '../../errors.js';
import type { Model } from '../../ir/model.js';
import type { Node } from '../../ir/node.js';
import type { Value } from '../../ir/value.js';
import { removeDeadNodes } from '../../ir/dead-code.js';
import { presentCandidates } from '../../ir/decoder-signature.js';
import type { LayerInfo } from '../analysis/layer-map.js';
import { backwardNodes } from '../analysis/slices.js';
import { bypassSublayer } from '../rewrite/residual-join.js';

export interface RemoveAttentionOptions {
  /** Keep the layer's cache inputs and outputs as a pass-through (present = past) for fixed-signature runtimes. */
  keepCacheIo?: boolean;
  /** Other layers removed in the same step: their caches cannot stand in for this layer's. */
  alsoRemoving?: readonly LayerInfo[];
}

export interface RemovedAttention {
  layer: number;
  removedInputs: string[];
  removedOutputs: string[];
  passThrough: string[];
}

/**
 * Checks, before anything changes, that a layer's attention can be cut out cleanly; returns the
 * reason it cannot, or undefined.
 */
export function cannotRemove(layer: LayerInfo, options: RemoveAttentionOptions = {}): string | undefined {
  const a = layer.attention;
  if (!a) return `layer ${layer.index} has no attention sublayer`;
  if (a.sharedCacheOutputs?.length) {
    return `layer ${layer.index} writes a KV cache shared with other layers (${a.sharedCacheOutputs.map((v) => v.name).join(', ')}); onnx-opt cannot cut one layer out of a shared cache`;
  }
  if (!a.join) return `layer ${layer.index}: the attention output is not added to the residual stream by a node onnx-opt recognizes`;
  if (!options.keepCacheIo && a.cacheInputs.length) {
    // What stays live once the attention output and the layer's cache outputs are gone.
    const g = a.output.graph;
    const roots = g.outputs.filter((o) => !a.cacheOutputs.includes(o));
    const live = backwardNodes(roots, { stopAt: new Set([a.output]) });
    const excluded = new Set([layer, ...(options.alsoRemoving ?? [])].flatMap((l) => l.attention?.cacheInputs ?? []));
    for (const v of a.cacheInputs) {
      const reader = v.uses.find((u) => live.has(u.node) && !(isShapeRead(u.node) && shapeStandIn(v, excluded)));
      if (reader) {
        return `layer ${layer.index}: cache input ${v.name} is also read by ${reader.node.label} for the rest of the model (e.g. position offsets); keep this layer or use keep-cache-io`;
      }
    }
  }
  return undefined;
}

function isShapeRead(n: Node): boolean {
  return (n.opType === 'Shape' || n.opType === 'Size') && n.domain === '';
}

/**
 * A kept cache input whose declared shape matches `v`'s, so that `Shape(v)` (an exporter's way to
 * read the past length) can read it instead: every layer's cache carries the same batch and past
 * length, and equal static dims (heads, head size) fix the rest. Symbolic dims may be named
 * differently: the dynamo exporter gives each layer's past length its own symbol.
 */
function shapeStandIn(v: Value, excluded: ReadonlySet<Value>): Value | undefined {
  const t = v.type;
  if (t?.kind !== 'tensor' || !t.shape) return undefined;
  const matches = (c: Value) => {
    const u = c.type;
    if (u?.kind !== 'tensor' || !u.shape || u.dtype !== t.dtype || u.shape.length !== t.shape!.length) return false;
    return u.shape.every((d, i) => {
      const e = t.shape![i];
      return typeof d === 'number' || typeof e === 'number' ? d === e : d !== null && e !== null;
    });
  };
  return v.graph.inputs.find((c) => c !== v && !excluded.has(c) && !c.initializer && matches(c) && c.uses.some((u) => !isShapeRead(u.node)));
}

/** Moves the Shape/Size reads of a removed layer's cache inputs to a kept cache of the same shape. */
function moveShapeReads(layer: LayerInfo, live: Set<Node>): void {
  const excluded = new Set(layer.attention!.cacheInputs);
  for (const v of layer.attention!.cacheInputs) {
    for (const u of [...v.uses]) {
      if (!live.has(u.node) || !isShapeRead(u.node)) continue;
      u.node.setInput(u.index, shapeStandIn(v, excluded)!);
    }
  }
}

/**
 * Removes layer `layer`'s attention: `x + a` becomes `x` (whatever the join's spelling, see
 * rewrite/residual-join.ts), its cache outputs are dropped (or passed
 * through), and everything only the attention used becomes dead and is removed.
 */
export function removeAttention(model: Model, layer: LayerInfo, options: RemoveAttentionOptions = {}): RemovedAttention {
  const why = cannotRemove(layer, options);
  if (why) throw new OnnxOptError('UNSUPPORTED', why);
  const a = layer.attention!;
  const g = model.graph;
  if (!options.keepCacheIo && a.cacheInputs.length) {
    const roots = g.outputs.filter((o) => !a.cacheOutputs.includes(o));
    moveShapeReads(layer, backwardNodes(roots, { stopAt: new Set([a.output]) }));
  }
  bypassSublayer(model, a.join!, { rule: 'attn-prune' });

  const result: RemovedAttention = { layer: layer.index, removedInputs: [], removedOutputs: [], passThrough: [] };
  for (const out of a.cacheOutputs) {
    if (options.keepCacheIo) {
      const past = a.cacheInputs.find((v) => presentCandidates(v.name).includes(out.name)) ?? pairByPosition(a.cacheInputs, a.cacheOutputs, out);
      if (past) {
        g.replaceAllUsesWith(out, past);
        result.passThrough.push(out.name);
        continue;
      }
    }
    for (let i = g.outputs.length - 1; i >= 0; i--) if (g.outputs[i] === out) g.outputs.splice(i, 1);
    result.removedOutputs.push(out.name);
  }
  removeDeadNodes(model);
  if (!options.keepCacheIo) {
    for (const v of a.cacheInputs) {
      if (v.uses.length === 0 && !v.isGraphOutput) {
        g.inputs.splice(g.inputs.indexOf(v), 1);
        result.removedInputs.push(v.name);
      }
    }
  }
  return result;
}

function pairByPosition(inputs: Value[], outputs: Value[], out: Value): Value | undefined {
  return inputs.length === outputs.length ? inputs[outputs.indexOf(out)] : undefined;
}

// The one dead-code sweep lives in ir/; re-exported for the rewrites that import it from here.
export { removeDeadNodes } from '../../ir/dead-code.js';
