import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { defaultRegistry } from '../src/passes/registry.js';
import { registerBuiltinPasses } from '../src/passes/builtin.js';
import { TINYLLAMA, tempDir } from './helpers/paths.js';

const README = readFileSync(resolve(import.meta.dirname, '../README.md'), 'utf8');

describe('README stays true', () => {
  it('documents every built-in pass and each of its options', () => {
    registerBuiltinPasses();
    for (const def of defaultRegistry.list()) {
      const section = README.split(`### \`${def.name}\``)[1]?.split('\n### ')[0];
      expect(section, `README section for ${def.name}`).toBeDefined();
      for (const opt of Object.keys(def.options)) expect(section, `${def.name} option ${opt}`).toContain(`\`${opt}\``);
    }
  });

  it('the API example runs as written', async () => {
    const code = README.split('## API')[1]!.split('```ts\n')[1]!.split('```')[0]!;
    const dir = tempDir();
    const file = join(import.meta.dirname, `.readme-example-${process.pid}.ts`);
    const src = code
      .replace(`from 'onnx-opt'`, `from '../src/index.js'`)
      .replace(`loadModel('model.onnx')`, `loadModel(${JSON.stringify(TINYLLAMA)})`)
      .replace(`'out.onnx'`, JSON.stringify(join(dir, 'out.onnx')))
      .replace(/console\.(log|error)/g, '((..._a: unknown[]) => {})');
    writeFileSync(file, src);
    try {
      await import(file);
    } finally {
      rmSync(file, { force: true });
    }
    expect(readFileSync(join(dir, 'out.onnx')).byteLength).toBeGreaterThan(10_000);
  });
});
