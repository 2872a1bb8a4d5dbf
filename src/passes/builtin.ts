import { dce } from './canonicalize/dce.js';
import { inferShapesPass } from './shape-inference/infer-shapes.js';
import { defaultRegistry, type PassRegistry } from './registry.js';

/** Registers every built-in pass and alias once. */
export function registerBuiltinPasses(registry: PassRegistry = defaultRegistry): void {
  if (registry.has('dce')) return;
  registry.register(dce);
  registry.register(inferShapesPass);
}
