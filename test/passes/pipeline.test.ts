import { describe, expect, it } from 'vitest';
import { OnnxOptError } from '../../src/errors.js';
import { GraphBuilder } from '../../src/ir/builder.js';
import { DataType } from '../../src/ir/dtype.js';
import { dce } from '../../src/passes/canonicalize/dce.js';
import { definePass } from '../../src/passes/pass.js';
import { buildPipeline, runPipeline } from '../../src/passes/pass-manager.js';
import { parsePipeline, printPipeline } from '../../src/passes/pipeline.js';
import { PassRegistry } from '../../src/passes/registry.js';

const knobs = definePass({
  name: 'knobs',
  summary: 'a pass with every option type',
  options: {
    count: { type: 'int', default: 0, description: 'n' },
    ratio: { type: 'float', default: 0.5, description: 'r' },
    flag: { type: 'bool', default: false, description: 'f' },
    mode: { type: 'enum', values: ['exact', 'paper'], default: 'exact', description: 'm' },
    protect: { type: 'int-list', default: [0, -1], description: 'p' },
    groups: { type: 'int-list-list', default: [], description: 'g' },
  },
  run: (_m, ctx, o) => {
    ctx.report.knobs = o;
    return { modified: false };
  },
});

function registry() {
  const r = new PassRegistry();
  r.register(dce);
  r.register(knobs);
  return r;
}

function tinyModel() {
  const b = new GraphBuilder();
  const x = b.input('x', DataType.FLOAT, [2]);
  b.op('Neg', [x], {}, { name: 'dead' });
  b.output(b.op('Relu', [x]), 'y');
  return b.build();
}

describe('textual pipeline', () => {
  it('parses and prints back the same string', () => {
    for (const text of [
      'canonicalize,attn-prune{count=4,protect=[0,15]},ffn-fuse{max-run=8}',
      'ffn-fuse{groups=[[4,7],[9,12]]}',
      'fixed-point{max-steps=3}(cse,dce),dce',
      '',
    ]) {
      expect(printPipeline(parsePipeline(text))).toBe(text);
    }
  });

  it('validates typed options', () => {
    const model = tinyModel();
    return runPipeline(model, 'knobs{count=4,ratio=0.25,flag=true,mode=paper,protect=[0,15],groups=[[4,7],[9,12]]}', { registry: registry() }).then((r) => {
      expect(r.report.knobs).toEqual({ count: 4, ratio: 0.25, flag: true, mode: 'paper', protect: [0, 15], groups: [[4, 7], [9, 12]] });
    });
  });

  it('names the position of unknown passes and bad options', () => {
    const cases: [string, RegExp][] = [
      ['dce,nope', /unknown pass 'nope'.*column 5/],
      ['knobs{count=x}', /option 'count' of 'knobs' expects an integer, got 'x' \(at column 1\)/],
      ['dce,knobs{mode=fast}', /expects one of exact\|paper.*column 5/],
      ['knobs{protect=[a]}', /list of integers/],
      ['knobs{bogus=1}', /has no option 'bogus'/],
      ['knobs{count=1', /expected '}' but the pipeline ended \(at column 14\)/],
      ['dce,,dce', /expected a pass name but found ',' \(at column 5\)/],
      ['knobs{count=1,count=2}', /option 'count' is given twice/],
      ['fixed-point{max-steps=0}(dce)', /positive integer/],
    ];
    for (const [text, re] of cases) {
      let err: unknown;
      try {
        buildPipeline(text, registry());
      } catch (e) {
        err = e;
      }
      expect(err, text).toBeInstanceOf(OnnxOptError);
      expect((err as Error).message, text).toMatch(re);
    }
  });

  it('expands aliases', () => {
    const r = registry();
    r.registerAlias('cleanup', 'fixed-point(dce)', 'test alias');
    const steps = buildPipeline('cleanup,knobs', r);
    expect(steps.map((s) => s.kind)).toEqual(['fixed-point', 'pass']);
  });
});

describe('pass manager', () => {
  it('repeats a fixed-point group until nothing changes, capped by max-steps', async () => {
    let calls = 0;
    const r = registry();
    r.register(definePass({ name: 'always', summary: 'claims a change every time', run: () => (calls++, { modified: true }) }));
    await runPipeline(tinyModel(), 'fixed-point{max-steps=4}(always)', { registry: r });
    expect(calls).toBe(4);
    calls = 0;
    r.register(definePass({ name: 'twice', summary: 'changes twice', run: () => ({ modified: ++calls < 3 }) }));
    await runPipeline(tinyModel(), 'fixed-point{max-steps=10}(twice)', { registry: r });
    expect(calls).toBe(3);
  });

  it('records timing and statistics per pass', async () => {
    const run = await runPipeline(tinyModel(), 'dce', { registry: registry() });
    expect(run.timings).toHaveLength(1);
    expect(run.timings[0]).toMatchObject({ pass: 'dce', modified: true, stats: { 'nodes removed': 1 } });
  });

  it('--verify-each names the pass that broke the IR', async () => {
    const r = registry();
    r.register(
      definePass({
        name: 'breaker',
        summary: 'corrupts a use list',
        run: (m) => {
          m.graph.inputs[0]!.uses.length = 0;
          return { modified: true };
        },
      }),
    );
    await expect(runPipeline(tinyModel(), 'dce,breaker', { registry: r, verifyEach: true })).rejects.toThrow(/IR verification failed after 'breaker'/);
  });

  it('prints a one-line reproducer when a pass throws', async () => {
    const r = registry();
    r.register(definePass({ name: 'boom', summary: 'throws', run: () => { throw new Error('kaput'); } }));
    const err = await runPipeline(tinyModel(), 'dce,boom', { registry: r, reproducer: (p) => `onnx-opt m.onnx -o o.onnx --passes='${p}'` }).catch((e) => e);
    expect(err).toBeInstanceOf(OnnxOptError);
    expect(err.message).toBe("pass 'boom' failed: kaput. Reproduce with: onnx-opt m.onnx -o o.onnx --passes='dce,boom'");
  });

  it('--print-ir-after=changed prints only after passes that changed something', async () => {
    const out: string[] = [];
    await runPipeline(tinyModel(), 'dce,dce', { registry: registry(), printIrAfter: 'changed', print: (t) => out.push(t) });
    expect(out).toHaveLength(1);
    expect(out[0]).toContain('IR after dce');
  });
});
