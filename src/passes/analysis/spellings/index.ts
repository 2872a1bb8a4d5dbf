import type { Spelling } from '../spelling.js';
import { torchscript } from './torchscript.js';

/** Every spelling analyzeDecoder tries, in order. */
export const ALL_SPELLINGS: readonly Spelling[] = [torchscript];
