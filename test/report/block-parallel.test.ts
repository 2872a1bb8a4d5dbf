import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadModel } from '../../src/io/read-model.js';
import { registerBuiltinPasses } from '../../src/passes/builtin.js';
import type { HealReport } from '../../src/passes/heal/heal.js';
import { runPipeline } from '../../src/passes/pass-manager.js';
import { buildReport, modelFacts } from '../../src/report/build.js';
import { num, renderHtmlReport } from '../../src/report/render-html.js';
import type { OptimizationReport } from '../../src/report/schema.js';
import type { CalibrationData } from '../../src/runtime/calibration/types.js';
import { copyModel } from '../../src/runtime/probes.js';

registerBuiltinPasses();

const LLAMA_KV = join(import.meta.dirname, '../fixtures/exports/optimum/llama-kv/model.onnx');

/** Deterministic tokens below the export's vocabulary (128). */
function tokens(seed: number, rows: number): CalibrationData {
  let s = seed >>> 0;
  const next = () => ((s = (s * 1664525 + 1013904223) >>> 0), (s >>> 16) % 128);
  const sequences = Array.from({ length: rows }, () => Array.from({ length: 24 }, next));
  return { sequences, source: { kind: 'jsonl', numSequences: rows, sequenceLength: 24, description: `random tokens, seed ${seed}` } };
}

async function reportOf(pipeline: string): Promise<OptimizationReport> {
  const original = await loadModel(LLAMA_KV);
  const model = copyModel(original);
  const run = await runPipeline(model, pipeline, { services: { calibration: tokens(1, 8), heldout: tokens(2, 4) } });
  return buildReport({ input: 'in.onnx', output: 'out.onnx', pipeline, before: modelFacts(original), after: modelFacts(model), run });
}

describe('the report shows block-parallel', () => {
  it('a scored window with merged heads: JSON blockParallel with M_max/M_sum, matrix and cache changes; an HTML Parallel blocks section', async () => {
    const report = await reportOf('block-parallel{window=2,count=1}');
    const b = report.blockParallel!;
    expect(b.windows).toHaveLength(1);
    const w = b.windows[0]!;
    // protect=[0,-1] leaves [1,2] the only candidate on the 4-layer export.
    expect(w.window).toEqual([1, 2]);
    expect(Number.isFinite(w.mMax)).toBe(true);
    expect(w.heads).toBe(4);
    expect(b.matrix!.layers).toEqual([1, 2]);
    expect(b.cache.removedInputs).toEqual(['past_key_values.2.key', 'past_key_values.2.value']);
    expect(b.cache.resized.map((r) => r.name)).toEqual(['past_key_values.1.key', 'past_key_values.1.value', 'present.1.key', 'present.1.value']);
    expect([b.depthBefore, b.depthAfter]).toEqual([8, 6]);
    expect(report.after.depth).toBe(6);
    // What --report out.json writes reads back the same.
    expect(JSON.parse(JSON.stringify(report)).blockParallel.windows[0].mMax).toBe(w.mMax);
    const html = renderHtmlReport(report);
    expect(html).toContain('<h2>Parallel blocks</h2>');
    expect(html).toContain(`<tr data-window="1-2"><td>1–2</td><td>${num(w.mMax)}</td><td>${num(w.mSum)}</td><td class="l">one attention, 4 heads (2 KV)</td><td>fused</td></tr>`);
    expect(html).toMatch(/id="block-parallel-cache"><b>KV cache:<\/b> removed inputs <code>past_key_values\.2\.key, past_key_values\.2\.value<\/code>/);
    expect(html).toContain('<b>Depth:</b> 8 → 6');
  });

  it('explicit windows with separate attentions, then heal: no scores, and heal sees the window, not a removed attention', async () => {
    const report = await reportOf('block-parallel{windows=[[1,2]],merge-heads=false},heal');
    const b = report.blockParallel!;
    expect(b.matrix).toBeUndefined();
    expect(b.windows).toEqual([{ window: [1, 2], ffnFused: true }]);
    expect(b.cache).toEqual({ removedInputs: [], removedOutputs: [], resized: [] });
    // The window keeps both attentions: the report's facts count them.
    expect(report.after.attentionSublayers).toBe(report.before.attentionSublayers);
    expect([report.before.layers, report.after.layers]).toEqual([4, 4]);
    const heal = (report.heal as HealReport).runs[0]!;
    expect(heal.segments.map((s) => [s.kind, s.layers, s.removedAttention])).toEqual([['fused-ffn', [1, 2], []]]);
    const html = renderHtmlReport(report);
    expect(html).toContain('<td class="l">attentions side by side</td>');
    expect(html).toContain('explicit windows (not scored)');
    expect(html).not.toContain('before removed attention');
  });
});
