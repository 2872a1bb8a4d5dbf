/**
 * Plugins load only from what the user names with --plugin: never by searching the working
 * directory, node_modules, the model's folder, the environment or a config file. Every would-be
 * plugin here drops a marker file when imported; the CLI runs from a folder full of them.
 */
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { saveModel } from '../../src/io/write-model.js';
import { main } from '../../src/cli/main.js';
import { makeLlamaModel } from '../../src/fixtures/llama.js';
import { tempDir } from '../helpers/paths.js';

let cwd: string;
let markers: string;
let modelPath: string;

/** An ES module that records its import and returns one pass named `name`. */
const trap = (name: string) => `import { writeFileSync } from 'node:fs';
writeFileSync(${JSON.stringify(join('MARKERS', name))}, 'imported');
const pass = { name: ${JSON.stringify(name)}, summary: 'trap', options: {}, create: () => ({ name: ${JSON.stringify(name)}, summary: 'trap', options: {}, config: {}, run: () => ({ modified: false }) }) };
export default () => [pass];
`;

function writeTrap(path: string, name: string): void {
  mkdirSync(join(path, '..'), { recursive: true });
  writeFileSync(path, trap(name).replace('MARKERS', markers));
}

/** Runs the CLI in `cwd` with output silenced; returns its exit code. */
async function cli(args: string[], env: Record<string, string> = {}): Promise<number> {
  const saved = process.cwd();
  const out = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
  const err = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
  for (const [k, v] of Object.entries(env)) vi.stubEnv(k, v);
  try {
    process.chdir(cwd);
    return await main(args);
  } finally {
    process.chdir(saved);
    out.mockRestore();
    err.mockRestore();
    vi.unstubAllEnvs();
  }
}

const imported = () => readdirSync(markers).sort();

beforeAll(() => {
  const root = tempDir('onnx-opt-plugins-');
  cwd = join(root, 'work');
  markers = join(root, 'markers');
  mkdirSync(markers);
  // Everywhere a plugin search might look.
  writeTrap(join(cwd, 'onnx-opt-plugin.mjs'), 'cwd-file');
  writeTrap(join(cwd, 'plugins', 'index.mjs'), 'cwd-plugins-folder');
  writeTrap(join(cwd, '.onnx-opt', 'plugins', 'a.mjs'), 'dot-folder');
  for (const pkg of ['onnx-opt-plugin-trap', '@onnx-opt/plugin-trap']) {
    const dir = join(cwd, 'node_modules', pkg);
    writeTrap(join(dir, 'index.mjs'), pkg.replace(/[@/]/g, '_'));
    writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: pkg, version: '1.0.0', type: 'module', main: 'index.mjs', keywords: ['onnx-opt-plugin'] }));
  }
  writeFileSync(join(cwd, 'package.json'), JSON.stringify({ name: 'user-project', private: true, 'onnx-opt': { plugins: ['onnx-opt-plugin-trap'] } }));
  const modelDir = join(cwd, 'model');
  modelPath = join(modelDir, 'model.onnx');
  saveModel(makeLlamaModel({ layers: 1, hidden: 8, heads: 2, kvHeads: 1, intermediate: 8, vocab: 8 }), modelPath);
  writeTrap(join(modelDir, 'plugin.mjs'), 'model-folder');
  writeTrap(join(modelDir, 'onnx-opt-plugin.mjs'), 'model-folder-named');
});

afterEach(() => vi.unstubAllEnvs());

describe('plugins are loaded only when named', () => {
  it('optimize, --list-passes and a pipeline naming an unknown pass import nothing', async () => {
    expect(await cli([modelPath, '-o', join(cwd, 'out', 'model.onnx'), '--passes=canonicalize'])).toBe(0);
    expect(existsSync(join(cwd, 'out', 'model.onnx'))).toBe(true);
    expect(await cli(['--list-passes'])).toBe(0);
    // A pass only a trap provides is an unknown pass, not a reason to go looking for it.
    expect(await cli([modelPath, '-o', join(cwd, 'out2', 'model.onnx'), '--passes=onnx-opt-plugin-trap'])).not.toBe(0);
    expect(await cli([modelPath, '-o', join(cwd, 'out2', 'model.onnx'), '--passes=cwd-file'])).not.toBe(0);
    expect(imported()).toEqual([]);
  });

  it('environment variables and config files name no plugins', async () => {
    const env = { ONNX_OPT_PLUGINS: './onnx-opt-plugin.mjs', ONNX_OPT_PLUGIN: 'onnx-opt-plugin-trap', NODE_PATH: join(cwd, 'node_modules') };
    expect(await cli(['--list-passes'], env)).toBe(0);
    const config = join(cwd, 'pipeline.json');
    writeFileSync(config, JSON.stringify({ input: 'model/model.onnx', output: 'out3/model.onnx', passes: ['canonicalize'], plugins: ['./onnx-opt-plugin.mjs'] }));
    // An unknown key is refused (exit 2), not acted on.
    expect(await cli(['--config', config])).toBe(2);
    expect(imported()).toEqual([]);
  });

  it('--plugin loads exactly the file or package it names', async () => {
    expect(await cli(['--plugin', './onnx-opt-plugin.mjs', '--list-passes'])).toBe(0);
    expect(imported()).toEqual(['cwd-file']);
    expect(await cli(['--plugin=onnx-opt-plugin-trap', '--list-passes'])).toBe(0);
    expect(imported()).toEqual(['cwd-file', 'onnx-opt-plugin-trap']);
  });
});
