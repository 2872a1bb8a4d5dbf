/**
 * Lists the conformance models that onnxruntime-node cannot run as they are (the ORIGINAL model:
 * load or run fails, the signature has non-tensor types, or the outputs do not match the expected
 * data even before any pass runs), and writes them to test/passes/canonicalize/ort-unsupported.txt,
 * one `test_name: reason` per line. The canonicalize conformance test relies on this list.
 *
 *     npx tsx scripts/list-ort-unsupported.ts [--check]
 *
 * --check: do not write; exit 1 if the list on disk differs from what this run finds.
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import * as ort from 'onnxruntime-node';
import { loadModel } from '../src/io/read-model.js';
import { checkGolden, listTestDataSets, readTestDataSet, unsupportedSignature } from '../src/verify/golden.js';

const ROOT = resolve(import.meta.dirname, '..');
const CORPUS = resolve(ROOT, '../shared/onnx-backend/node');
const LIST = join(ROOT, 'test/passes/canonicalize/ort-unsupported.txt');

/** Why the original model fails under ORT, or undefined when it passes its data sets. */
export async function originalFailure(dir: string): Promise<string | undefined> {
  let model;
  try {
    model = loadModel(join(dir, 'model.onnx'));
  } catch (e) {
    return `cannot load: ${(e as Error).message.split('\n')[0]}`;
  }
  const sig = unsupportedSignature(model);
  if (sig) return `signature: ${sig}`;
  let dataSets;
  try {
    dataSets = listTestDataSets(dir).map(readTestDataSet);
  } catch (e) {
    return `test data: ${(e as Error).message.split('\n')[0]}`;
  }
  const r = await checkGolden(model, dataSets);
  return r.ok ? undefined : `${r.stage}: ${r.reason}`;
}

async function main(): Promise<void> {
  ort.env.logLevel = 'fatal';
  const check = process.argv.includes('--check');
  const names = readdirSync(CORPUS).sort();
  const t0 = performance.now();
  const lines: string[] = [];
  for (const name of names) {
    const why = await originalFailure(join(CORPUS, name));
    if (why) lines.push(`${name}: ${why.replace(/\s+/g, ' ')}`);
  }
  const text = lines.join('\n') + '\n';
  const s = ((performance.now() - t0) / 1000).toFixed(1);
  console.log(`${names.length} models, ${lines.length} unsupported by onnxruntime-node as they are (${s}s)`);
  if (check) {
    const old = readFileSync(LIST, 'utf8');
    const key = (t: string) => t.split('\n').filter(Boolean).map((l) => l.split(':')[0]).join('\n');
    if (key(old) !== key(text)) {
      console.error('the list differs from ort-unsupported.txt; rerun without --check');
      process.exit(1);
    }
    return;
  }
  writeFileSync(LIST, text);
  console.log(`wrote ${LIST}`);
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
