import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

/** ../shared from the repo root: the real exports and the ONNX conformance corpus (never copied in). */
export const SHARED = resolve(import.meta.dirname, '../../../shared');
export const MODELS = join(SHARED, 'models');
export const TINYLLAMA = join(MODELS, 'tinyllama-16l.onnx');
export const TINYLLAMA_KV = join(MODELS, 'tinyllama-16l-kv.onnx');
export const TINYLLAMA_EXT = join(MODELS, 'tinyllama-16l-ext', 'model.onnx');
export const CONFORMANCE = join(SHARED, 'onnx-backend', 'node');

export function tempDir(prefix = 'onnx-opt-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}
