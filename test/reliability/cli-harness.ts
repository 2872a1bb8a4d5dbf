/**
 * Helpers for the hostile-user tests: run the CLI's main() in this process (fast: no node start,
 * no onnxruntime load per case), build small models in temp folders, and snapshot folders so a
 * test can assert that every input file is byte-identical and no stray file was left.
 */
import { createHash } from 'node:crypto';
import { lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'vitest';
import { main } from '../../src/cli/main.js';
import { saveModel, type SaveOptions } from '../../src/io/write-model.js';
import { makeLlamaModel } from '../../src/fixtures/llama.js';
import { tempDir } from '../helpers/paths.js';

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `onnx-opt <args>` in-process, capturing stdout and stderr. */
export async function runMain(args: string[]): Promise<CliResult> {
  const out: string[] = [];
  const err: string[] = [];
  const saved = { out: process.stdout.write, err: process.stderr.write };
  process.stdout.write = ((c: string | Uint8Array) => (out.push(String(c)), true)) as typeof process.stdout.write;
  process.stderr.write = ((c: string | Uint8Array) => (err.push(String(c)), true)) as typeof process.stderr.write;
  let code: number;
  try {
    code = await main(args);
  } finally {
    process.stdout.write = saved.out;
    process.stderr.write = saved.err;
  }
  return { code, stdout: out.join(''), stderr: err.join('') };
}

/** A user error: exit 2, one line starting `onnx-opt:` that matches `message`, no stack trace. */
export function expectUsageError(r: CliResult, message: RegExp): void {
  expect(r.stderr, r.stderr).toMatch(message);
  expect(r.code, r.stderr).toBe(2);
  expect(r.stderr.trim().split('\n'), r.stderr).toHaveLength(1);
  expect(r.stderr).toMatch(/^onnx-opt: /);
  expect(r.stderr).not.toMatch(/\bat .*\.[jt]s:\d+/);
}

/** A tiny Llama with a KV cache saved at `path` (external data by default). */
export function writeTinyModel(path: string, options: SaveOptions = { externalData: 'external' }): string {
  saveModel(makeLlamaModel({ layers: 2, hidden: 16, heads: 2, kvHeads: 1, intermediate: 32, vocab: 32, seed: 9, kvCache: true }), path, options);
  return path;
}

/** A fresh folder `name` in a new temp dir. */
export function freshDir(name = 'd'): string {
  const dir = join(tempDir('onnx-opt-hostile-'), name);
  mkdirSync(dir);
  return dir;
}

/** Every entry under `dir` (links not followed): kind and, for files, a content hash. */
export function snapshot(dir: string, rel = '', out = new Map<string, string>()): Map<string, string> {
  for (const name of readdirSync(join(dir, rel)).sort()) {
    const r = rel ? `${rel}/${name}` : name;
    const p = join(dir, r);
    const st = lstatSync(p);
    if (st.isSymbolicLink()) out.set(r, `link ${readlinkSync(p)}`);
    else if (st.isDirectory()) {
      out.set(r, 'dir');
      snapshot(dir, r, out);
    } else if (st.isFile()) out.set(r, `file ${createHash('sha256').update(readFileSync(p)).digest('hex')}`);
    else out.set(r, `special ${st.mode} ${st.rdev}`);
  }
  return out;
}

/** Entries of a snapshot as sorted [path, state] pairs, for readable diffs in failures. */
export const entries = (m: Map<string, string>) => [...m].sort(([a], [b]) => a.localeCompare(b));
