import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import type { Model } from '../../../src/ir/model.js';
import { verifyModel } from '../../../src/ir/verifier.js';
import { loadModel } from '../../../src/io/read-model.js';
import { cse } from '../../../src/passes/canonicalize/cse.js';
import { dce } from '../../../src/passes/canonicalize/dce.js';
import { eliminateIdentity } from '../../../src/passes/canonicalize/eliminate-identity.js';
import { foldConstants } from '../../../src/passes/canonicalize/fold-constants.js';
import { runPipeline } from '../../../src/passes/pass-manager.js';
import { PassRegistry } from '../../../src/passes/registry.js';
import { checkGolden, listTestDataSets, readTestDataSet, unsupportedSignature, type TestDataSet } from '../../../src/verify/golden.js';
import { CONFORMANCE } from '../../helpers/paths.js';
import { CANONICALIZE_PIPELINE } from '../../../src/passes/builtin.js';

/**
 * Every model of the ONNX backend conformance corpus that onnxruntime-node runs correctly as it is
 * must still match the expected outputs after `canonicalize`. Models it cannot run are listed in
 * ort-unsupported.txt (regenerate with `npx tsx scripts/list-ort-unsupported.ts`); each of those
 * must still fail on the original, so the list cannot hide a regression.
 */

const CANONICALIZE = CANONICALIZE_PIPELINE;

/**
 * Originals that are invalid ONNX but that onnxruntime runs because its optimizer cannot see the
 * problem; once canonicalize has folded their constants, onnxruntime's own optimizer (level basic
 * and up) inlines an If on a now-constant condition and its shape inference rejects the model.
 * These are checked with onnxruntime's optimizations off instead.
 */
const ORIGINAL_INVALID: Record<string, string> = {
  test_affine_grid_2d_expanded: "Range gets [1]-shaped start/limit (Split outputs) where the spec requires scalars",
  test_affine_grid_2d_align_corners_expanded: "Range gets [1]-shaped start/limit (Split outputs) where the spec requires scalars",
};

function registry(): PassRegistry {
  const r = new PassRegistry();
  for (const d of [dce, eliminateIdentity, foldConstants, cse]) r.register(d);
  r.registerAlias('canonicalize', CANONICALIZE, 'canonicalization to a fixed point');
  return r;
}

function unsupportedList(): Map<string, string> {
  const text = readFileSync(join(import.meta.dirname, 'ort-unsupported.txt'), 'utf8');
  const m = new Map<string, string>();
  for (const line of text.split('\n')) {
    const at = line.indexOf(': ');
    if (at > 0) m.set(line.slice(0, at), line.slice(at + 2));
  }
  return m;
}

function nodeCount(m: Model): number {
  return [...m.graph.allNodes()].length;
}

async function originalFails(dir: string): Promise<boolean> {
  let model: Model;
  try {
    model = loadModel(join(dir, 'model.onnx'));
  } catch {
    return true;
  }
  if (unsupportedSignature(model)) return true;
  const r = await checkGolden(model, listTestDataSets(dir).map(readTestDataSet));
  return !r.ok;
}

describe('canonicalize on the ONNX conformance corpus', () => {
  ort.env.logLevel = 'fatal';
  const names = readdirSync(CONFORMANCE).sort();
  const unsupported = unsupportedList();

  it('lists only models that exist', () => {
    expect([...unsupported.keys()].filter((n) => !names.includes(n))).toEqual([]);
  });

  it('every model onnxruntime runs still matches its expected outputs after canonicalize', async () => {
    const reg = registry();
    const failures: string[] = [];
    let passed = 0;
    let changed = 0;
    let nodesBefore = 0;
    let nodesAfter = 0;
    for (const name of names) {
      if (unsupported.has(name)) continue;
      const dir = join(CONFORMANCE, name);
      const model = loadModel(join(dir, 'model.onnx'));
      const dataSets: TestDataSet[] = listTestDataSets(dir).map(readTestDataSet);
      const before = nodeCount(model);
      try {
        await runPipeline(model, 'canonicalize', { registry: reg, verifyEach: true });
      } catch (e) {
        failures.push(`${name}: canonicalize threw: ${(e as Error).message.split('\n')[0]}`);
        continue;
      }
      const problems = verifyModel(model);
      if (problems.length) {
        failures.push(`${name}: invalid IR after canonicalize: ${problems[0]!.message}`);
        continue;
      }
      const after = nodeCount(model);
      nodesBefore += before;
      nodesAfter += after;
      if (after !== before) changed++;
      const r = await checkGolden(model, dataSets, name in ORIGINAL_INVALID ? { session: { graphOptimizationLevel: 'disabled' } } : {});
      if (r.ok) passed++;
      else failures.push(`${name}: ${r.stage}: ${r.reason}`);
    }
    console.log(
      `conformance: ${passed} models pass after canonicalize, ${unsupported.size} listed as unsupported by onnxruntime-node; ` +
        `${changed} models changed (${nodesBefore} → ${nodesAfter} nodes)`,
    );
    expect(failures).toEqual([]);
    expect(passed + unsupported.size).toBe(names.length);
    // The passes must actually do something on this corpus (the expanded function tests are full of foldable constants).
    expect(changed).toBeGreaterThan(100);
  });

  it('every listed model still fails on the original', async () => {
    const stillRunning: string[] = [];
    for (const name of unsupported.keys()) {
      if (!(await originalFails(join(CONFORMANCE, name)))) stillRunning.push(name);
    }
    expect(stillRunning, 'these now run under onnxruntime: regenerate ort-unsupported.txt').toEqual([]);
  });
});
