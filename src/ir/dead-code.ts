import type { Graph } from './graph.js';
import type { Model } from './model.js';
import type { Node } from './node.js';

/**
 * Ops with effects beyond their outputs: never removed as dead, never merged as duplicates. Matched
 * in any domain: a custom op named like one is assumed to have the same effect.
 */
export const SIDE_EFFECT_OPS: ReadonlySet<string> = new Set(['Print', 'Assert']);

/** Whether `n` has effects beyond its outputs (see {@link SIDE_EFFECT_OPS}). */
export function hasSideEffects(n: Node): boolean {
  return SIDE_EFFECT_OPS.has(n.opType);
}

export interface DeadCodeStats {
  nodes: number;
  initializers: number;
}

/**
 * Removes nodes whose outputs nothing reads (and no graph output is), then initializers nothing
 * reads. Graph inputs and outputs are the model's signature and always stay; so do nodes with side
 * effects. With `subgraphs`, the bodies of the nodes that stay are swept too.
 */
export function sweepDeadCode(g: Graph, options: { subgraphs?: boolean } = {}, stats: DeadCodeStats = { nodes: 0, initializers: 0 }): DeadCodeStats {
  // Reverse order: removing a user can make its producers dead in the same sweep.
  for (let i = g.nodes.length - 1; i >= 0; i--) {
    const n = g.nodes[i]!;
    if (isDead(n)) {
      g.removeNode(n);
      stats.nodes++;
    } else if (options.subgraphs) {
      for (const sub of n.subgraphs) sweepDeadCode(sub, options, stats);
    }
  }
  for (const v of [...g.initializers.values()]) {
    if (v.uses.length === 0 && !v.isGraphOutput && !v.isGraphInput) {
      g.removeInitializer(v);
      stats.initializers++;
    }
  }
  return stats;
}

/** Main-graph sweep after a rewrite cut something out; returns the number of nodes removed. */
export function removeDeadNodes(model: Model): number {
  return sweepDeadCode(model.graph).nodes;
}

function isDead(n: Node): boolean {
  if (hasSideEffects(n)) return false;
  return n.outputs.every((o) => !o || (o.uses.length === 0 && !o.isGraphOutput));
}
