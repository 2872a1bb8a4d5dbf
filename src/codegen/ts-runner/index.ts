export { emitRunner, formatSource, generateRunner, writeRunner, type RunnerOptions, type RunnerPlan } from './generate.js';
export { defaultClassName, planRunner, sha256File } from './plan.js';
export { planDecoder, type CachePair, type DecoderPlan } from './decoder.js';
export { elementType, type ElementType, type TensorSpec } from './types.js';
