import { cse } from './canonicalize/cse.js';
import { dce } from './canonicalize/dce.js';
import { eliminateIdentity } from './canonicalize/eliminate-identity.js';
import { foldConstants } from './canonicalize/fold-constants.js';
import { inferShapesPass } from './shape-inference/infer-shapes.js';
import { attnPrune } from './attn-prune/attn-prune.js';
import { ffnFuse } from './ffn-fusion/ffn-fuse.js';
import { blockParallel } from './block-parallel/block-parallel.js';
import { heal } from './heal/heal-pass.js';
import { defaultRegistry, type PassRegistry } from './registry.js';

/** What `canonicalize` expands to. */
export const CANONICALIZE_PIPELINE = 'fixed-point{max-steps=8}(eliminate-identity,fold-constants,cse,dce)';

/** Registers every built-in pass and alias once. */
export function registerBuiltinPasses(registry: PassRegistry = defaultRegistry): void {
  if (registry.has('dce')) return;
  registry.register(dce);
  registry.register(eliminateIdentity);
  registry.register(foldConstants);
  registry.register(cse);
  registry.registerAlias(
    'canonicalize',
    CANONICALIZE_PIPELINE,
    'remove no-ops, fold constants, CSE and DCE until nothing changes',
  );
  registry.register(inferShapesPass);
  registry.register(attnPrune);
  registry.register(ffnFuse);
  registry.register(blockParallel);
  registry.register(heal);
}
