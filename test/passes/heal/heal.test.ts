import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { makeDynamoModel } from '../../../src/fixtures/dynamo.js';
import { makeGenaiModel } from '../../../src/fixtures/genai.js';
import { makeLlamaModel } from '../../../src/fixtures/llama.js';
import { loadModel } from '../../../src/io/read-model.js';
import { serializeModel } from '../../../src/io/write-model.js';
import { cloneModel } from '../../../src/ir/clone.js';
import type { Model } from '../../../src/ir/model.js';
import { verifyModel } from '../../../src/ir/verifier.js';
import { analyzeDecoder } from '../../../src/passes/analysis/analyze-decoder.js';
import { registerBuiltinPasses } from '../../../src/passes/builtin.js';
import { collectEquations } from '../../../src/passes/heal/collect.js';
import type { HealReport, HealRun } from '../../../src/passes/heal/heal.js';
import { ProbedModel } from '../../../src/passes/heal/runners.js';
import { changedSegments, siteOf, type HealSegment, type SegmentSite } from '../../../src/passes/heal/segments.js';
import type { PassServices } from '../../../src/passes/pass.js';
import { runPipeline } from '../../../src/passes/pass-manager.js';
import type { CalibrationData } from '../../../src/runtime/calibration/types.js';

registerBuiltinPasses();

/** Seeded random token rows: calibration and held-out data drawn from the same distribution. */
function tokens(seed: number, rows: number, length: number, vocab: number, what: string): CalibrationData {
  let s = seed >>> 0;
  const next = () => ((s = (s * 1664525 + 1013904223) >>> 0), (s >>> 16) % vocab);
  const sequences = Array.from({ length: rows }, () => Array.from({ length }, next));
  return { sequences, source: { kind: 'jsonl', numSequences: rows, sequenceLength: length, description: `${what}: ${rows} × ${length} random tokens (seed ${seed})` } };
}

const LLAMA = { layers: 6, hidden: 32, heads: 4, kvHeads: 2, intermediate: 64, vocab: 64, seed: 3 };
const calib = () => tokens(1, 32, 32, LLAMA.vocab, 'calib');
const heldout = () => tokens(2, 12, 32, LLAMA.vocab, 'heldout');

async function optimize(original: Model, pipeline: string, services: PassServices = {}) {
  const model = cloneModel(original);
  const logs: string[] = [];
  const run = await runPipeline(model, pipeline, { log: (m) => logs.push(m), services: { calibration: calib(), heldout: heldout(), ...services } });
  expect(verifyModel(model)).toEqual([]);
  return { model, run, logs, heal: (run.report.heal as HealReport | undefined)?.runs ?? [] };
}

const opTypes = (m: Model) => [...m.graph.allNodes()].map((n) => n.opType);

/** The stream miss a segment's fit sees on `model` now (Δ = 0): ‖R‖² over the calibration tokens. */
async function missNow(reference: Model, model: Model, seg: HealSegment, data: CalibrationData = calib()): Promise<number> {
  const site = siteOf(analyzeDecoder(model).layers.find((l) => l.index === seg.layer)!, seg.part) as SegmentSite;
  const ref = await ProbedModel.open(reference, [seg.target.name], {});
  const cur = await ProbedModel.open(model, [site.input.name, site.streamBefore.name, site.increment.name], {});
  try {
    return (await collectEquations(ref, cur, site, seg.target.name, data.sequences, {})).residualSquares;
  } finally {
    await cur.release();
    await ref.release();
  }
}

describe('heal on generator models', () => {
  const PIPELINE = 'attn-prune{layers=[2,3]},ffn-fuse{groups=[[2,3]]}';

  it('finds the changed segments in stream order: the FFN before a removed attention, then the fused FFN', () => {
    const original = makeLlamaModel(LLAMA);
    const model = cloneModel(original);
    return runPipeline(model, PIPELINE, { services: { calibration: calib() } }).then(() => {
      const segs = changedSegments(analyzeDecoder(original), analyzeDecoder(model)) as HealSegment[];
      expect(segs.map((s) => [s.kind, s.part, s.span, s.removedAttention])).toEqual([
        ['removed-attention', 'ffn', [1, 1], [2]],
        ['fused-ffn', 'ffn', [2, 3], []],
      ]);
      // Targets: the reference's stream where the next sublayer starts (layer 2's FFN input, layer 4's input).
      const ref = analyzeDecoder(original);
      expect(segs[0]!.target).toBe(ref.layers[2]!.residualMid);
      expect(segs[1]!.target).toBe(ref.layers[4]!.residualIn);
      expect(changedSegments(ref, analyzeDecoder(original))).toEqual([]);
    });
  });

  it('lowers held-out KL, merges exactly the fitted correction, adds no node and leaves the input untouched', async () => {
    const original = makeLlamaModel(LLAMA);
    const bytesBefore = serializeModel(original);
    const plain = await optimize(original, PIPELINE);
    const healed = await optimize(original, `${PIPELINE},heal`);
    const run = healed.heal[0]!;
    expect(run.by).toBe('heal');
    expect(run.weakCheck).toBe(false);
    expect(run.segments.length).toBe(2);
    expect(run.segments.some((s) => s.applied)).toBe(true);
    expect(run.klAfter!).toBeLessThan(run.klBefore!);
    // The unhealed pipeline's KL on the same held-out tokens is the healing's starting point.
    for (const s of run.segments) {
      expect(s.tokens).toBe(32 * 32);
      expect(s.reason).toMatch(s.applied ? /held-out KL/ : /not applied/);
      if (s.applied) expect(s.klAfter!).toBeLessThan(s.klBefore!);
    }
    // No new node: the same ops in the same order as without healing; only weights differ.
    expect(opTypes(healed.model)).toEqual(opTypes(plain.model));
    const healedWeights = [...healed.model.graph.initializers.keys()].filter((n) => n.endsWith('.healed'));
    expect(healedWeights.length).toBe(run.segments.filter((s) => s.applied).length);
    // Nothing lost: the pipeline's input (whose tensors the clones share) is byte-identical.
    expect(serializeModel(original)).toEqual(bytesBefore);

    // The merged weight is the least-squares optimum: re-measuring the applied segment's stream miss on
    // the healed model gives exactly the share the solver predicted (1e-3: the weight is stored in fp32).
    const first = run.segments[0]!;
    expect(first.applied).toBe(true);
    const seg = (changedSegments(analyzeDecoder(original), analyzeDecoder(healed.model)) as HealSegment[])[0]!;
    const unhealed = await missNow(original, plain.model, seg);
    const after = await missNow(original, healed.model, seg);
    expect(after / unhealed).toBeCloseTo(first.fitResidual!, 3);
    expect(first.fitResidual!).toBeLessThan(0.9);
  });

  it('a huge λ is no healing: corrections shrink to nothing and are not applied', async () => {
    const r = await optimize(makeLlamaModel(LLAMA), `${PIPELINE},heal{lambda=1e12}`);
    const run = r.heal[0]!;
    for (const s of run.segments) {
      expect(s.fitResidual!).toBeGreaterThan(0.999999);
      expect(s.applied).toBe(false);
    }
    expect(run.klAfter).toBe(run.klBefore);
    expect(r.run.timings.find((t) => t.pass.startsWith('heal'))!.modified).toBe(false);
    expect([...r.model.graph.initializers.keys()].some((n) => n.endsWith('.healed'))).toBe(false);
  });

  it('is a no-op on a model where nothing changed, without reading calibration data', async () => {
    const original = makeLlamaModel(LLAMA);
    const model = cloneModel(original);
    let loads = 0;
    const run = await runPipeline(model, 'heal', { services: { loadCalibration: async () => (loads++, calib()) } });
    expect(run.modified).toBe(false);
    expect((run.report.heal as HealReport).runs[0]!.segments).toEqual([]);
    expect(loads).toBe(0);
    expect(serializeModel(model)).toEqual(serializeModel(original));
  });

  it('heals weights stored [out, in] behind a Transpose (dynamo spelling), keeping the Transpose', async () => {
    const original = makeDynamoModel({ ...LLAMA, seed: 5 });
    const plain = await optimize(original, 'attn-prune{layers=[3]}');
    const healed = await optimize(original, 'attn-prune{layers=[3]},heal');
    const s = healed.heal[0]!.segments[0]!;
    expect(s).toMatchObject({ kind: 'removed-attention', layers: [2, 2], part: 'ffn' });
    expect(opTypes(healed.model)).toEqual(opTypes(plain.model));
    const down = analyzeDecoder(healed.model).layers.find((l) => l.index === 2)!.ffn!.down;
    expect(down.kind === 'matmul' && down.transposed).toBeTruthy();
    expect(s.applied).toBe(true);
    expect(down.weight.name).toMatch(/\.healed$/);
    const seg = (changedSegments(analyzeDecoder(original), analyzeDecoder(healed.model)) as HealSegment[])[0]!;
    const ratio = (await missNow(original, healed.model, seg)) / (await missNow(original, plain.model, seg));
    expect(ratio).toBeCloseTo(s.fitResidual!, 3);
    expect(s.fitResidual!).toBeLessThan(0.9);
  });

  it('keeps an fp16 weight fp16 (the correction is rounded once into the weight\'s dtype)', async () => {
    const original = makeLlamaModel({ ...LLAMA, dtype: 'float16' });
    const healed = await optimize(original, 'attn-prune{layers=[3]},heal');
    const s = healed.heal[0]!.segments[0]!;
    expect(s.applied).toBe(true);
    const down = analyzeDecoder(healed.model).layers.find((l) => l.index === 2)!.ffn!.down;
    const before = analyzeDecoder(original).layers.find((l) => l.index === 2)!.ffn!.down;
    expect(down.weight.name).toMatch(/\.healed$/);
    expect(down.weight.constant!.dtype).toBe(before.weight.constant!.dtype);
    expect(down.weight.constant!.dims).toEqual(before.weight.constant!.dims);
  });

  it('on committed real exports: optimum\'s no-op stream Casts are no gap; genai\'s fused final norm leaves no target', async () => {
    const EXPORTS = join(import.meta.dirname, '../../fixtures/exports');
    const data = { calibration: tokens(1, 16, 16, 128, 'calib'), heldout: tokens(2, 8, 16, 128, 'heldout') };
    const optimum = loadModel(join(EXPORTS, 'optimum/llama/model.onnx'));
    const o = await optimize(optimum, 'attn-prune{layers=[2]},ffn-fuse{groups=[[1,2]]},heal', data);
    expect(o.heal[0]!.segments.map((x) => [x.kind, x.layers])).toEqual([['fused-ffn', [1, 2]]]);
    expect((await optimize(optimum, 'heal', data)).heal[0]!.segments).toEqual([]);
    const genai = loadModel(join(EXPORTS, 'genai/llama/model.onnx'));
    const g = await optimize(genai, 'attn-prune{layers=[3],protect=[0]},ffn-fuse{groups=[[2,3]]},heal', data);
    const last = g.heal[0]!.segments.at(-1)!;
    expect(last).toMatchObject({ kind: 'fused-ffn', layers: [2, 3], applied: false });
    expect(last.reason).toMatch(/fused final norm/);
  });

  it('merges exactly the fitted correction on real exports of other spellings (GPT-2 Conv1D, OPT, Granite, genai Skip norms, dynamo)', async () => {
    const EXPORTS = join(import.meta.dirname, '../../fixtures/exports');
    const cases: [string, string][] = [
      ['optimum/gpt2', 'attn-prune{layers=[2]}'],
      ['optimum/opt', 'attn-prune{layers=[2]}'],
      ['optimum/granite', 'attn-prune{layers=[2]}'],
      ['genai/llama', 'attn-prune{layers=[2]},ffn-fuse{groups=[[1,2]]}'],
      ['dynamo/llama', 'attn-prune{layers=[2]}'],
    ];
    // Checked on the fitted tokens themselves, so every correction is applied and can be re-measured.
    const fitted = tokens(1, 16, 16, 128, 'calib');
    for (const [dir, pipeline] of cases) {
      const original = loadModel(join(EXPORTS, dir, 'model.onnx'));
      const plain = await optimize(original, pipeline, { calibration: fitted });
      const healed = await optimize(original, `${pipeline},heal{lambda=0.001}`, { calibration: fitted, heldout: fitted });
      const s = healed.heal[0]!.segments[0]!;
      expect(s.applied, dir).toBe(true);
      const seg = (changedSegments(analyzeDecoder(original), analyzeDecoder(healed.model)) as HealSegment[])[0]!;
      const ratio = (await missNow(original, healed.model, seg, fitted)) / (await missNow(original, plain.model, seg, fitted));
      expect(ratio, dir).toBeCloseTo(s.fitResidual!, 3);
      expect(opTypes(healed.model), dir).toEqual(opTypes(plain.model));
    }
  });

  it('refuses MatMulNBits (int4) projections with a one-line reason and changes nothing', async () => {
    const opts = { layers: 4, hidden: 64, heads: 4, kvHeads: 2, intermediate: 128, vocab: 64, quant: 'int4' as const, kvCache: true };
    const original = makeGenaiModel(opts);
    const plain = await optimize(original, 'attn-prune{layers=[2]}');
    const healed = await optimize(original, 'attn-prune{layers=[2]},heal');
    const s = healed.heal[0]!.segments[0]!;
    expect(s.applied).toBe(false);
    expect(s.reason).toMatch(/MatMulNBits \(int4\)/);
    expect(s.reason).not.toContain('\n');
    expect(healed.logs.some((l) => l.includes('not healed') && l.includes('MatMulNBits'))).toBe(true);
    expect(serializeModel(healed.model)).toEqual(serializeModel(plain.model));
  });

  it('without held-out data, fits on the first half of the calibration sequences and checks on the second', async () => {
    const original = makeLlamaModel(LLAMA);
    const model = cloneModel(original);
    const logs: string[] = [];
    const run = await runPipeline(model, `${PIPELINE},heal`, { log: (m) => logs.push(m), services: { calibration: calib() } });
    const h = (run.report.heal as HealReport).runs[0]!;
    expect(h.weakCheck).toBe(true);
    expect(h.fitOn).toMatch(/sequences 1–16$/);
    expect(h.checkedOn).toMatch(/sequences 17–32 \(held back from the fit\)$/);
    expect(h.segments.map((s) => s.tokens)).toEqual([16 * 32, 16 * 32]);
    expect(logs.some((l) => l.includes('weaker'))).toBe(true);
  });

  it('attn-prune and ffn-fuse heal against the model as it was before them (heal=true)', async () => {
    const r = await optimize(makeLlamaModel(LLAMA), 'attn-prune{layers=[2,3],heal=true},ffn-fuse{groups=[[2,3]],heal=true,heal-lambda=0.5}');
    const runs: HealRun[] = r.heal;
    expect(runs.map((x) => x.by)).toEqual(['attn-prune', 'ffn-fuse']);
    // attn-prune's reference has the attention; ffn-fuse's reference is the pruned model, where only the fusion differs.
    expect(runs[0]!.segments.map((s) => s.kind)).toEqual(['removed-attention', 'removed-attention']);
    expect(runs[1]!.segments.map((s) => s.kind)).toEqual(['fused-ffn']);
    expect(runs[1]!.lambda).toBe(0.5);
    for (const x of runs) expect(x.klAfter!).toBeLessThan(x.klBefore!);
  });
});
