import { readdirSync, readFileSync, realpathSync, statSync } from 'node:fs';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { saveModel } from '../../src/io/write-model.js';
import { loadModel, loadModelFromBytes } from '../../src/io/read-model.js';
import { bytesOf, runFile, tokens } from '../helpers/ort.js';
import { TINYLLAMA, TINYLLAMA_EXT, TINYLLAMA_KV, tempDir } from '../helpers/paths.js';

const TEXT = 'The package manager keeps track of installed files and their dependencies.';

describe('loading the real torch.onnx exports', () => {
  it('keeps embedded raw_data as views into the file buffer, not copies', () => {
    const bytes = readFileSync(TINYLLAMA);
    const model = loadModelFromBytes(bytes, TINYLLAMA);
    const inits = [...model.graph.initializers.values()];
    expect(inits.length).toBeGreaterThan(100);
    let views = 0;
    for (const v of inits) {
      const s = v.initializer!.storage;
      if (s.kind === 'raw') {
        expect(s.bytes.buffer).toBe(bytes.buffer);
        views++;
      }
    }
    expect(views).toBeGreaterThan(100);
  });

  it('keeps external data on disk as references, resolved against the model folder', () => {
    const model = loadModel(TINYLLAMA_EXT);
    const ext = [...model.graph.initializers.values()].filter((v) => v.initializer!.storage.kind === 'external');
    expect(ext.length).toBeGreaterThan(50);
    const s = ext[0]!.initializer!.storage;
    if (s.kind !== 'external') throw new Error('unreachable');
    expect(s.location).toBe('model.onnx.data');
    expect(s.path).toBe(realpathSync(join(TINYLLAMA_EXT, '..', 'model.onnx.data')));
    // Reading one tensor reads exactly its bytes.
    expect(ext[0]!.initializer!.bytes().byteLength).toBe(s.length);
  });

  it('loads the external-data model the same from any working directory', () => {
    const cwd = process.cwd();
    try {
      process.chdir('/');
      expect(() => loadModel(TINYLLAMA_EXT)).not.toThrow();
    } finally {
      process.chdir(cwd);
    }
  });

  for (const [label, src] of [
    ['no-cache export', TINYLLAMA],
    ['external-data export', TINYLLAMA_EXT],
  ] as const) {
    it(`${label}: round-trips and runs in ORT with bit-identical logits`, async () => {
      const dir = tempDir();
      const out = join(dir, 'model.onnx');
      saveModel(loadModel(src), out, { externalData: 'keep' });
      const feeds = { input_ids: tokens(TEXT, 48) };
      const a = await runFile(src, feeds);
      const b = await runFile(out, feeds);
      expect(bytesOf(b.logits!).equals(bytesOf(a.logits!))).toBe(true);
    });
  }

  it('the no-cache export re-encodes to the identical file', () => {
    const dir = tempDir();
    const out = join(dir, 'same.onnx');
    saveModel(loadModel(TINYLLAMA), out);
    expect(readFileSync(out).equals(readFileSync(TINYLLAMA))).toBe(true);
  });

  it('KV-cache export: round-trips and runs with bit-identical logits and presents', async () => {
    const dir = tempDir();
    const out = join(dir, 'kv.onnx');
    saveModel(loadModel(TINYLLAMA_KV), out);
    expect(readFileSync(out).equals(readFileSync(TINYLLAMA_KV))).toBe(true);
    const feeds: Record<string, ort.Tensor> = { input_ids: tokens(TEXT, 16) };
    for (let i = 0; i < 16; i++) {
      for (const kind of ['key', 'value']) feeds[`past_key_values.${i}.${kind}`] = new ort.Tensor('float32', new Float32Array(0), [1, 2, 0, 24]);
    }
    const a = await runFile(TINYLLAMA_KV, feeds);
    const b = await runFile(out, feeds);
    for (const k of Object.keys(a)) expect(bytesOf(b[k]!).equals(bytesOf(a[k]!))).toBe(true);
  });

  it('writes external data aligned, under relative names, and reads back every tensor equal', () => {
    const dir = tempDir();
    const out = join(dir, 'aligned.onnx');
    const src = loadModel(TINYLLAMA_EXT);
    const res = saveModel(src, out, { externalData: 'external', align: 4096, alignThreshold: 1024 });
    expect(res.dataFiles).toEqual([join(dir, 'aligned.onnx.data')]);
    const back = loadModel(out);
    let checked = 0;
    for (const v of back.graph.initializers.values()) {
      const t = v.initializer!;
      const orig = src.graph.initializers.get(v.name)!.initializer!;
      expect(Buffer.from(t.bytes()).equals(Buffer.from(orig.bytes()))).toBe(true);
      if (t.storage.kind === 'external') {
        expect(t.storage.location).toBe('aligned.onnx.data');
        if (t.byteLength >= 1024) expect(t.storage.offset % 4096).toBe(0);
        checked++;
      }
    }
    expect(checked).toBeGreaterThan(50);
    expect(statSync(join(dir, 'aligned.onnx.data')).size).toBeGreaterThan(6_000_000);
  });

  it('shards external data by size', () => {
    const dir = tempDir();
    const out = join(dir, 'sharded.onnx');
    const res = saveModel(loadModel(TINYLLAMA_EXT), out, { externalData: 'external', shardSize: 2_000_000 });
    expect(res.dataFiles.length).toBeGreaterThan(2);
    for (const f of res.dataFiles) expect(statSync(f).size).toBeLessThanOrEqual(2_000_000 + 400_000);
    const back = loadModel(out);
    const locations = new Set([...back.graph.initializers.values()].flatMap((v) => (v.initializer!.storage.kind === 'external' ? [v.initializer!.storage.location] : [])));
    expect(locations.size).toBe(res.dataFiles.length);
  });

  it('writes over its own input safely: data is read before anything is renamed', async () => {
    const dir = tempDir();
    const path = join(dir, 'model.onnx');
    saveModel(loadModel(TINYLLAMA_EXT), path, { externalData: 'keep' });
    const feeds = { input_ids: tokens(TEXT, 32) };
    const before = await runFile(path, feeds);
    saveModel(loadModel(path), path, { externalData: 'keep' });
    const after = await runFile(path, feeds);
    expect(bytesOf(after.logits!).equals(bytesOf(before.logits!))).toBe(true);
    // The new data went to a new file, and the replaced model's data file was removed.
    expect(readdirSync(dir).sort()).toEqual(['model.onnx', 'model.onnx.v1.data']);
  });

  it('inlines external data on request', () => {
    const dir = tempDir();
    const out = join(dir, 'inline.onnx');
    const res = saveModel(loadModel(TINYLLAMA_EXT), out, { externalData: 'inline' });
    expect(res.dataFiles).toEqual([]);
    const back = loadModel(out);
    expect([...back.graph.initializers.values()].every((v) => !v.initializer!.isExternal)).toBe(true);
  });
});
