import { mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { GraphBuilder } from '../../../src/ir/builder.js';
import { DataType } from '../../../src/ir/dtype.js';
import type { Model } from '../../../src/ir/model.js';
import { Tensor } from '../../../src/ir/tensor.js';
import { tensorType } from '../../../src/ir/types.js';

export const REPO = resolve(import.meta.dirname, '../../..');

/**
 * A scratch folder outside the repo in which generated runners type-check and import as in a user's
 * project: `node_modules` links to the repo's (onnxruntime-node, @types/node), `package.json` makes
 * it ESM, and `cjs/` is a CommonJS package.
 */
export function scratchProject(): string {
  const dir = mkdtempSync(join(tmpdir(), 'onnx-opt-ts-runner-'));
  symlinkSync(join(REPO, 'node_modules'), join(dir, 'node_modules'), 'dir');
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ type: 'module', private: true }));
  return dir;
}

/**
 * Not a decoder: several element types (float16, bool, int64, string), a symbolic batch, and an
 * input with an initializer default (`scale`: onnxruntime-node does not feed those, so the runner
 * leaves it out).
 *
 * y = (x + c) * scale; half = Identity(h); flag = Not(f); ids = Identity(i); names = Identity(s)
 */
export function builderModel(): Model {
  const b = new GraphBuilder();
  const x = b.input('x', DataType.FLOAT, ['batch', 4]);
  const h = b.input('h', DataType.FLOAT16, ['batch', 4]);
  const f = b.input('f', DataType.BOOL, ['batch']);
  const i = b.input('i', DataType.INT64, ['batch', null]);
  const s = b.input('s', DataType.STRING, [2]);
  const c = b.floats('c', [1, 2, 3, 4]);
  // An overridable initializer: graph input and initializer with one name.
  const scale = b.graph.addInput('scale', tensorType(DataType.FLOAT, [1]));
  b.graph.setInitializer(scale, Tensor.fromArray('scale', DataType.FLOAT, [1], Float32Array.from([2])));
  const y = b.op('Mul', [b.op('Add', [x, c]), scale], {}, { outputs: ['y'] });
  b.output(b.setType(y, DataType.FLOAT, ['batch', 4]));
  b.output(b.setType(b.op('Identity', [h], {}, { outputs: ['half'] }), DataType.FLOAT16, ['batch', 4]));
  b.output(b.setType(b.op('Not', [f], {}, { outputs: ['flag'] }), DataType.BOOL, ['batch']));
  b.output(b.setType(b.op('Identity', [i], {}, { outputs: ['ids'] }), DataType.INT64, ['batch', null]));
  b.output(b.setType(b.op('Identity', [s], {}, { outputs: ['names'] }), DataType.STRING, [2]));
  return b.build();
}

/**
 * Adds the decoder inputs tinyllama's export lacks (attention_mask, position_ids, and the GQA /
 * merged-decoder ones) and makes every one of them matter: the logits get 1000 × (how far each
 * input is from what it must be, given the past length P in the cache and the new tokens S):
 * mask = ones [1, P+S], position_ids = P..P+S-1, seqlens_k = [P+S-1], total_sequence_length = P+S,
 * use_cache_branch = [P > 0]. Right feeds leave the logits exact; any wrong one changes the tokens.
 */
export function withCheckedDecoderInputs(model: Model): Model {
  const g = model.graph;
  const b = new GraphBuilder(g, model.opsetImports);
  const mask = b.input('attention_mask', DataType.INT64, ['batch_size', 'total_sequence_length']);
  const pos = b.input('position_ids', DataType.INT64, ['batch_size', 'sequence_length']);
  const seqlens = b.input('seqlens_k', DataType.INT32, ['batch_size']);
  const totalIn = b.input('total_sequence_length', DataType.INT32, []);
  const useCache = b.input('use_cache_branch', DataType.BOOL, [1]);
  const ids = g.inputs.find((v) => v.name === 'input_ids')!;
  const past = g.inputs.find((v) => v.name === 'past_key_values.0.key')!;

  const P = b.op('Shape', [past], { start: 2, end: 3 }); // [1]
  const S = b.op('Shape', [ids], { start: 1, end: 2 }); // [1]
  const T = b.op('Add', [P, S]);
  const one = b.ints('chk_one', [1]);
  const zero = b.ints('chk_zero', [0]);
  const absDiff = (a: ReturnType<typeof b.op>, e: ReturnType<typeof b.op>) => b.op('ReduceSum', [b.op('Abs', [b.op('Sub', [a, e])])], { keepdims: 0 });
  // Positions: P + [0, S).
  const range = b.op('Range', [b.op('Squeeze', [P]), b.op('Squeeze', [T]), b.ints('chk_step', [1], true)]);
  const posErr = absDiff(pos, b.op('Unsqueeze', [range, zero]));
  // Mask: all ones, length P + S.
  const maskErr = b.op('Add', [absDiff(mask, one), absDiff(b.op('Shape', [mask], { start: 1, end: 2 }), T)]);
  const seqErr = absDiff(b.op('Cast', [seqlens], { to: DataType.INT64 }), b.op('Sub', [T, one]));
  const totalErr = absDiff(b.op('Cast', [b.op('Unsqueeze', [totalIn, zero])], { to: DataType.INT64 }), T);
  const expectCache = b.op('Cast', [b.op('Greater', [P, zero])], { to: DataType.INT64 });
  const cacheErr = absDiff(b.op('Cast', [useCache], { to: DataType.INT64 }), expectCache);
  let err = posErr;
  for (const e of [maskErr, seqErr, totalErr, cacheErr]) err = b.op('Add', [err, e]);
  const penalty = b.op('Mul', [b.op('Cast', [err], { to: DataType.FLOAT }), b.floats('chk_scale', [1000], [])]);

  const logits = g.outputs.find((v) => v.name === 'logits')!;
  g.renameValue(logits, 'logits_unchecked');
  const checked = b.op('Add', [logits, penalty], {}, { outputs: ['logits'] });
  checked.type = logits.type;
  g.outputs[g.outputs.indexOf(logits)] = checked;
  return model;
}
