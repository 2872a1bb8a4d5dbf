/**
 * Issue 17, cases 10–12: option ranges enforced by the parser with the option named; user-caused
 * failures exit 2, not 3; `--plugin=` after `--` is not imported; `--print-ir-after` refuses
 * names that print nothing; a golden set that checks nothing fails; the verifier rejects nodes
 * with an empty op type, and a pipeline that produces one writes nothing.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { DataType } from '../../src/ir/dtype.js';
import { Model } from '../../src/ir/model.js';
import { Tensor } from '../../src/ir/tensor.js';
import { verifyModel } from '../../src/ir/verifier.js';
import { loadModel } from '../../src/io/read-model.js';
import { registerBuiltinPasses } from '../../src/passes/builtin.js';
import { parseOptionValue } from '../../src/passes/options.js';
import { writeTensorFile } from '../../src/verify/golden.js';
import { entries, expectUsageError, freshDir, runMain, snapshot, writeTinyModel } from './cli-harness.js';

beforeAll(() => registerBuiltinPasses());

function input(): [string, string] {
  const d = freshDir('d');
  return [d, writeTinyModel(join(d, 'model.onnx'))];
}

/** Runs the optimize command and expects exit 2 with `message`, and the folder unchanged. */
async function refused(args: (model: string, dir: string) => string[], message: RegExp): Promise<void> {
  const [d, model] = input();
  const before = snapshot(d);
  expectUsageError(await runMain(args(model, d)), message);
  expect(entries(snapshot(d))).toEqual(entries(before));
}

describe('option ranges (case 10)', () => {
  for (const [pipeline, message] of [
    ['attn-prune{count=-3}', /option 'count' of 'attn-prune' expects a value of at least 0, got -3/],
    ['attn-prune{ratio=1.5}', /option 'ratio' of 'attn-prune' expects a value between 0 and 1, got 1\.5/],
    ['attn-prune{max-kl=-0.1}', /option 'max-kl' of 'attn-prune' expects a value of at least 0/],
    ['ffn-fuse{max-group=-5}', /option 'max-group' of 'ffn-fuse' expects a value of at least 2, got -5/],
    ['ffn-fuse{min-group=-2}', /option 'min-group' of 'ffn-fuse' expects a value of at least 2, got -2/],
    ['ffn-fuse{min-group=1}', /option 'min-group' of 'ffn-fuse' expects a value of at least 2, got 1/],
    ['ffn-fuse{groups=[[-1,2]]}', /option 'groups' of 'ffn-fuse' expects items of at least 0, got -1/],
  ] as const) {
    it(`${pipeline}: exit 2 naming the option, nothing written`, () => refused((m, d) => [m, '-o', join(d, 'o.onnx'), `--passes=${pipeline}`], message));
  }

  for (const size of ['-5', 'abc', '0', '1.5']) {
    it(`--shard-size ${size}: exit 2`, () => refused((m, d) => [m, '-o', join(d, 'o.onnx'), '--passes=dce', '--shard-size', size], new RegExp(`--shard-size expects a positive whole number of bytes, got '${size.replace('.', '\\.')}'`)));
  }

  it('values at the ends of a range are accepted', () => {
    expect(parseOptionValue({ type: 'int', description: '', min: 0 }, '0')).toEqual({ value: 0 });
    expect(parseOptionValue({ type: 'float', description: '', min: 0, max: 1 }, '1')).toEqual({ value: 1 });
    expect(parseOptionValue({ type: 'int-list', description: '' }, '[0,-1]')).toEqual({ value: [0, -1] }); // no range: negatives count from the end
  });
});

describe('user errors exit 2, not 3 (case 11)', () => {
  it('-o under a regular file (optimize)', () => refused((m, d) => [m, '-o', join(d, 'model.onnx', 'out.onnx'), '--passes=dce'], /out\.onnx: cannot create the output: .*model\.onnx is a regular file, not a folder/));
  it('-o under a regular file (codegen)', () => refused((m, d) => ['codegen', m, '-o', join(d, 'model.onnx', 'r.ts')], /r\.ts: cannot create the output: .*model\.onnx is a regular file/));
  it('-o under a regular file (golden make)', () => refused((m, d) => ['golden', 'make', m, '-o', join(d, 'model.onnx', 'g')], /g: cannot create the output: .*model\.onnx is a regular file/));
  it('--report under a regular file', () => refused((m, d) => [m, '-o', join(d, 'o.onnx'), '--passes=dce', '--report', join(d, 'model.onnx', 'r.json')], /r\.json: cannot create the output/));

  it('--config that is a device, and golden check given a file for its folder', async () => {
    const [d, model] = input();
    execFileSync('mknod', [join(d, 'cfg.json'), 'c', '1', '5']);
    const before = snapshot(d);
    expectUsageError(await runMain(['--config', join(d, 'cfg.json')]), /cfg\.json: is a character device, not a regular file/);
    expectUsageError(await runMain(['golden', 'check', model, model]), /model\.onnx: is a file; golden check takes the folder/);
    expect(entries(snapshot(d))).toEqual(entries(before));
  });

  it('golden check with a data-set file that is a symlink to /dev/zero: exit 2', async () => {
    const [d, model] = input();
    mkdirSync(join(d, 'test_data_set_0'));
    symlinkSync('/dev/zero', join(d, 'test_data_set_0', 'input_0.pb'));
    expectUsageError(await runMain(['golden', 'check', model, d]), /input_0\.pb: is a character device, not a regular file/);
  });

  it('a plugin whose factory throws', async () => {
    const [d, model] = input();
    const plugin = join(freshDir('p'), 'throws.mjs');
    writeFileSync(plugin, "export default () => { throw new Error('boom in the factory'); };\n");
    const before = snapshot(d);
    expectUsageError(await runMain(['--plugin', plugin, model, '-o', join(d, 'o.onnx'), '--passes=dce']), /plugin '.*throws\.mjs': its default export threw: boom in the factory/);
    expect(entries(snapshot(d))).toEqual(entries(before));
  });
});

describe('plugins, IR printing, golden checks, the verifier (case 12)', () => {
  it('--plugin= after -- is not imported', async () => {
    const [d, model] = input();
    const p = freshDir('p');
    const marker = join(p, 'imported');
    writeFileSync(join(p, 'trap.mjs'), `import { writeFileSync } from 'node:fs';\nwriteFileSync(${JSON.stringify(marker)}, 'x');\nexport default () => [];\n`);
    await runMain([model, '-o', join(d, 'o.onnx'), '--passes=dce', '-q', '--', `--plugin=${join(p, 'trap.mjs')}`]);
    expect(existsSync(marker)).toBe(false);
    // The same plugin before -- is imported (the trap works).
    await runMain([`--plugin=${join(p, 'trap.mjs')}`, model, '-o', join(d, 'o2.onnx'), '--passes=dce', '-q']);
    expect(existsSync(marker)).toBe(true);
  });

  it('--plugin= with no value: exit 2', () => refused((m, d) => ['--plugin=', m, '-o', join(d, 'o.onnx'), '--passes=dce'], /--plugin= needs a module path or package name/));

  it('--print-ir-after with an unknown pass: exit 2 listing the pipeline’s passes, nothing written', () =>
    refused((m, d) => [m, '-o', join(d, 'o.onnx'), '--passes=dce,cse', '--print-ir-after=dcee'], /--print-ir-after: 'dcee' is not a pass of this pipeline \(passes: dce, cse; or all, changed\)/));

  it('--print-ir-after with a pass of the pipeline prints its IR (control)', async () => {
    const [d, model] = input();
    const r = await runMain([model, '-o', join(d, 'o.onnx'), '--passes=dce,cse', '--print-ir-after=cse', '-q']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/----- IR after cse/);
    expect(r.stderr).not.toMatch(/----- IR after dce/);
  });

  it('golden check: a set whose outputs match none of the model’s fails (exit 1), naming the set', async () => {
    const [d, model] = input();
    const g = join(d, 'golden');
    expect((await runMain(['golden', 'make', model, '-o', g, '--calib-sequences=2', '--calib-length=4'])).code).toBe(0);
    expect((await runMain(['golden', 'check', model, g])).code).toBe(0); // control: it passes as made
    const set1 = join(g, 'test_data_set_1');
    for (const f of readdirSync(set1).filter((f) => f.startsWith('output_'))) rmSync(join(set1, f));
    writeTensorFile(join(set1, 'output_0.pb'), Tensor.fromArray('not_an_output', DataType.FLOAT, [1], Float32Array.of(0)));
    const r = await runMain(['golden', 'check', model, g]);
    expect(r.code, r.stdout + r.stderr).toBe(1);
    expect(r.stdout).toMatch(/FAILED/);
    expect(r.stdout).toMatch(/set 1 \(none\): none of its 1 output file\(s\) \(not_an_output\) names an output of the model/);
  });

  it('the verifier rejects a node with an empty op type', () => {
    const [, model] = input();
    const m: Model = loadModel(model);
    const node = [...m.graph.allNodes()][0]!;
    expect(verifyModel(m)).toEqual([]);
    node.opType = '';
    expect(verifyModel(m, { structuralOnly: true }).map((p) => p.message)).toEqual([expect.stringMatching(/has an empty op type/)]);
  });

  it('a plugin pass that empties an op type: exit 2, nothing written', async () => {
    const p = join(freshDir('p'), 'blank-op.mjs');
    writeFileSync(
      p,
      `const pass = { name: 'blank-op-type', options: {}, run(model) { for (const n of model.graph.allNodes()) { n.opType = ''; break; } return { modified: true }; } };
export default () => [{ name: 'blank-op-type', summary: 'empties the first node\\'s op type', options: {}, create: () => pass }];\n`,
    );
    await refused((m, d) => ['--plugin', p, m, '-o', join(d, 'o.onnx'), '--passes=blank-op-type'], /the pipeline produced an invalid model, so nothing was written: node .* has an empty op type/);
  });
});
