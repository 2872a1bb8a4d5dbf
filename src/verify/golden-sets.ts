import { existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { basename, join } from 'node:path';
import { OnnxOptError } from '../errors.js';
import { trackTemp, untrackTemp } from '../io/temp-files.js';
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
  const sig = decoderSignature(model);
  const session = await ModelSession.create(model);
  // Every set is written under a temporary name and renamed into place only when all are
  // written: a full disk or an interrupt never leaves a half-written set beside good ones.
  const token = `${process.pid}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
  const created = makeFolder(dir);
  const temps: string[] = [];
  try {
    for (const [n, seq] of sequences.entries()) {
      const { feeds } = sequenceFeeds(sig, [seq]);
      const out = await session.run(feeds);
      const inputs = model.graph.inputs.filter((v) => !v.initializer).map((v) => fromOrtTensor(v.name, feeds[v.name]!));
      const outputs = model.graph.outputs.map((v) => fromOrtTensor(v.name, out[v.name]!));
      const temp = join(dir, `.test_data_set_${n}.${token}.tmp`);
      temps.push(temp);
      trackTemp(temp, 'tree');
      writeTestDataSet(temp, inputs, outputs);
    }
    // The sets of an earlier run are replaced as a whole, so none of them is left mixed in.
    const old = listTestDataSets(dir).map((p) => {
      const aside = join(dir, `.${basename(p)}.${token}.old`);
      renameSync(p, aside);
      return aside;
    });
    temps.forEach((t, n) => renameSync(t, join(dir, `test_data_set_${n}`)));
    for (const p of old) rmSync(p, { recursive: true, force: true });
  } catch (e) {
    for (const t of temps) rmSync(t, { recursive: true, force: true });
    if (created) rmSync(dir, { recursive: true, force: true });
    if (e instanceof OnnxOptError) throw e;
    throw new OnnxOptError('IO', `cannot write the data sets: ${(e as Error).message.split('\n')[0]}`, { file: dir, cause: e });
  } finally {
    for (const t of temps) untrackTemp(t);
    if (created) untrackTemp(dir);
    await session.release();
  }
  return sequences.length;
}

/** Creates `dir` if it is missing (its parent must exist or be creatable); true when it did. */
function makeFolder(dir: string): boolean {
  if (existsSync(dir)) return false;
  try {
    mkdirSync(dir, { recursive: true });
  } catch (e) {
    throw new OnnxOptError('IO', `cannot create the folder: ${(e as Error).message}`, { file: dir, cause: e });
  }
  trackTemp(dir, 'tree');
  return true;
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
      let comparedHere = 0;
      for (const expected of ds.outputs as Tensor[]) {
        if (!produced.has(expected.name) || (options.outputs && !options.outputs.includes(expected.name))) continue;
        compared.add(expected.name);
        comparedHere++;
        const diff = compareTensors(fromOrtTensor(expected.name, out[expected.name]!), expected, options.tolerance ?? BACKEND_TOLERANCE);
        if (diff) mismatches.push({ set: n, output: expected.name, reason: diff });
      }
      // A set that checks nothing is a failure, not a pass: its outputs may be misnamed or missing.
      if (comparedHere === 0) {
        mismatches.push({ set: n, output: '(none)', reason: `none of its ${ds.outputs.length} output file(s) (${ds.outputs.map((t) => t.name || '(unnamed)').join(', ') || 'none'}) names an output of the model` });
      }
    }
  } finally {
    await session.release();
  }
  if (compared.size === 0) throw new OnnxOptError('USAGE', 'the data sets share no output name with the model', { file: dir });
  return { sets: sets.length, compared: [...compared], mismatches, passed: mismatches.length === 0 };
}
