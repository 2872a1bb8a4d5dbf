import { describe, expect, it } from 'vitest';
import { makeLlamaModel } from '../../../src/fixtures/llama.js';
import { cloneModel } from '../../../src/ir/clone.js';
import { registerBuiltinPasses } from '../../../src/passes/builtin.js';
import { runPipeline } from '../../../src/passes/pass-manager.js';
import { buildReport, modelFacts } from '../../../src/report/build.js';
import { num, renderHtmlReport } from '../../../src/report/render-html.js';
import type { CalibrationData } from '../../../src/runtime/calibration/types.js';

registerBuiltinPasses();

function tokens(seed: number, rows: number): CalibrationData {
  let s = seed >>> 0;
  const next = () => ((s = (s * 1664525 + 1013904223) >>> 0), (s >>> 16) % 64);
  const sequences = Array.from({ length: rows }, () => Array.from({ length: 32 }, next));
  return { sequences, source: { kind: 'jsonl', numSequences: rows, sequenceLength: 32, description: `random tokens, seed ${seed}` } };
}

describe('the report shows what healing bought', () => {
  it('JSON carries heal.runs, and the HTML page a Healing section with held-out KL before and after', async () => {
    const original = makeLlamaModel({ layers: 6, hidden: 32, heads: 4, kvHeads: 2, intermediate: 64, vocab: 64, seed: 3 });
    const model = cloneModel(original);
    const pipeline = 'attn-prune{layers=[2,3]},ffn-fuse{groups=[[2,3]]},heal';
    const run = await runPipeline(model, pipeline, { services: { calibration: tokens(1, 32), heldout: tokens(2, 12) } });
    const report = buildReport({ input: 'in.onnx', output: 'out.onnx', pipeline, before: modelFacts(original), after: modelFacts(model), run });
    const h = report.heal!.runs[0]!;
    expect(h.segments.length).toBe(2);
    expect(JSON.parse(JSON.stringify(report)).heal.runs[0].klAfter).toBe(h.klAfter);
    const html = renderHtmlReport(report);
    expect(html).toContain('<h2>Healing</h2>');
    expect(html).toContain(`held-out KL ${num(h.klBefore)} → <b>${num(h.klAfter)}</b>`);
    expect(html).toContain('fused FFN 2–3');
    expect(html).toContain('FFN 1 (before removed attention 2)');
    expect(html).toContain('checked on random tokens, seed 2');
    // Without healing there is no section.
    const plain = buildReport({ input: 'in.onnx', output: 'out.onnx', pipeline: 'dce', before: modelFacts(original), after: modelFacts(original), run: { modified: false, timings: [], report: {} } });
    expect(renderHtmlReport(plain)).not.toContain('Healing');
  });
});
