import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadModel } from '../../src/io/read-model.js';
import { runCli } from '../helpers/cli.js';
import { TINYLLAMA, TINYLLAMA_EXT, TINYLLAMA_KV, tempDir } from '../helpers/paths.js';

const sha = (p: string) => createHash('sha256').update(readFileSync(p)).digest('hex');

describe('onnx-opt CLI', () => {
  it('optimizes with a pipeline, writes atomically and never touches the input', () => {
    const dir = tempDir();
    const out = join(dir, 'out.onnx');
    const before = { hash: sha(TINYLLAMA_EXT), data: sha(TINYLLAMA_EXT + '.data'), mtime: statSync(TINYLLAMA_EXT).mtimeMs };
    const r = runCli([TINYLLAMA_EXT, '-o', out, '--passes=dce', '--stats']);
    expect(r.stderr).toMatch(/pass statistics:\n {2}dce +[\d.]+ ms {2}(changed|unchanged)/);
    expect(r.code).toBe(0);
    expect(readdirSync(dir).sort()).toEqual(['out.onnx', 'out.onnx.data']);
    expect(loadModel(out).graph.outputs[0]!.name).toBe('logits');
    expect({ hash: sha(TINYLLAMA_EXT), data: sha(TINYLLAMA_EXT + '.data'), mtime: statSync(TINYLLAMA_EXT).mtimeMs }).toEqual(before);
  });

  it('bad input: exit 2, one line naming the file, no stack, no output file', () => {
    const dir = tempDir();
    const bad = join(dir, 'broken.onnx');
    writeFileSync(bad, readFileSync(TINYLLAMA).subarray(0, 5000));
    const out = join(dir, 'out.onnx');
    const r = runCli([bad, '-o', out, '--passes=dce']);
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toContain(bad);
    expect(r.stderr).not.toMatch(/\bat .*\.js:\d+/);
    expect(readdirSync(dir)).toEqual(['broken.onnx']);
  });

  it('--debug shows the stack for the same error', () => {
    const dir = tempDir();
    const bad = join(dir, 'broken.onnx');
    writeFileSync(bad, new Uint8Array([1, 2, 3, 4, 5]));
    const r = runCli([bad, '-o', join(dir, 'o.onnx'), '--debug']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/\bat .*\.js:\d+/);
  });

  it('a bad pipeline is refused before anything is read, naming the position', () => {
    const dir = tempDir();
    const r = runCli([TINYLLAMA, '-o', join(dir, 'o.onnx'), '--passes=dce,nosuch{x=1}']);
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toBe(`onnx-opt: pipeline "dce,nosuch{x=1}": unknown pass 'nosuch'; see --list-passes (at column 5)`);
    expect(readdirSync(dir)).toEqual([]);
  });

  it('usage errors exit 2', () => {
    expect(runCli([TINYLLAMA]).code).toBe(2);
    expect(runCli(['--no-such-flag']).code).toBe(2);
    expect(runCli(['missing.onnx', '-o', '/tmp/x.onnx']).stderr).toMatch(/missing\.onnx: no such file/);
  });

  it('--help works for every command', () => {
    for (const args of [['--help'], ['inspect', '--help']]) {
      const r = runCli(args);
      expect(r.code).toBe(0);
      expect(r.stdout).toContain('onnx-opt');
    }
  });

  it('--list-passes prints passes with options and types', () => {
    const r = runCli(['--list-passes']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^Passes:\n {2}attn-prune\n/);
    for (const p of ['cse', 'dce', 'eliminate-identity', 'ffn-fuse', 'fold-constants', 'infer-shapes']) expect(r.stdout).toContain(`\n  ${p}\n`);
    expect(r.stdout).toContain('count: int  remove this many attention sublayers');
    expect(r.stdout).toContain('protect: int[] = [0,-1]');
    expect(r.stdout).toContain('mode: exact|paper = "exact"');
    expect(r.stdout).toMatch(/canonicalize = fixed-point\{max-steps=8\}\(eliminate-identity,fold-constants,cse,dce\)/);
    expect(r.stdout).toContain('fixed-point{max-steps=10}');
  });

  it('--print-ir-after prints the textual IR', () => {
    const dir = tempDir();
    const r = runCli([TINYLLAMA, '-o', join(dir, 'o.onnx'), '--passes=dce', '--print-ir-after=all']);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain('// ----- IR after dce');
    expect(r.stderr).toMatch(/%logits = MatMul\(%\S+, %\S+\) : f32\[batch_size,sequence_length,256\]/);
  });

  it('--json prints only JSON on stdout', () => {
    const dir = tempDir();
    const r = runCli([TINYLLAMA, '-o', join(dir, 'o.onnx'), '--passes=dce', '--json']);
    expect(r.code).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j.pipeline).toBe('dce');
    expect(j.passes[0].pass).toBe('dce');
  });

  it('inspect prints histogram, signature, parameters and external data', () => {
    const r = runCli(['inspect', TINYLLAMA_EXT]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('input_ids: i64[batch_size,sequence_length]');
    expect(r.stdout).toContain('logits: f32[batch_size,sequence_length,256]');
    expect(r.stdout).toMatch(/model\.onnx\.data: 114 tensors/);
    const j = JSON.parse(runCli(['inspect', TINYLLAMA, '--json']).stdout);
    expect(j.parameters).toBeGreaterThan(1_600_000);
    expect(j.opHistogram.MatMul).toBe(145);
  });

  it('loads a plugin named on the command line and runs its pass', () => {
    const dir = tempDir();
    const out = join(dir, 'o.onnx');
    const r = runCli([TINYLLAMA, '-o', out, '--plugin', './examples/plugins/strip-doc-strings.mjs', '--passes=strip-doc-strings{keep-graph=false}', '--stats']);
    expect(r.stderr).toMatch(/strip-doc-strings\{keep-graph=false\}.*doc strings removed: \d+/);
    expect(r.code).toBe(0);
    expect(existsSync(out)).toBe(true);
    expect(runCli(['--plugin', './examples/plugins/strip-doc-strings.mjs', '--list-passes']).stdout).toContain("keep-graph: bool = true  keep the graph's own doc string");
    expect(runCli(['--plugin', './nope.mjs', '--list-passes']).code).toBe(2);
  });
});

describe('--target', () => {
  it('the pruned real model passes the cuda check; a CPU-only op fails it with exit 2 and writes nothing', async () => {
    const dir = tempDir();
    const ok = runCli([TINYLLAMA, '-o', join(dir, 'ok.onnx'), '--passes=attn-prune{layers=[4]}', '--target=cuda', '--calib-sequences=1']);
    expect(ok.code).toBe(0);
    const { GraphBuilder } = await import('../../src/ir/builder.js');
    const { DataType } = await import('../../src/ir/dtype.js');
    const { saveModel } = await import('../../src/io/write-model.js');
    const b = new GraphBuilder();
    const x = b.input('x', DataType.FLOAT, [4]);
    b.output(b.op('Unique', [x], {}, { name: 'dedupe' }), 'y');
    const cpuOnly = join(dir, 'cpu-only.onnx');
    saveModel(b.build(), cpuOnly);
    const bad = runCli([cpuOnly, '-o', join(dir, 'out.onnx'), '--target=cuda']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/dedupe/);
    expect(bad.stderr).toMatch(/CUDA/);
    expect(existsSync(join(dir, 'out.onnx'))).toBe(false);
    const warn = runCli([cpuOnly, '-o', join(dir, 'out.onnx'), '--target=any']);
    expect(warn.code).toBe(0);
    expect(warn.stderr).toMatch(/dedupe/);
  });
});

describe('onnx-opt codegen', () => {
  it('writes a typed runner with generate() for a decoder', () => {
    const dir = tempDir();
    const out = join(dir, 'runner.ts');
    const r = runCli(['codegen', TINYLLAMA_KV, '-o', out]);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/class Tinyllama16lKvRunner, 33 inputs, generate\(\) with 32 cache pairs/);
    const src = readFileSync(out, 'utf8');
    expect(src).toContain('generated by onnx-opt');
    expect(src).toContain(`sha256: ${sha(TINYLLAMA_KV)}`);
  });
});
