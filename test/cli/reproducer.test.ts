import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { main } from '../../src/cli/main.js';
import { makeLlamaModel } from '../../src/fixtures/llama.js';
import { saveModel } from '../../src/io/write-model.js';
import { runCli } from '../helpers/cli.js';
import { MODELS, tempDir } from '../helpers/paths.js';

const CALIB = join(MODELS, 'calib.txt');
const HELDOUT = join(MODELS, 'heldout.txt');
const TOKENIZER = resolve(import.meta.dirname, '../fixtures/exports/optimum/llama/tokenizer.json');

let work: string;
/** The line the first test got, re-run by the second (the in-process registry already holds the plugin's pass). */
let line: string | undefined;

/** A plugin whose one pass throws a plain Error: the crash the reproducer line is for. */
const PLUGIN = `const pass = {
  name: 'repro-crash', summary: 'throws', options: {},
  create: () => ({ name: 'repro-crash', summary: 'throws', options: {}, config: {}, run: () => { throw new Error('kaput'); } }),
};
export default () => [pass];
`;

/** Runs the CLI in-process from `cwd`; returns the exit code and what it wrote to stderr. */
async function cli(args: string[], cwd: string): Promise<{ code: number; stderr: string }> {
  const saved = process.cwd();
  let stderr = '';
  const out = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
  const err = vi.spyOn(process.stderr, 'write').mockImplementation((s) => ((stderr += String(s)), true));
  try {
    process.chdir(cwd);
    return { code: await main(args), stderr };
  } finally {
    process.chdir(saved);
    out.mockRestore();
    err.mockRestore();
  }
}

/** Splits a POSIX shell line into words (plain words and single-quoted strings, as reproducerLine writes them). */
function shellWords(line: string): string[] {
  const words: string[] = [];
  const re = /(?:'((?:[^']|'\\'')*)'|([^\s']+))+/g;
  for (const m of line.matchAll(re)) words.push(m[0].replace(/'\\''/g, "\u0000").replace(/'/g, '').replace(/\u0000/g, "'"));
  return words;
}

beforeAll(() => {
  work = tempDir('onnx-opt-repro-');
  mkdirSync(join(work, 'plugins'));
  writeFileSync(join(work, 'plugins', 'crash.mjs'), PLUGIN);
  saveModel(makeLlamaModel({ layers: 2, hidden: 8, heads: 2, kvHeads: 1, intermediate: 8, vocab: 256 }), join(work, 'model.onnx'));
  writeFileSync(join(work, 'scores.json'), JSON.stringify({ 'attn-prune': { scores: [{ layer: 1, score: 0.5 }] } }));
});

describe('the reproducer line of a failed pass', () => {
  it('carries every option that changes what the passes do, with absolute paths', async () => {
    // Relative paths, as a user types them in their own directory.
    const args = ['model.onnx', '-o', 'out.onnx', '--plugin', './plugins/crash.mjs', '--passes=canonicalize,repro-crash', '--calib', CALIB, '--tokenizer', TOKENIZER];
    args.push('--heldout', HELDOUT, '--calib-sequences', '3', '--calib-length', '17', '--seed', '5', '--calibration', 'whole', '--scores', 'scores.json');
    const { code, stderr } = await cli(args, work);
    expect(code).not.toBe(0);
    line = /Reproduce with: (.*)$/m.exec(stderr)?.[1];
    expect(line, stderr).toBeDefined();
    expect(stderr).toContain("pass 'repro-crash' failed: kaput");
    const words = shellWords(line!);
    expect(words.slice(0, 2)).toEqual(['onnx-opt', join(work, 'model.onnx')]);
    const value = (flag: string) => words[words.indexOf(flag) + 1];
    // The pipeline as it ran: the canonicalize alias is printed expanded.
    expect(words.find((w) => w.startsWith('--passes='))).toMatch(/^--passes=fixed-point\{.*dce\),repro-crash$/);
    expect(value('--plugin')).toBe(join(work, 'plugins', 'crash.mjs'));
    expect(value('--calib')).toBe(CALIB);
    expect(value('--heldout')).toBe(HELDOUT);
    expect(value('--tokenizer')).toBe(TOKENIZER);
    expect(value('--calib-sequences')).toBe('3');
    expect(value('--calib-length')).toBe('17');
    expect(value('--seed')).toBe('5');
    expect(value('--calibration')).toBe('whole');
    expect(value('--scores')).toBe(join(work, 'scores.json'));
    expect(words).toContain('--debug');
  });

  it('re-runs from another directory and fails the same way', async () => {
    expect(line).toBeDefined();
    // The built CLI, in a fresh process.
    const again = runCli(shellWords(line!).slice(1), { cwd: tempDir('onnx-opt-repro-elsewhere-') });
    expect(again.code, again.stderr).toBe(2);
    expect(again.stderr).toContain("pass 'repro-crash' failed: kaput");
  });
});
