import { describe, expect, it } from 'vitest';
import { OnnxOptError } from '../../src/errors.js';
import { loadModel } from '../../src/io/read-model.js';
import { dce } from '../../src/passes/canonicalize/dce.js';
import type { PassInstrument } from '../../src/passes/instrumentation.js';
import { definePass } from '../../src/passes/pass.js';
import { runPipeline } from '../../src/passes/pass-manager.js';
import { PassRegistry } from '../../src/passes/registry.js';
import { TINYLLAMA } from '../helpers/paths.js';

const crash = definePass({
  name: 'crash',
  summary: 'throws',
  run() {
    throw new Error('kaput');
  },
});

/** Cuts the logits' producer off the graph: the verifier must catch it. */
const breakIr = definePass({
  name: 'break-ir',
  summary: 'leaves a graph output without a producer',
  run(model) {
    const out = model.graph.outputs[0]!;
    model.graph.removeNode(out.producer!, { force: true });
    return { modified: true };
  },
});

function registry(): PassRegistry {
  const r = new PassRegistry();
  for (const d of [dce, crash, breakIr]) r.register(d);
  return r;
}

/** Logs every hook call as `hook:pass-text`. */
function logger(events: string[]): PassInstrument {
  return {
    before: (s) => void events.push(`before:${s.text}`),
    after: (s, r) => void events.push(`after:${s.text}:${r.modified ? 'changed' : 'unchanged'}`),
    onError: (s, e) => void events.push(`error:${s.text}:${(e as Error).message}`),
  };
}

describe('pass instrumentation', () => {
  it('runs before/after hooks around every pass, fixed-point repeats included, beside timing', async () => {
    const events: string[] = [];
    const run = await runPipeline(loadModel(TINYLLAMA), 'dce,fixed-point(dce)', { registry: registry(), instruments: [logger(events)] });
    expect(events).toEqual(['before:dce', 'after:dce:unchanged', 'before:dce', 'after:dce:unchanged']);
    expect(run.timings.map((t) => t.pass)).toEqual(['dce', 'dce']);
    expect(run.timings.every((t) => t.ms >= 0 && !t.modified)).toBe(true);
  });

  it('onError sees the raw error; the reproducer still wraps it into one PASS line', async () => {
    const events: string[] = [];
    const err = await runPipeline(loadModel(TINYLLAMA), 'dce,crash', { registry: registry(), instruments: [logger(events)], reproducer: (p) => `again --passes=${p}` }).catch((e) => e);
    expect(events).toEqual(['before:dce', 'after:dce:unchanged', 'before:crash', 'error:crash:kaput']);
    expect(err).toBeInstanceOf(OnnxOptError);
    expect(err.code).toBe('PASS');
    expect(err.message).toBe("pass 'crash' failed: kaput. Reproduce with: again --passes=dce,crash");
    expect((err.cause as Error).message).toBe('kaput');
  });

  it('verify-each stops at the pass that broke the IR, before later hooks and passes', async () => {
    const events: string[] = [];
    const err = await runPipeline(loadModel(TINYLLAMA), 'break-ir,dce', { registry: registry(), verifyEach: true, instruments: [logger(events)] }).catch((e) => e);
    expect(err).toBeInstanceOf(OnnxOptError);
    expect(err.message).toMatch(/^IR verification failed after 'break-ir'/);
    expect(events).toEqual(['before:break-ir']);
  });
});
