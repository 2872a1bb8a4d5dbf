/**
 * Issue 17, cases 4–6: a model folder in gives a model folder out, and nothing outside the input
 * folder is read through it (companion symlinks, genai_config.json's decoder.filename); the
 * config is written in the writer's atomic set, so a bad target or a bad config leaves nothing.
 */
import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { saveModel } from '../../src/io/write-model.js';
import { genaiConfig, makeGenaiModel } from '../../src/fixtures/genai.js';
import { loadModel } from '../../src/io/read-model.js';
import { registerBuiltinPasses } from '../../src/passes/builtin.js';
import { entries, expectUsageError, freshDir, runMain, snapshot } from './cli-harness.js';

beforeAll(() => registerBuiltinPasses());

const SMALL = { layers: 2, hidden: 32, heads: 2, kvHeads: 1, intermediate: 32, vocab: 32, seed: 3, kvCache: true } as const;

/** root/G: a genai folder (model.onnx + data, genai_config.json, tokenizer.json); root/outside/secret.txt beside it. */
function genaiFolder(edit: (config: { model: { decoder: Record<string, unknown> } }) => void = () => {}): { root: string; g: string; secret: string } {
  const g = freshDir('G');
  const root = join(g, '..');
  saveModel(makeGenaiModel(SMALL), join(g, 'model.onnx'), { externalData: 'external' });
  const config = genaiConfig(SMALL) as { model: { decoder: Record<string, unknown> } };
  edit(config);
  writeFileSync(join(g, 'genai_config.json'), JSON.stringify(config, null, 4));
  writeFileSync(join(g, 'tokenizer.json'), '{"model":{"type":"BPE"}}');
  mkdirSync(join(root, 'outside'));
  const secret = join(root, 'outside', 'secret.txt');
  writeFileSync(secret, 'root:x:0:0:secret\n');
  return { root, g, secret };
}

describe('model folders', () => {
  it('a folder in, a folder out: model, data, config and tokenizer, all renamed into place (control)', async () => {
    const { root, g } = genaiFolder();
    const before = snapshot(g);
    const r = await runMain([g, '-o', join(root, 'out'), '--passes=dce', '-q']);
    expect(r.code, r.stderr).toBe(0);
    expect([...snapshot(join(root, 'out')).keys()].sort()).toEqual(['genai_config.json', 'model.onnx', 'model.onnx.data', 'tokenizer.json']);
    expect(entries(snapshot(g))).toEqual(entries(before));
    expect(() => loadModel(join(root, 'out', 'model.onnx'))).not.toThrow();
  });

  it('case 4: a companion symlink to a file outside the folder is refused, and no output folder appears', async () => {
    const { root, g, secret } = genaiFolder();
    symlinkSync(secret, join(g, 'x.txt'));
    const before = snapshot(root);
    const r = await runMain([g, '-o', join(root, 'out'), '--passes=dce']);
    expectUsageError(r, /x\.txt: companion file 'x\.txt' leads out of the model folder/);
    expect(entries(snapshot(root))).toEqual(entries(before));
  });

  it('case 4: a companion symlink to /etc/passwd is refused too', async () => {
    const { root, g } = genaiFolder();
    symlinkSync('/etc/passwd', join(g, 'passwd.txt'));
    const before = snapshot(root);
    expectUsageError(await runMain([g, '-o', join(root, 'out'), '--passes=dce']), /passwd\.txt: companion file 'passwd\.txt' leads out of the model folder/);
    expect(entries(snapshot(root))).toEqual(entries(before));
  });

  it('case 4: a symlink to a file inside the folder is copied as that file', async () => {
    const { root, g } = genaiFolder();
    symlinkSync('tokenizer.json', join(g, 'tokenizer-alias.json'));
    const r = await runMain([g, '-o', join(root, 'out'), '--passes=dce', '-q']);
    expect(r.code, r.stderr).toBe(0);
    expect(readFileSync(join(root, 'out', 'tokenizer-alias.json'), 'utf8')).toBe(readFileSync(join(g, 'tokenizer.json'), 'utf8'));
  });

  for (const filename of ['../outside/model.onnx', '/etc/passwd', 'sub/../../outside/model.onnx']) {
    it(`case 5: decoder.filename ${JSON.stringify(filename)} is refused, naming genai_config.json`, async () => {
      const { root, g } = genaiFolder((c) => (c.model.decoder.filename = filename));
      // A loadable model really is there, so only the check stops it.
      saveModel(makeGenaiModel(SMALL), join(root, 'outside', 'model.onnx'));
      const before = snapshot(root);
      const r = await runMain([g, '-o', join(root, 'out'), '--passes=dce']);
      expectUsageError(r, /genai_config\.json: model\.decoder\.filename '.*' (must be a plain file name|leads out)/);
      expect(entries(snapshot(root))).toEqual(entries(before));
    });
  }

  it('case 5: decoder.filename through a symlink out of the folder is refused', async () => {
    const { root, g } = genaiFolder((c) => (c.model.decoder.filename = 'linked.onnx'));
    saveModel(makeGenaiModel(SMALL), join(root, 'outside', 'model.onnx'));
    symlinkSync('../outside/model.onnx', join(g, 'linked.onnx'));
    const before = snapshot(root);
    expectUsageError(await runMain([g, '-o', join(root, 'out'), '--passes=dce']), /model\.decoder\.filename 'linked\.onnx' leads out of the model folder/);
    expect(entries(snapshot(root))).toEqual(entries(before));
  });

  it('case 6: genai_config.json is a directory in the output folder: exit 2, no .tmp, the folder unchanged', async () => {
    const { root, g } = genaiFolder();
    mkdirSync(join(root, 'out', 'genai_config.json'), { recursive: true });
    const before = snapshot(root);
    const r = await runMain([g, '-o', join(root, 'out'), '--passes=dce']);
    expectUsageError(r, /genai_config\.json: genai_config\.json in the output folder is a directory/);
    expect(entries(snapshot(root))).toEqual(entries(before));
  });

  for (const [field, value, message] of [
    ['past_key_names', 5, /model\.decoder\.inputs\.past_key_names must be a name template with one '%d'/],
    ['past_key_names', 'no-template', /model\.decoder\.inputs\.past_key_names must be a name template/],
    ['num_hidden_layers', 'two', /model\.decoder\.num_hidden_layers must be a non-negative integer/],
  ] as const) {
    it(`case 6: ${field} = ${JSON.stringify(value)} is refused before any work, naming the field`, async () => {
      const { root, g } = genaiFolder((c) => {
        if (field === 'past_key_names') (c.model.decoder.inputs as Record<string, unknown>)[field] = value;
        else c.model.decoder[field] = value;
      });
      const before = snapshot(root);
      expectUsageError(await runMain([g, '-o', join(root, 'out'), '--passes=dce']), message);
      expect(entries(snapshot(root))).toEqual(entries(before));
    });
  }

  it('case 6: the same checks hold for a single .onnx whose folder has a genai_config.json', async () => {
    const { root, g } = genaiFolder((c) => ((c.model.decoder.outputs as Record<string, unknown>).present_key_names = ['x']));
    const before = snapshot(root);
    expectUsageError(await runMain([join(g, 'model.onnx'), '-o', join(root, 'out', 'model.onnx'), '--passes=dce']), /present_key_names must be a name template/);
    expect(entries(snapshot(root))).toEqual(entries(before));
  });
});
