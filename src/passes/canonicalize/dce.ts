import { sweepDeadCode } from '../../ir/dead-code.js';
import { definePass } from '../pass.js';

/**
 * Removes nodes whose outputs nothing reads, and initializers nothing reads, in every subgraph.
 * Graph inputs and outputs are the model's signature and always stay; so do ops with side effects.
 */
export const dce = definePass({
  name: 'dce',
  summary: 'remove dead nodes and unused initializers (graph inputs and outputs stay)',
  run(model) {
    const swept = sweepDeadCode(model.graph, { subgraphs: true });
    const stats = { 'nodes removed': swept.nodes, 'initializers removed': swept.initializers };
    return { modified: swept.nodes + swept.initializers > 0, stats };
  },
});
