import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadModel } from '../../src/io/read-model.js';
import { analyzeDecoder } from '../../src/passes/analysis/analyze-decoder.js';
import { attnPrune } from '../../src/passes/attn-prune/attn-prune.js';
import { cosineScores, klScores, withoutAttention } from '../../src/passes/attn-prune/scores.js';
import { selectLayers } from '../../src/passes/attn-prune/select.js';
import { dependencyMatrix } from '../../src/passes/ffn-fusion/dependency-matrix.js';
import { checkScoresFile } from '../../src/passes/scores-file.js';
import type { PassContext } from '../../src/passes/pass.js';

// The scorer's output is committed (tools/torch-scores/make_fixture.py made it; CI has no Python).
const ROOT = join(import.meta.dirname, '../..');
const EXPORT = join(ROOT, 'test/fixtures/exports/optimum/llama/model.onnx');
const FIXTURE = join(ROOT, 'test/fixtures/torch-scores');
const torch = JSON.parse(readFileSync(join(FIXTURE, 'optimum-llama.scores.json'), 'utf8'));
const tokens = readFileSync(join(FIXTURE, 'tokens.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as number[]);

describe('tools/torch-scores against onnx-opt on the optimum export of the same checkpoint', () => {
  it('the fixture is a valid version-1 scores file', () => {
    expect(() => checkScoresFile(torch, 'fixture')).not.toThrow();
    expect(torch.numLayers).toBe(4);
  });

  it('cosine scores agree within 1e-4 and select the same layers; KL and the dependency matrix agree', async () => {
    const model = loadModel(EXPORT);
    const map = analyzeDecoder(model);
    expect(map.layers).toHaveLength(4);
    const o = { sequences: tokens, batchSize: 2 };
    const ours = await cosineScores(model, map, o);
    const theirs = torch['attn-prune'].by.cosine as { layer: number; score: number }[];
    ours.forEach((s, i) => {
      expect(s.layer).toBe(theirs[i]!.layer);
      expect(Math.abs(s.score - theirs[i]!.score)).toBeLessThan(1e-4);
    });
    for (const count of [1, 2]) {
      const pick = (scores: { layer: number; score: number }[]) => selectLayers(scores, { count, protect: [0, -1], numLayers: 4 });
      expect(pick(ours)).toEqual(pick(theirs));
    }
    const kl = (await klScores(model, [1, 2], o)).scores;
    (torch['attn-prune'].by.kl as { layer: number; score: number }[]).forEach((s, i) => {
      expect(kl[i]!.layer).toBe(s.layer);
      expect(Math.abs(kl[i]!.score - s.score)).toBeLessThan(1e-4 * Math.max(1, s.score));
    });
    const pruned = withoutAttention(model, [2, 3]);
    const m = await dependencyMatrix(pruned, analyzeDecoder(pruned), [[1, 2, 3]], o);
    expect(m.layers).toEqual(torch['ffn-fuse'].matrix.layers);
    m.values.forEach((row, a) =>
      row.forEach((v, b) => {
        const t = torch['ffn-fuse'].matrix.values[a][b] as number | null;
        if (t === null) expect(v).toBeNull();
        else expect(Math.abs(v! - t)).toBeLessThan(1e-4);
      }),
    );
  });

  it('attn-prune takes the file as --scores: the same layers, no calibration run', async () => {
    const model = loadModel(EXPORT);
    const ctx: PassContext = { log: () => {}, report: {}, services: { scores: torch } };
    await attnPrune.create({ count: 1 }).run(model, ctx);
    const r = ctx.report['attn-prune'] as { method: string; removed: number[]; evaluations: number };
    expect(r).toMatchObject({ method: 'given', evaluations: 0 });
    expect(r.removed).toEqual(selectLayers(torch['attn-prune'].scores, { count: 1, protect: [0, -1], numLayers: 4 }));
  });

  it('refuses a malformed versioned file, naming the JSON path', () => {
    const bad = (patch: (j: Record<string, unknown>) => void) => {
      const j = structuredClone(torch);
      patch(j);
      return () => checkScoresFile(j, 'scores.json');
    };
    expect(bad((j) => (j.version = 2))).toThrow(/\$\.version: version 2 is not supported/);
    expect(bad((j) => ((j['attn-prune'] as { scores: unknown[] }).scores[1] = { layer: -1, score: 0 }))).toThrow(/\$\["attn-prune"\]\.scores\[1\]\.layer/);
    expect(bad((j) => ((j['ffn-fuse'] as { matrix: { values: unknown[][] } }).matrix.values[0]![1] = 'x'))).toThrow(/matrix\.values\[0\]\[1\]/);
    expect(bad((j) => ((j['ffn-fuse'] as { matrix: { values: unknown[][] } }).matrix.values.pop()))).toThrow(/one row per layer/);
    // Reports and --json output carry no format: not checked here, read as before.
    expect(() => checkScoresFile({ 'attn-prune': { scores: 'anything' } }, 'r.json')).not.toThrow();
  });
});
