/**
 * Crash safety of the writer: a child process (crash-writer.ts) writes a model with 256 MiB of
 * external data over an existing model (or into an empty folder) and is killed with SIGKILL at
 * several points. Afterwards the output path holds the old model with its old data (hashes equal)
 * or nothing, never a partial model; if the kill came after the last rename, it holds the complete
 * new model. A later save into the same folder ignores the stale temporary files.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveModelPath } from '../../src/codegen/model-folder.js';
import { saveModel } from '../../src/io/write-model.js';
import { makeLlamaModel } from '../../src/fixtures/llama.js';
import { loadModel } from '../../src/io/read-model.js';
import { tempDir } from '../helpers/paths.js';
import { expectedByte } from './crash-model.js';

const REPO = resolve(import.meta.dirname, '../..');
const WRITER = resolve(import.meta.dirname, 'crash-writer.ts');
const MB = 256;
const isTemp = (f: string) => f.startsWith('.') && f.endsWith('.tmp');
const hash = (p: string) => createHash('sha256').update(readFileSync(p)).digest('hex');

interface Run {
  lines: string[];
  killed: boolean;
  /** Temporary files seen in the folder while the child ran. */
  sawTemps: boolean;
}

/**
 * Runs the writer on `dir/model.onnx` and SIGKILLs it as soon as `killWhen` says so (called on every
 * stdout line and every 2 ms with the folder listing).
 */
function runWriter(dir: string, killWhen: (s: { line?: string; files: string[] }) => boolean, flags: string[] = []): Promise<Run> {
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, ['--import', 'tsx', WRITER, join(dir, 'model.onnx'), String(MB), ...flags], { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] });
    const run: Run = { lines: [], killed: false, sawTemps: false };
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const check = (line?: string) => {
      if (run.killed) return;
      const files = readdirSync(dir);
      if (files.some(isTemp)) run.sawTemps = true;
      if (killWhen({ line, files })) {
        run.killed = child.kill('SIGKILL');
      }
    };
    const poll = setInterval(() => check(), 2);
    createInterface({ input: child.stdout }).on('line', (line) => {
      run.lines.push(line);
      check(line);
    });
    child.on('error', fail);
    child.on('exit', (code, signal) => {
      clearInterval(poll);
      if (!run.killed && code !== 0) fail(new Error(`writer exited ${code ?? signal}: ${stderr}`));
      else done(run);
    });
  });
}

const progress = (line: string | undefined) => {
  const m = line?.match(/^progress (\d+) (\d+)$/);
  return m ? Number(m[1]) / Number(m[2]) : undefined;
};

/** True if the folder holds the complete new model: it loads and every weight reads back right. */
function holdsNewModel(dir: string): boolean {
  try {
    const m = loadModel(join(dir, 'model.onnx'));
    for (let k = 0; k < 4; k++) {
      const w = m.graph.initializers.get(`w${k}`)?.initializer;
      if (!w || w.byteLength !== (MB << 20) / 4) return false;
      for (const off of [0, 4097, w.byteLength - 64]) {
        const b = w.readBytes(off, 64);
        for (let i = 0; i < 64; i++) if (b[i] !== expectedByte(k, off + i)) return false;
      }
    }
    return true;
  } catch {
    return false;
  }
}

let template: string;
let oldHashes: Map<string, string>;

/** A fresh folder, holding the old model (model.onnx + model.onnx.data) if `withOld`. */
function scene(withOld: boolean): string {
  const dir = tempDir('onnx-opt-crash-');
  if (withOld) for (const f of readdirSync(template)) copyFileSync(join(template, f), join(dir, f));
  return dir;
}

type State = 'old' | 'new' | 'nothing' | 'broken';

function stateOf(dir: string): { state: State; files: string[] } {
  const files = readdirSync(dir).filter((f) => !isTemp(f)).sort();
  if (files.length === 0) return { state: 'nothing', files };
  // The old model with its own data intact (a new data file not yet referenced may sit beside it).
  if ([...oldHashes.keys()].every((f) => files.includes(f) && hash(join(dir, f)) === oldHashes.get(f))) return { state: 'old', files };
  if (holdsNewModel(dir)) return { state: 'new', files };
  return { state: 'broken', files };
}

const dirs: string[] = [];

beforeAll(() => {
  template = tempDir('onnx-opt-crash-old-');
  saveModel(makeLlamaModel({ layers: 1, hidden: 16, heads: 2, kvHeads: 1, intermediate: 32, vocab: 32, seed: 3 }), join(template, 'model.onnx'), { externalData: 'external' });
  oldHashes = new Map(readdirSync(template).map((f) => [f, hash(join(template, f))]));
  expect([...oldHashes.keys()].sort()).toEqual(['model.onnx', 'model.onnx.data']);
});

afterAll(() => {
  for (const d of [...dirs, template]) rmSync(d, { recursive: true, force: true });
});

const KILL_POINTS: { label: string; when: (s: { line?: string; files: string[] }) => boolean; before: boolean }[] = [
  { label: 'as soon as a temporary file appears', when: (s) => s.files.some(isTemp), before: true },
  { label: 'after a quarter of the data is written', when: (s) => (progress(s.line) ?? 0) >= 0.25, before: true },
  { label: 'after three quarters of the data', when: (s) => (progress(s.line) ?? 0) >= 0.75, before: true },
  // The last progress line comes right before the renames: the kill lands before or after them.
  { label: 'once all data is written', when: (s) => progress(s.line) === 1, before: false },
];

describe('a writer killed mid-write leaves the old model or nothing, never a partial one', () => {
  for (const withOld of [true, false]) {
    for (const k of KILL_POINTS) {
      it(`${withOld ? 'over an existing model' : 'into an empty folder'}: killed ${k.label}`, async () => {
        const dir = scene(withOld);
        dirs.push(dir);
        const run = await runWriter(dir, k.when);
        expect(run.killed, 'the writer finished before it could be killed').toBe(true);
        expect(run.lines).not.toContain('done');
        const { state, files } = stateOf(dir);
        const allowed: State[] = k.before ? [withOld ? 'old' : 'nothing'] : [withOld ? 'old' : 'nothing', 'new'];
        expect(allowed, `the folder holds ${state}: [${files.join(', ')}]`).toContain(state);
        rmSync(dir, { recursive: true, force: true });
      });
    }
  }

  it('a later save ignores the stale temporary files a killed one left', async () => {
    const dir = scene(true);
    dirs.push(dir);
    const run = await runWriter(dir, (s) => (progress(s.line) ?? 0) >= 0.5);
    expect(run.killed).toBe(true);
    const stale = readdirSync(dir).filter(isTemp).sort();
    expect(stale.length, 'the killed writer left its temporary data file').toBeGreaterThan(0);
    expect(stateOf(dir).state).toBe('old');
    // Loading and folder resolution do not mistake them for a model.
    expect(resolveModelPath(dir).modelPath).toBe(join(dir, 'model.onnx'));
    expect(() => loadModel(join(dir, 'model.onnx'))).not.toThrow();

    const again = await runWriter(dir, () => false);
    expect(again.lines).toContain('done');
    expect(stateOf(dir).state).toBe('new');
    // The stale files are left alone (not cleaned: see the report), and no new ones appear.
    expect(readdirSync(dir).filter(isTemp).sort()).toEqual(stale);
    for (const f of stale) expect(statSync(join(dir, f)).isFile()).toBe(true);
    rmSync(dir, { recursive: true, force: true });
  });

  // The window between renaming the new data file and renaming the model: the new data goes to a
  // new name (model.onnx.v1.data), so the old model still reads its own, untouched data.
  it('killed between renaming the data file and the model, the old model still has its own data', async () => {
    const dir = scene(true);
    dirs.push(dir);
    const run = await runWriter(dir, (s) => s.line === 'renamed model.onnx.v1.data', ['--pause-after-data-rename']);
    expect(run.killed).toBe(true);
    expect(run.lines).toContain('renamed model.onnx.v1.data');
    expect(run.lines).not.toContain('renamed model.onnx');
    expect(stateOf(dir).state).toBe('old');
    expect(hash(join(dir, 'model.onnx.data'))).toBe(oldHashes.get('model.onnx.data'));
    rmSync(dir, { recursive: true, force: true });
  });
});
