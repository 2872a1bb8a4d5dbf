/**
 * Runs one fuzz case and checks the reader's contract:
 * - loading either succeeds or throws an OnnxOptError (never another exception type);
 * - a loaded model passes verifyModel without throwing, and saving it either works (the output
 *   folder then holds the model and its data files and nothing new besides, and the result loads
 *   again) or throws an OnnxOptError and leaves the output folder exactly as it was;
 * - files a case marks as not the writer's (another model's data, notes) are byte-identical after;
 * - no file outside the output folder is created, removed or changed (content hash and mtime),
 *   including the canary beside the model folder that `..` and symlinks point at;
 * - no single allocation is far bigger than the case's files (a declared size is never allocated
 *   before the data proves it exists);
 * - the case finishes within the time budget (2 s, plus 10 ms per KiB of input: linear work is fine).
 */
import { createHash } from 'node:crypto';
import { lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, rmSync, unlinkSync } from 'node:fs';
import { basename, join, relative } from 'node:path';
import { saveModel } from '../../src/io/write-model.js';
import { OnnxOptError } from '../../src/errors.js';
import { loadModel } from '../../src/io/read-model.js';
import { verifyModel } from '../../src/ir/verifier.js';
import { takeLargestAllocation } from './alloc-tracker.js';
import { materialize, type FuzzCase } from './fuzz-cases.js';

export interface Outcome {
  seed: number;
  index: number;
  family: string;
  what: string;
  /** refused: load threw an OnnxOptError; loaded: load worked, save threw one; saved: both worked. */
  result: 'refused' | 'loaded' | 'saved' | 'failed';
  code?: string;
  message?: string;
  ms: number;
  largestAllocation: number;
  failures: string[];
}

export interface RunCaseOptions {
  /** Time budget of a case with tiny files; larger inputs get 10 ms more per KiB (linear work is fine). */
  budgetMs: number;
  /** Allocations above max(this, 8 × the case's file bytes) are failures (default 64 MiB). */
  allocationFloor?: number;
  keep?: boolean;
}

type Snapshot = Map<string, string>;

/** Every entry under `dir` except `skip`: type, size, mtime and content hash (links not followed). */
function snapshot(dir: string, skip: string, out: Snapshot = new Map(), rel = ''): Snapshot {
  for (const name of readdirSync(join(dir, rel)).sort()) {
    const r = rel ? `${rel}/${name}` : name;
    if (r === skip) continue;
    const p = join(dir, r);
    const st = lstatSync(p);
    if (st.isSymbolicLink()) out.set(r, `link ${readlinkSync(p)}`);
    else if (st.isDirectory()) {
      out.set(r, 'dir');
      snapshot(dir, skip, out, r);
    } else if (!st.isFile()) {
      out.set(r, `special ${st.mode} ${st.rdev}`); // a device: never read (/dev/zero never ends)
    } else {
      const hash = createHash('sha256').update(readFileSync(p)).digest('hex').slice(0, 16);
      out.set(r, `file ${st.size} ${st.mtimeMs} ${hash}`);
    }
  }
  return out;
}

function diff(a: Snapshot, b: Snapshot): string[] {
  const out: string[] = [];
  for (const [k, v] of a) if (b.get(k) !== v) out.push(`${k}: ${v} → ${b.get(k) ?? 'gone'}`);
  for (const [k, v] of b) if (!a.has(k)) out.push(`${k}: new (${v})`);
  return out;
}

function describe(e: unknown): string {
  return e instanceof Error ? `${e.name}: ${e.message.split('\n')[0]!.slice(0, 300)}` : String(e);
}

/**
 * Empties root/{src,outside,out}, keeping the folders themselves: creating and removing folders
 * costs milliseconds on some file systems, several times what a case takes.
 */
function resetRoot(root: string): void {
  for (const sub of ['src', 'outside', 'out']) {
    const dir = join(root, sub);
    mkdirSync(dir, { recursive: true });
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      if (e.isDirectory()) rmSync(join(dir, e.name), { recursive: true, force: true });
      else unlinkSync(join(dir, e.name));
    }
  }
  for (const e of readdirSync(root)) if (!['src', 'outside', 'out'].includes(e)) rmSync(join(root, e), { recursive: true, force: true });
}

export function runCase(c: FuzzCase, root: string, options: RunCaseOptions): Outcome {
  resetRoot(root);
  materialize(c, root);
  const outModel = join(root, c.output ?? 'out/model.onnx');
  const outDir = join(root, 'out');
  const fileBytes = c.files.reduce((s, f) => s + (f.kind === 'file' ? f.bytes.byteLength : 0), 0);
  const before = snapshot(root, 'out');
  const outBefore = snapshot(outDir, '');
  const kept = new Map((c.mustKeep ?? []).map((f) => [f, snapshot(join(root, f, '..'), '').get(basename(f))]));
  const o: Outcome = { seed: c.seed, index: c.index, family: c.family, what: c.what, result: 'failed', ms: 0, largestAllocation: 0, failures: [] };

  takeLargestAllocation();
  const t0 = performance.now();
  try {
    let model;
    try {
      model = loadModel(join(root, c.model));
    } catch (e) {
      if (e instanceof OnnxOptError) {
        o.result = 'refused';
        o.code = e.code;
        o.message = e.message.slice(0, 300);
      } else o.failures.push(`load threw ${describe(e)}`);
    }
    if (model) {
      try {
        verifyModel(model);
      } catch (e) {
        o.failures.push(`verifyModel threw ${describe(e)}`);
      }
      try {
        const r = saveModel(model, outModel, c.save);
        o.result = 'saved';
        const expected = [r.modelPath, ...r.dataFiles].map((p) => relative(outDir, p));
        const listed = [...snapshot(outDir, '')].filter(([, v]) => v !== 'dir').map(([k]) => k);
        const missing = expected.filter((e) => !listed.includes(e));
        const stray = listed.filter((l) => !expected.includes(l) && !outBefore.has(l));
        if (missing.length || stray.length) o.failures.push(`the output folder holds [${listed.join(', ')}], expected [${expected.join(', ')}] and what was there before`);
        try {
          loadModel(outModel);
        } catch (e) {
          o.failures.push(`the saved model does not load again: ${describe(e)}`);
        }
      } catch (e) {
        if (e instanceof OnnxOptError) {
          o.result = 'loaded';
          o.code = e.code;
          o.message = e.message.slice(0, 300);
          const changed = diff(outBefore, snapshot(outDir, ''));
          if (changed.length) o.failures.push(`a failed save changed the output folder: ${changed.slice(0, 5).join('; ')}`);
        } else o.failures.push(`saveModel threw ${describe(e)}`);
      }
    }
  } catch (e) {
    o.failures.push(`the check itself threw ${describe(e)}`);
  }
  o.ms = Math.round(performance.now() - t0);
  o.largestAllocation = takeLargestAllocation();
  const allocLimit = Math.max(options.allocationFloor ?? 64 << 20, 8 * fileBytes);
  if (o.largestAllocation > allocLimit) o.failures.push(`allocated ${o.largestAllocation} bytes at once (limit ${allocLimit} for ${fileBytes} bytes of files)`);
  const budget = options.budgetMs + Math.round((10 * fileBytes) / 1024);
  if (o.ms > budget) o.failures.push(`took ${o.ms} ms (budget ${budget} ms for ${fileBytes} bytes of files)`);
  for (const [f, state] of kept) {
    const now = snapshot(join(root, f, '..'), '').get(basename(f));
    if (now !== state) o.failures.push(`${f} is not the writer's, yet changed: ${state} → ${now ?? 'gone'}`);
  }
  const touched = diff(before, snapshot(root, 'out'));
  if (touched.length) o.failures.push(`files outside the output folder changed: ${touched.slice(0, 5).join('; ')}`);
  if (o.failures.length) o.result = 'failed';
  if (!options.keep) resetRoot(root);
  return o;
}
