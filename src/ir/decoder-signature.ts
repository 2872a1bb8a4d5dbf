import { OnnxOptError } from '../errors.js';
import { DataType } from './dtype.js';
import type { Model } from './model.js';
import { Tensor } from './tensor.js';
import type { Dim } from './types.js';
import type { Value } from './value.js';

/** Integer element types that token, mask and position inputs come in. */
export type IntDType = 'int64' | 'int32';

/** One KV-cache input and the output that carries its next value. */
export interface CacheSlot {
  /** The graph input, e.g. `past_key_values.3.key`. */
  readonly past: string;
  /** The graph output fed back into it, e.g. `present.3.key`. */
  readonly present: string;
  readonly dtype: 'float32' | 'float16';
  /** The declared shape, e.g. `['batch_size', 2, 'past_sequence_length', 24]`. */
  readonly shape: readonly Dim[];
  readonly batchAxis: number;
  readonly sequenceAxis: number;
}

/** What a decoder model takes and gives, read from its graph inputs and outputs. */
export interface DecoderSignature {
  readonly inputIds: { readonly name: string; readonly dtype: IntDType };
  readonly attentionMask?: { readonly name: string; readonly dtype: IntDType };
  readonly positionIds?: { readonly name: string; readonly dtype: IntDType };
  /** onnxruntime-genai's GroupQueryAttention inputs (int32): per-row total length − 1, and the total length. */
  readonly seqlensK?: string;
  readonly totalSequenceLength?: string;
  /** Optimum's merged decoders: bool [1], true once there is a past. */
  readonly useCacheBranch?: string;
  readonly cache: readonly CacheSlot[];
  /** The logits output. */
  readonly logits: string;
  /** The logits' last dimension, when it is declared. */
  readonly vocabSize: number | undefined;
  /** Inputs this module does not know how to make; they must come from `extraFeeds`. */
  readonly otherInputs: readonly string[];
}

/**
 * The output names that may carry the next value of a past input, most likely first:
 * `present.{i}.key` / `present_key_values.{i}.key` ↔ `past_key_values.{i}.key`,
 * `present_{i}` ↔ `past_{i}`, `present_key_values_{i}_0` ↔ `past_key_values_{i}_0`.
 */
export function presentCandidates(past: string): string[] {
  const m = /^past(_key_values)?(.*)$/.exec(past);
  if (!m) return [];
  const rest = m[2]!;
  return [`present${rest}`, `present_key_values${rest}`, `present_key_value${rest}`];
}

/**
 * Reads a decoder's signature. Inputs recognized: `input_ids` (required), `attention_mask`,
 * `position_ids`, `seqlens_k`, `total_sequence_length`, `use_cache_branch`, and `past*` cache
 * inputs, each of which must have a matching `present*` output. Anything else is listed in
 * `otherInputs`.
 */
export function decoderSignature(model: Model): DecoderSignature {
  const g = model.graph;
  const initNames = new Set(g.initializers.keys());
  // Inputs with an initializer default are optional in older IRs; leave them to their default.
  const inputs = g.inputs.filter((v) => !initNames.has(v.name));
  const outputs = new Map(g.outputs.map((v) => [v.name, v]));
  const find = (re: RegExp) => inputs.find((v) => re.test(v.name));

  const ids = find(/^input_ids$/) ?? find(/input_ids/) ?? find(/^(input|tokens)$/);
  if (!ids) throw new OnnxOptError('UNSUPPORTED', `not a decoder model: no input_ids input (inputs: ${inputs.map((v) => v.name).join(', ')})`);
  const mask = find(/^attention_mask$/);
  const pos = find(/^position_ids$/);
  const seqlensK = find(/^seqlens_k$/);
  const total = find(/^total_sequence_length$/);
  const useCacheBranch = find(/^use_cache_branch$/);

  const cache: CacheSlot[] = [];
  const used = new Set([ids, mask, pos, seqlensK, total, useCacheBranch].filter((v): v is Value => v !== undefined));
  for (const v of inputs) {
    if (used.has(v) || !/^past/.test(v.name)) continue;
    const present = presentCandidates(v.name).find((n) => outputs.has(n));
    if (!present) {
      throw new OnnxOptError('UNSUPPORTED', `cache input '${v.name}' has no matching present output (looked for ${presentCandidates(v.name).join(', ')})`);
    }
    cache.push(cacheSlot(v, present));
    used.add(v);
  }

  const presentNames = new Set(cache.map((c) => c.present));
  const logitsValue = outputs.get('logits') ?? g.outputs.find((v) => /logits/i.test(v.name)) ?? g.outputs.find((v) => !presentNames.has(v.name));
  if (!logitsValue) throw new OnnxOptError('UNSUPPORTED', 'not a decoder model: no logits output');
  const lt = logitsValue.type;
  const last = lt?.kind === 'tensor' && lt.shape?.length ? lt.shape[lt.shape.length - 1] : undefined;

  return {
    inputIds: { name: ids.name, dtype: intDType(ids) },
    attentionMask: mask ? { name: mask.name, dtype: intDType(mask) } : undefined,
    positionIds: pos ? { name: pos.name, dtype: intDType(pos) } : undefined,
    seqlensK: seqlensK?.name,
    totalSequenceLength: total?.name,
    useCacheBranch: useCacheBranch?.name,
    cache,
    logits: logitsValue.name,
    vocabSize: typeof last === 'number' ? last : undefined,
    otherInputs: inputs.filter((v) => !used.has(v)).map((v) => v.name),
  };
}

function intDType(v: Value): IntDType {
  if (v.type?.kind === 'tensor' && v.type.dtype === DataType.INT32) return 'int32';
  return 'int64';
}

function cacheSlot(v: Value, present: string): CacheSlot {
  const t = v.type;
  if (t?.kind !== 'tensor' || !t.shape) throw new OnnxOptError('UNSUPPORTED', `cache input '${v.name}' declares no shape`);
  let dtype: CacheSlot['dtype'];
  if (t.dtype === DataType.FLOAT) dtype = 'float32';
  else if (t.dtype === DataType.FLOAT16) dtype = 'float16';
  else throw new OnnxOptError('UNSUPPORTED', `cache input '${v.name}': element type ${t.dtype} is not float32 or float16`);
  const shape = t.shape;
  const named = (re: RegExp) => shape.findIndex((d) => typeof d === 'string' && re.test(d));
  let batchAxis = named(/batch/i);
  if (batchAxis < 0) batchAxis = shape.length === 5 ? 1 : 0;
  let sequenceAxis = named(/past|seq|len|total/i);
  if (sequenceAxis < 0 || sequenceAxis === batchAxis) sequenceAxis = shape.length - 2;
  // The genai builder declares the head size symbolically ('kv_cache_dim'): the attention op that
  // reads the cache tells it.
  const resolved = shape.map((d, i) => (i === shape.length - 1 && typeof d !== 'number' && i !== sequenceAxis ? (headSizeFromReader(v) ?? d) : d));
  resolved.forEach((d, i) => {
    if (i !== batchAxis && i !== sequenceAxis && typeof d !== 'number') {
      throw new OnnxOptError('UNSUPPORTED', `cache input '${v.name}': dimension ${i} ('${d ?? '?'}') has no fixed size`);
    }
  });
  return { past: v.name, present, dtype, shape: resolved, batchAxis, sequenceAxis };
}

/** Output width of the projection producing `x` (through a bias Add, rotary, q/k norms, Reshapes). */
function projectionWidth(x: Value | undefined, depth = 0): number | undefined {
  const p = x?.producer;
  if (!p || depth > 8) return undefined;
  if (p.opType === 'MatMulNBits') return p.attrInt('N');
  if (p.opType === 'MatMul') {
    const d = p.inputs[1]?.initializer?.dims;
    return d?.length === 2 ? d[1] : undefined;
  }
  if (p.opType === 'Add') return projectionWidth(p.inputs.find((i) => i && !i.initializer), depth + 1);
  // A packed qkv projection split in three: this output's share.
  if (p.opType === 'Split') {
    const input = p.inputs[1];
    const value = input?.producer?.opType === 'Constant' ? input.producer.attr('value')?.value : undefined;
    const sizes = (input?.initializer ?? (value instanceof Tensor ? value : undefined))?.toNumbers();
    return sizes?.[x!.outputIndex];
  }
  // Rotary, and per-head q/k norms (Qwen3) between Reshapes, keep the total width.
  if (['RotaryEmbedding', 'SimplifiedLayerNormalization', 'LayerNormalization', 'Reshape', 'Cast'].includes(p.opType)) return projectionWidth(p.inputs[0], depth + 1);
  return undefined;
}

/** Head size of a cache read by com.microsoft GroupQueryAttention / MultiHeadAttention. */
function headSizeFromReader(cache: Value): number | undefined {
  for (const { node: n } of cache.uses) {
    if (n.domain !== 'com.microsoft' || (n.opType !== 'GroupQueryAttention' && n.opType !== 'MultiHeadAttention')) continue;
    const heads = n.attrInt('num_heads');
    const kvHeads = n.attrInt('kv_num_heads') ?? heads;
    if (!heads || !kvHeads) continue;
    const key = n.inputs[1];
    const width = key ? projectionWidth(key) : projectionWidth(n.inputs[0]);
    const size = width === undefined ? undefined : key ? width / kvHeads : width / (heads + 2 * kvHeads);
    if (size && Number.isInteger(size)) return size;
  }
  return undefined;
}
