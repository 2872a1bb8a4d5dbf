import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { OnnxOptError } from '../errors.js';
import type { Model } from '../ir/model.js';
import type { Tensor } from '../ir/tensor.js';
import { decoderSignature, sequenceFeeds } from '../runtime/decoder-inputs.js';
import { ModelSession } from '../runtime/session.js';
import { fromOrtTensor, toOrtTensor } from '../runtime/tensors.js';
import { BACKEND_TOLERANCE, compareTensors, listTestDataSets, readTestDataSet, writeTestDataSet, type Tolerance } from './golden.js';

/**
 * Golden outputs for decoder models: one test_data_set per token sequence, every input the model
 * declares and every output it gives, each file named after its graph input or output. Checking
 * matches by name, so an optimized model that lost KV-cache inputs/outputs is checked on the
 * outputs it still has (usually `logits`).
 */
export async function makeGoldenSets(model: Model, sequences: readonly (readonly number[])[], dir: string): Promise<number> {
  mkdirSync(dir, { recursive: true });
  const sig = decoderSignature(model);
  const session = await ModelSession.create(model);
  try {
    for (const [n, seq] of sequences.entries()) {
      const { feeds } = sequenceFeeds(sig, [seq]);
      const out = await session.run(feeds);
      const inputs = model.graph.inputs.filter((v) => !v.initializer).map((v) => fromOrtTensor(v.name, feeds[v.name]!));
      const outputs = model.graph.outputs.map((v) => fromOrtTensor(v.name, out[v.name]!));
      writeTestDataSet(join(dir, `test_data_set_${n}`), inputs, outputs);
    }
  } finally {
    await session.release();
  }
  return sequences.length;
}

export interface GoldenCheck {
  sets: number;
  compared: string[];
  mismatches: { set: number; output: string; reason: string }[];
  passed: boolean;
}

/** Runs `model` on each data set (inputs by name) and compares the outputs both sides have, by name. */
export async function checkGoldenSets(model: Model, dir: string, options: { tolerance?: Tolerance; outputs?: string[] } = {}): Promise<GoldenCheck> {
  const sets = listTestDataSets(dir);
  if (sets.length === 0) throw new OnnxOptError('USAGE', 'no test_data_set_N folders here', { file: dir });
  const declared = new Set(model.graph.inputs.map((v) => v.name));
  const produced = new Set(model.graph.outputs.map((v) => v.name));
  const session = await ModelSession.create(model);
  const compared = new Set<string>();
  const mismatches: GoldenCheck['mismatches'] = [];
  try {
    for (const [n, path] of sets.entries()) {
      const ds = readTestDataSet(path);
      const feeds = Object.fromEntries(ds.inputs.filter((t) => declared.has(t.name)).map((t) => [t.name, toOrtTensor(t)]));
      const missing = [...declared].filter((d) => !(d in feeds) && !model.graph.initializers.has(d));
      if (missing.length) throw new OnnxOptError('USAGE', `data set ${n} has no value for input ${missing.join(', ')}`, { file: path });
      const out = await session.run(feeds);
      for (const expected of ds.outputs as Tensor[]) {
        if (!produced.has(expected.name) || (options.outputs && !options.outputs.includes(expected.name))) continue;
        compared.add(expected.name);
        const diff = compareTensors(fromOrtTensor(expected.name, out[expected.name]!), expected, options.tolerance ?? BACKEND_TOLERANCE);
        if (diff) mismatches.push({ set: n, output: expected.name, reason: diff });
      }
    }
  } finally {
    await session.release();
  }
  if (compared.size === 0) throw new OnnxOptError('USAGE', 'the data sets share no output name with the model', { file: dir });
  return { sets: sets.length, compared: [...compared], mismatches, passed: mismatches.length === 0 };
}
