/**
 * The input is never written: the model file and its external data keep their bytes, mtime and
 * inode after load + pipeline + save elsewhere, and also when the output path is the input path
 * (the writer writes beside it and renames, so the original inodes, reached here through hard
 * links made beforehand, still hold the old bytes). Every write-capable fs call made during the
 * run is also recorded, and none may target an original inode.
 */
import { createHash } from 'node:crypto';
import fs, { linkSync, mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { saveModel, type SaveOptions } from '../../src/io/write-model.js';
import { makeLlamaModel } from '../../src/fixtures/llama.js';
import { loadModel } from '../../src/io/read-model.js';
import { registerBuiltinPasses } from '../../src/passes/builtin.js';
import { runPipeline } from '../../src/passes/pass-manager.js';
import { tempDir } from '../helpers/paths.js';

interface FileState {
  hash: string;
  mtimeMs: number;
  ino: number;
  size: number;
}

const stateOf = (p: string): FileState => {
  const st = statSync(p);
  return { hash: createHash('sha256').update(readFileSync(p)).digest('hex'), mtimeMs: st.mtimeMs, ino: st.ino, size: st.size };
};

/** A model folder with model.onnx and model.onnx.data. */
function makeInput(): string {
  const dir = join(tempDir('onnx-opt-input-'), 'in');
  mkdirSync(dir);
  saveModel(makeLlamaModel({ layers: 2, hidden: 16, heads: 2, kvHeads: 1, intermediate: 32, vocab: 32, seed: 9, kvCache: true }), join(dir, 'model.onnx'), { externalData: 'external' });
  expect(readdirSync(dir).sort()).toEqual(['model.onnx', 'model.onnx.data']);
  return dir;
}

/**
 * Runs `fn` while recording write-capable fs calls (open for writing, writeFile, appendFile,
 * truncate, copyFile onto, unlink, rm) whose target is one of the `protectedInodes`.
 */
async function watchWrites(protectedInodes: Set<number>, fn: () => Promise<void>): Promise<{ hits: string[]; writeOpens: number }> {
  const hits: string[] = [];
  let writeOpens = 0;
  const inodeOf = (p: unknown) => {
    try {
      return typeof p === 'string' || p instanceof URL || Buffer.isBuffer(p) ? statSync(p as string).ino : undefined;
    } catch {
      return undefined;
    }
  };
  const check = (op: string, p: unknown) => {
    const ino = inodeOf(p);
    if (ino !== undefined && protectedInodes.has(ino)) hits.push(`${op} ${String(p)}`);
  };
  const writes = (flags: unknown) => (typeof flags === 'number' ? (flags & 3) !== 0 : typeof flags === 'string' && flags !== 'r' && flags !== 'rs' && flags !== 'sr');
  const saved = { openSync: fs.openSync, writeFileSync: fs.writeFileSync, appendFileSync: fs.appendFileSync, truncateSync: fs.truncateSync, copyFileSync: fs.copyFileSync, unlinkSync: fs.unlinkSync, rmSync: fs.rmSync };
  const m = fs as unknown as Record<string, (...a: unknown[]) => unknown>;
  m.openSync = (p: unknown, flags?: unknown, ...rest: unknown[]) => {
    if (writes(flags)) {
      writeOpens++;
      check('open for writing', p);
    }
    return (saved.openSync as (...a: unknown[]) => unknown)(p, flags, ...rest);
  };
  for (const [name, which] of [['writeFileSync', 0], ['appendFileSync', 0], ['truncateSync', 0], ['copyFileSync', 1], ['unlinkSync', 0], ['rmSync', 0]] as const) {
    const orig = saved[name] as (...a: unknown[]) => unknown;
    m[name] = (...a: unknown[]) => {
      check(name, a[which]);
      return orig(...a);
    };
  }
  syncBuiltinESMExports();
  try {
    await fn();
  } finally {
    Object.assign(fs, saved);
    syncBuiltinESMExports();
  }
  return { hits, writeOpens };
}

beforeAll(() => registerBuiltinPasses());

describe('the input is never opened for writing', () => {
  it('watchWrites sees a write to a protected file (self-check)', async () => {
    const dir = makeInput();
    const p = join(dir, 'model.onnx.data');
    const { hits } = await watchWrites(new Set([statSync(p).ino]), async () => {
      fs.closeSync(fs.openSync(p, 'r+'));
      fs.closeSync(fs.openSync(p, 'r'));
    });
    expect(hits).toEqual([`open for writing ${p}`]);
    // It also sees the writer's own opens (its `import { openSync } from 'node:fs'` binding).
    const { writeOpens } = await watchWrites(new Set(), async () => {
      saveModel(loadModel(join(dir, 'model.onnx')), join(tempDir('onnx-opt-output-'), 'model.onnx'));
    });
    expect(writeOpens).toBe(2); // the data file and the model, under temporary names
  });

  for (const options of [{}, { externalData: 'keep' }, { externalData: 'inline' }] as SaveOptions[]) {
    it(`load + canonicalize + save to another folder (${JSON.stringify(options)}): input bytes, mtimes and inodes unchanged`, async () => {
      const dir = makeInput();
      const files = ['model.onnx', 'model.onnx.data'];
      const before = files.map((f) => stateOf(join(dir, f)));
      const out = join(tempDir('onnx-opt-output-'), 'model.onnx');
      const { hits } = await watchWrites(new Set(before.map((s) => s.ino)), async () => {
        const m = loadModel(join(dir, 'model.onnx'));
        await runPipeline(m, 'canonicalize');
        saveModel(m, out, options);
      });
      expect(hits).toEqual([]);
      expect(files.map((f) => stateOf(join(dir, f)))).toEqual(before);
      expect(readdirSync(dir).sort()).toEqual(files);
      expect(() => loadModel(out)).not.toThrow();
    });
  }

  for (const options of [{}, { externalData: 'keep' }] as SaveOptions[]) {
    it(`output path == input path (${JSON.stringify(options)}): the original inodes keep the old bytes, and the new model is whole`, async () => {
      const dir = makeInput();
      const files = ['model.onnx', 'model.onnx.data'];
      const before = files.map((f) => stateOf(join(dir, f)));
      // Hard links to the original inodes, in a sibling folder under the same names: a loadable copy.
      const orig = join(dir, '..', 'orig');
      mkdirSync(orig);
      for (const f of files) linkSync(join(dir, f), join(orig, f));

      const { hits } = await watchWrites(new Set(before.map((s) => s.ino)), async () => {
        const m = loadModel(join(dir, 'model.onnx'));
        await runPipeline(m, 'canonicalize');
        saveModel(m, join(dir, 'model.onnx'), options);
      });
      // Once the new model is in place the replaced data file is unlinked (its bytes untouched: the
      // hard link below still reads them); nothing else touches the originals.
      expect(hits.filter((h) => !/^(rmSync|unlinkSync) .*model\.onnx\.data$/.test(h))).toEqual([]);
      // The original inodes were not written: the links still read the old bytes.
      const linked = files.map((f) => stateOf(join(orig, f)));
      expect(linked).toEqual(before);
      // The input path now names a new model (new inode) whose data went to a new file; the
      // replaced data file is gone from the folder, and no temporary file is left.
      expect(stateOf(join(dir, 'model.onnx')).ino).not.toBe(before[0]!.ino);
      expect(readdirSync(dir).sort()).toEqual(['model.onnx', 'model.onnx.v1.data']);
      // The new model loads, and every weight it shares with the original reads the same bytes.
      const original = loadModel(join(orig, 'model.onnx'));
      const rewritten = loadModel(join(dir, 'model.onnx'));
      let shared = 0;
      for (const [name, v] of rewritten.graph.initializers) {
        const o = original.graph.initializers.get(name);
        if (!o) continue;
        shared++;
        expect(Buffer.from(v.initializer!.bytes()).equals(Buffer.from(o.initializer!.bytes())), name).toBe(true);
      }
      expect(shared).toBeGreaterThan(10);
    });
  }
});
