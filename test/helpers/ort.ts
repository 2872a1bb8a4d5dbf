import * as ort from 'onnxruntime-node';
import type { Model } from '../../src/ir/model.js';
import { decoderSignature, sequenceFeeds } from '../../src/runtime/decoder-inputs.js';
import { ModelSession } from '../../src/runtime/session.js';
import { toFloat64 } from '../../src/runtime/tensor-data.js';

/** Runs a model file on byte tokens and returns every output as a Float32Array (or typed array). */
export async function runFile(path: string, feeds: Record<string, ort.Tensor>): Promise<Record<string, ort.Tensor>> {
  const session = await ort.InferenceSession.create(path, { intraOpNumThreads: 1, interOpNumThreads: 1 });
  try {
    return await session.run(feeds);
  } finally {
    await session.release();
  }
}

export function tokens(text: string, n: number): ort.Tensor {
  const ids = BigInt64Array.from(Array.from(Buffer.from(text).subarray(0, n), (b) => BigInt(b)));
  return new ort.Tensor('int64', ids, [1, ids.length]);
}

export function bytesOf(t: ort.Tensor): Buffer {
  const d = t.data as ArrayBufferView;
  return Buffer.from(d.buffer, d.byteOffset, d.byteLength);
}

/** The logits of an in-memory model on one token sequence (fp16 logits decoded), as Float32Array. */
export async function modelLogits(model: Model, tokens: number[]): Promise<Float32Array> {
  const s = await ModelSession.create(model);
  try {
    return Float32Array.from(toFloat64((await s.run(sequenceFeeds(decoderSignature(model), [tokens]).feeds)).logits!));
  } finally {
    await s.release();
  }
}
