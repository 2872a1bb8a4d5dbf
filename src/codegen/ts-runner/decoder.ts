import { DataType } from '../../ir/dtype.js';
import type { Model } from '../../ir/model.js';
import { analyzeDecoder } from '../../passes/analysis/analyze-decoder.js';
import { attentionsOf, type LayerMap } from '../../passes/analysis/layer-map.js';
import { decoderSignature, type DecoderSignature, type IntDType } from '../../runtime/decoder-inputs.js';
import { lit, propName } from './types.js';

/** One KV-cache pair: the present output fed back as the past input on the next step. */
export interface CachePair {
  /** The decoder layer whose attention owns it (LayerMap numbering), when known. */
  readonly layer: number | undefined;
  readonly past: string;
  readonly present: string;
  readonly type: 'float32' | 'float16';
  /** The empty past for a batch of one: the declared shape with batch 1 and sequence 0. */
  readonly emptyDims: readonly number[];
}

/** What `generate()` feeds and reads, all fixed at generation time. */
export interface DecoderPlan {
  readonly inputIds: { readonly name: string; readonly type: IntDType };
  readonly attentionMask?: { readonly name: string; readonly type: IntDType };
  readonly positionIds?: { readonly name: string; readonly type: IntDType };
  /** onnxruntime-genai GroupQueryAttention inputs (int32). */
  readonly seqlensK?: string;
  readonly totalSequenceLength?: string;
  /** Optimum merged decoders (bool [1]). */
  readonly useCacheBranch?: string;
  readonly cache: readonly CachePair[];
  readonly logits: { readonly name: string; readonly type: 'float32' | 'float16' | 'float64' };
  /** Layers (LayerMap numbering) with no KV cache: their attention was removed. */
  readonly layersWithoutCache: readonly number[];
}

/**
 * The decoder plan, when the model is a KV-cache decoder: some LayerMap layer has attention cache
 * inputs. Past↔present pairs come from the decoder signature (the same pairing the runtime bridge
 * uses); every pair the LayerMap assigns to a layer must be among them. `note` says why a model
 * with a KV cache gets no `generate()`.
 */
export function planDecoder(model: Model): { plan?: DecoderPlan; note?: string } {
  let map: LayerMap;
  try {
    map = analyzeDecoder(model);
  } catch {
    return {};
  }
  const cached = map.layers.filter((l) => attentionsOf(l).some((a) => a.cacheInputs.length > 0));
  if (cached.length === 0) return {};
  let sig: DecoderSignature;
  try {
    sig = decoderSignature(model);
  } catch (e) {
    return { note: `generate() omitted: ${(e as Error).message}` };
  }
  if (sig.otherInputs.length) return { note: `generate() omitted: it cannot fill the input(s) ${sig.otherInputs.join(', ')}` };
  const layerOf = new Map<string, number>();
  // A window of parallel attentions keeps each layer's cache: attention t is layer index + t.
  for (const l of cached) attentionsOf(l).forEach((a, t) => a.cacheInputs.forEach((v) => layerOf.set(v.name, l.index + t)));
  const pasts = new Set(sig.cache.map((c) => c.past));
  const unpaired = [...layerOf.keys()].filter((n) => !pasts.has(n));
  if (unpaired.length) return { note: `generate() omitted: no present output pairs with ${unpaired.join(', ')}` };
  const logitsValue = model.graph.outputs.find((v) => v.name === sig.logits);
  const lt = logitsValue?.type;
  const logitsType =
    lt?.kind !== 'tensor' ? undefined : lt.dtype === DataType.FLOAT ? 'float32' : lt.dtype === DataType.FLOAT16 ? 'float16' : lt.dtype === DataType.DOUBLE ? 'float64' : undefined;
  if (!logitsType) return { note: `generate() omitted: the logits output '${sig.logits}' is not float32, float16 or float64` };

  const covered = new Set<number>();
  for (const l of map.layers) for (let i = l.index; i <= (l.span?.[1] ?? l.index); i++) covered.add(i);
  const withCache = new Set(layerOf.values());
  return {
    plan: {
      inputIds: { name: sig.inputIds.name, type: sig.inputIds.dtype },
      ...(sig.attentionMask ? { attentionMask: { name: sig.attentionMask.name, type: sig.attentionMask.dtype } } : {}),
      ...(sig.positionIds ? { positionIds: { name: sig.positionIds.name, type: sig.positionIds.dtype } } : {}),
      ...(sig.seqlensK ? { seqlensK: sig.seqlensK } : {}),
      ...(sig.totalSequenceLength ? { totalSequenceLength: sig.totalSequenceLength } : {}),
      ...(sig.useCacheBranch ? { useCacheBranch: sig.useCacheBranch } : {}),
      cache: sig.cache.map((c) => ({
        layer: layerOf.get(c.past),
        past: c.past,
        present: c.present,
        type: c.dtype,
        emptyDims: c.shape.map((d, i) => (i === c.batchAxis ? 1 : i === c.sequenceAxis ? 0 : (d as number))),
      })),
      logits: { name: sig.logits, type: logitsType },
      layersWithoutCache: [...covered].filter((i) => !withCache.has(i)).sort((a, b) => a - b),
    },
  };
}

/** `0-5, 8-15` */
export function formatRanges(xs: readonly number[]): string {
  const out: string[] = [];
  for (let i = 0; i < xs.length; ) {
    let j = i;
    while (j + 1 < xs.length && xs[j + 1] === xs[j]! + 1) j++;
    out.push(i === j ? String(xs[i]) : `${xs[i]}-${xs[j]}`);
    i = j + 1;
  }
  return out.join(', ');
}

/** Where the cache lives, in words, for the docs of CACHE and generate(). */
export function cacheSummary(plan: DecoderPlan): string {
  const layers = [...new Set(plan.cache.map((c) => c.layer).filter((l): l is number => l !== undefined))].sort((a, b) => a - b);
  const parts = [`${plan.cache.length} past/present pairs`];
  if (layers.length) parts.push(`layers ${formatRanges(layers)}`);
  let s = parts.join(', ');
  if (plan.layersWithoutCache.length) {
    const l = plan.layersWithoutCache;
    s += `; layer${l.length > 1 ? 's' : ''} ${formatRanges(l)} ha${l.length > 1 ? 've' : 's'} no attention, hence no cache`;
  }
  return s;
}

/** The CACHE table's entries, one line each. */
export function cacheEntries(plan: DecoderPlan): string[] {
  return plan.cache.map(
    (c) =>
      `{ layer: ${c.layer ?? 'undefined'}, past: ${lit(c.past)}, present: ${lit(c.present)}, type: ${lit(c.type)}, emptyDims: [${c.emptyDims.join(', ')}] }`,
  );
}

/** An int tensor expression from a JS number array expression (`int64`: BigInt64Array). */
function intTensor(type: IntDType, values: string, dims: string): string {
  return type === 'int32'
    ? `new ort.Tensor('int32', Int32Array.from(${values}), ${dims})`
    : `new ort.Tensor('int64', BigInt64Array.from(${values}, (v) => BigInt(v)), ${dims})`;
}

/** The body of `generate()`: statements only for the inputs this model declares. */
export function generateBody(plan: DecoderPlan): string {
  const feeds: string[] = ['...past', `${propName(plan.inputIds.name)}: ${intTensor(plan.inputIds.type, 'step', '[1, step.length]')}`];
  if (plan.attentionMask) {
    const ones = plan.attentionMask.type === 'int32' ? `new ort.Tensor('int32', new Int32Array(total).fill(1), [1, total])` : `new ort.Tensor('int64', new BigInt64Array(total).fill(1n), [1, total])`;
    feeds.push(`${propName(plan.attentionMask.name)}: ${ones}`);
  }
  if (plan.positionIds) {
    feeds.push(`${propName(plan.positionIds.name)}: ${intTensor(plan.positionIds.type, 'step.map((_, i) => pastLength + i)', '[1, step.length]')}`);
  }
  if (plan.seqlensK) feeds.push(`${propName(plan.seqlensK)}: new ort.Tensor('int32', Int32Array.from([total - 1]), [1])`);
  if (plan.totalSequenceLength) feeds.push(`${propName(plan.totalSequenceLength)}: new ort.Tensor('int32', Int32Array.from([total]), [])`);
  if (plan.useCacheBranch) feeds.push(`${propName(plan.useCacheBranch)}: new ort.Tensor('bool', Uint8Array.from([pastLength > 0 ? 1 : 0]), [1])`);
  return `const { maxNewTokens, temperature } = options;
if (tokens.length === 0) throw new Error('generate: the prompt is empty');
if (!Number.isInteger(maxNewTokens) || maxNewTokens < 0) throw new Error(\`generate: maxNewTokens must be an integer ≥ 0, got \${maxNewTokens}\`);
if (!(temperature >= 0) || !Number.isFinite(temperature)) throw new Error(\`generate: temperature must be finite and ≥ 0, got \${temperature}\`);
const random = mulberry32(options.seed ?? Math.floor(Math.random() * 2 ** 32));
const stop = new Set(options.stopTokens ?? []);
const generated: number[] = [];
// Empty pasts (sequence length 0) for the first run, which takes the whole prompt.
let past: Record<string, ort.Tensor> = {};
for (const slot of CACHE) past[slot.past] = emptyPast(slot);
let pastLength = 0;
let step: readonly number[] = tokens;
while (generated.length < maxNewTokens) {
  const total = pastLength + step.length;
  const feeds: Record<string, ort.Tensor> = {
    ${feeds.join(',\n    ')},
  };
  const results = await this.session.run(feeds);
  const logits = lastLogits(outputOf(results, ${lit(plan.logits.name)}));
  const token = temperature === 0 ? argmax(logits) : sample(logits, temperature, random);
  generated.push(token);
  options.onToken?.(token);
  if (stop.has(token) || generated.length === maxNewTokens) break;
  // Each present output becomes the past input of the next step.
  past = {};
  for (const slot of CACHE) past[slot.past] = outputOf(results, slot.present);
  pastLength = total;
  step = [token];
}
return generated;`;
}

/** Helper functions generate() needs, as function structures for ts-morph. */
export function decoderHelpers(plan: DecoderPlan): { name: string; docs: string[]; parameters: { name: string; type: string }[]; returnType: string; statements: string }[] {
  const types = cacheTypes(plan);
  const logitsRow = {
    float32: `const data = t.data as Float32Array;
return data.subarray(data.length - vocab);`,
    float64: `const data = t.data as Float64Array;
return Float32Array.from(data.subarray(data.length - vocab));`,
    float16: `const bits = halfBits(t.data);
return Float32Array.from(bits.subarray(bits.length - vocab), halfToFloat);`,
  }[plan.logits.type];
  const helpers = [
    {
      name: 'emptyPast',
      docs: ['An empty cache tensor: the declared shape with batch 1 and sequence length 0.'],
      parameters: [{ name: 'slot', type: 'CacheSlot' }],
      returnType: 'ort.Tensor',
      statements:
        types.length > 1
          ? `return slot.type === 'float16' ? new ort.Tensor('float16', new Uint16Array(0), slot.emptyDims) : new ort.Tensor('float32', new Float32Array(0), slot.emptyDims);`
          : types[0] === 'float16'
            ? `return new ort.Tensor('float16', new Uint16Array(0), slot.emptyDims);`
            : `return new ort.Tensor('float32', new Float32Array(0), slot.emptyDims);`,
    },
    {
      name: 'lastLogits',
      docs: [`The next-token logits: the last position's row of \`${plan.logits.name}\`, as float32.`],
      parameters: [{ name: 't', type: 'ort.Tensor' }],
      returnType: 'Float32Array',
      statements: `const vocab = t.dims[t.dims.length - 1] ?? 0;
${logitsRow}`,
    },
    {
      name: 'argmax',
      docs: ['The index of the largest element (the first one on ties).'],
      parameters: [{ name: 'xs', type: 'Float32Array' }],
      returnType: 'number',
      statements: `let best = 0;
for (let i = 1; i < xs.length; i++) if (xs[i]! > xs[best]!) best = i;
return best;`,
    },
    {
      name: 'sample',
      docs: ['Draws an index from softmax(logits / temperature).'],
      parameters: [
        { name: 'logits', type: 'Float32Array' },
        { name: 'temperature', type: 'number' },
        { name: 'random', type: '() => number' },
      ],
      returnType: 'number',
      statements: `let max = -Infinity;
for (const x of logits) if (x > max) max = x;
const weights = new Float64Array(logits.length);
let sum = 0;
for (let i = 0; i < logits.length; i++) {
  weights[i] = Math.exp((logits[i]! - max) / temperature);
  sum += weights[i]!;
}
let r = random() * sum;
for (let i = 0; i < weights.length; i++) {
  r -= weights[i]!;
  if (r < 0) return i;
}
return argmax(logits);`,
    },
    {
      name: 'mulberry32',
      docs: ['A small seeded PRNG (mulberry32): the same seed gives the same floats in [0, 1).'],
      parameters: [{ name: 'seed', type: 'number' }],
      returnType: '() => number',
      statements: `let a = seed >>> 0;
return () => {
  a = (a + 0x6d2b79f5) >>> 0;
  let t = a;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
};`,
    },
  ];
  return helpers;
}

/** The type of CacheSlot.type: only the element types this model's cache has. */
export function cacheSlotType(plan: DecoderPlan): string {
  return cacheTypes(plan).map(lit).join(' | ') || "'float32'";
}

function cacheTypes(plan: DecoderPlan): CachePair['type'][] {
  return [...new Set(plan.cache.map((c) => c.type))].sort();
}
