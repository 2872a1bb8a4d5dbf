import { OnnxOptError } from '../../errors.js';
import { definePass } from '../pass.js';
import { DEFAULT_HEAL_LAMBDA, healModel } from './heal.js';

/**
 * `heal`: after any pipeline, refits the projection before each changed segment against the
 * pipeline's input model (see healModel). Changes only weights: no node is added or removed.
 */
export const heal = definePass({
  name: 'heal',
  summary: 'training-free healing: refit the projection before each fused or removed segment by ridge regression against the input model (ReplaceMe)',
  needsInputModel: true,
  options: {
    lambda: { type: 'float', default: DEFAULT_HEAL_LAMBDA, min: 0, description: 'ridge strength relative to the mean of diag(HᵀH); larger keeps weights closer to unhealed' },
  },
  async run(model, ctx, o) {
    const reference = ctx.services.input;
    if (!reference) throw new OnnxOptError('USAGE', 'heal: no input model to compare against (run it in a pipeline, or set services.input)');
    const run = await healModel(reference, model, ctx, { lambda: o.lambda, by: 'heal' });
    const applied = run.segments.filter((s) => s.applied).length;
    return {
      modified: applied > 0,
      stats: { 'segments healed': applied, 'segments found': run.segments.length, ...(run.klAfter !== undefined ? { 'held-out KL before': run.klBefore!, 'held-out KL after': run.klAfter } : {}) },
    };
  },
});
