import type { Graph } from '../../ir/graph.js';
import type { Node } from '../../ir/node.js';
import { definePass } from '../pass.js';

/** Ops with effects beyond their outputs; never removed even when unused. */
const SIDE_EFFECTS = new Set(['Print', 'Assert']);

/**
 * Removes nodes whose outputs nothing reads, and initializers nothing reads. Graph inputs and
 * outputs are the model's signature and always stay.
 */
export const dce = definePass({
  name: 'dce',
  summary: 'remove dead nodes and unused initializers (graph inputs and outputs stay)',
  run(model) {
    const stats = { 'nodes removed': 0, 'initializers removed': 0 };
    sweep(model.graph, stats);
    return { modified: stats['nodes removed'] + stats['initializers removed'] > 0, stats };
  },
});

function sweep(g: Graph, stats: { 'nodes removed': number; 'initializers removed': number }): void {
  // Reverse order: removing a user can make its producers dead in the same sweep.
  for (let i = g.nodes.length - 1; i >= 0; i--) {
    const n = g.nodes[i]!;
    if (isDead(n)) {
      g.removeNode(n);
      stats['nodes removed']++;
    } else {
      for (const sub of n.subgraphs) sweep(sub, stats);
    }
  }
  for (const v of [...g.initializers.values()]) {
    if (v.uses.length === 0 && !v.isGraphOutput && !v.isGraphInput) {
      g.removeInitializer(v);
      stats['initializers removed']++;
    }
  }
}

function isDead(n: Node): boolean {
  if (SIDE_EFFECTS.has(n.opType) && n.domain === '') return false;
  return n.outputs.every((o) => !o || (o.uses.length === 0 && !o.isGraphOutput));
}
