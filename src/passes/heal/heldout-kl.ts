import { logProbRows, sumKl } from '../measure/index.js';
import { batchesOf, type ProbedModel, type RunnerOptions } from './runners.js';

/**
 * Mean KL(reference ‖ current) of the next-token distributions over the real positions of the
 * held-out sequences, streamed batch by batch (both models run on each batch, so no logits are
 * kept between batches: memory is one batch's logits, whatever the vocabulary).
 */
export async function heldoutKl(reference: ProbedModel, current: ProbedModel, sequences: readonly (readonly number[])[], o: RunnerOptions): Promise<number> {
  let sum = 0;
  let positions = 0;
  for (const batch of batchesOf(current.model, sequences, o)) {
    const p = await reference.run(batch, [reference.logits]);
    const q = await current.run(batch, [current.logits]);
    const rows = logProbRows(p.values[reference.logits]!, p.mask);
    sum += sumKl(rows, logProbRows(q.values[current.logits]!, q.mask));
    positions += rows.length;
  }
  return positions ? sum / positions : 0;
}
