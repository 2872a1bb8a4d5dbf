import type { Spelling } from '../spelling.js';
import { dynamo } from './dynamo.js';
import { genai, layerNormModels } from './ort-fused.js';
import { torchscript } from './torchscript.js';

/** Every spelling analyzeDecoder tries, in order. */
export const ALL_SPELLINGS: readonly Spelling[] = [torchscript, dynamo, genai, layerNormModels];
