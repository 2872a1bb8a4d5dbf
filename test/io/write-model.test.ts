import { appendFileSync, copyFileSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadModel } from '../../src/io/read-model.js';
import { saveModel } from '../../src/io/write-model.js';
import type { Model } from '../../src/ir/model.js';
import { Tensor } from '../../src/ir/tensor.js';
import { bytesOf, runFile, tokens } from '../helpers/ort.js';
import { TINYLLAMA_EXT, tempDir } from '../helpers/paths.js';

const DATA = TINYLLAMA_EXT + '.data';

function externalRanges(model: Model): Map<string, [number, number]> {
  const ranges = new Map<string, [number, number]>();
  for (const v of model.graph.initializers.values()) {
    const s = v.initializer!.storage;
    if (s.kind === 'external') ranges.set(v.name, [s.offset, s.length]);
  }
  return ranges;
}

/** A private copy of the external-data export, so a test can dress up its data file. */
function copyOfExport(): string {
  const dir = tempDir();
  copyFileSync(TINYLLAMA_EXT, join(dir, 'model.onnx'));
  copyFileSync(DATA, join(dir, 'model.onnx.data'));
  return join(dir, 'model.onnx');
}

describe('keep mode keeps the data file layout', () => {
  it('an unchanged model keeps every tensor at its offset, and the data file byte for byte', async () => {
    const out = join(tempDir(), 'model.onnx');
    saveModel(loadModel(TINYLLAMA_EXT), out, { externalData: 'keep' });
    expect(readFileSync(out + '.data').equals(readFileSync(DATA))).toBe(true);
    const before = externalRanges(loadModel(TINYLLAMA_EXT));
    expect(before.size).toBeGreaterThan(50);
    expect(externalRanges(loadModel(out))).toEqual(before);
    const feeds = { input_ids: tokens('Packages are unpacked before they are configured.', 40) };
    expect(bytesOf((await runFile(out, feeds)).logits!).equals(bytesOf((await runFile(TINYLLAMA_EXT, feeds)).logits!))).toBe(true);
  });

  it('the default mode keeps an aligned data file as it is (an onnx-opt output re-saved)', () => {
    const first = join(tempDir(), 'model.onnx');
    saveModel(loadModel(TINYLLAMA_EXT), first, { externalData: 'external' });
    const second = join(tempDir(), 'model.onnx');
    saveModel(loadModel(first), second);
    expect(readFileSync(second + '.data').equals(readFileSync(first + '.data'))).toBe(true);
    expect(externalRanges(loadModel(second))).toEqual(externalRanges(loadModel(first)));
  });

  it('bytes past the last tensor are not carried into the output', () => {
    const src = copyOfExport();
    const size = statSync(src + '.data').size;
    appendFileSync(src + '.data', Buffer.alloc(4096, 0xab));
    const out = join(tempDir(), 'model.onnx');
    saveModel(loadModel(src), out, { externalData: 'keep' });
    expect(statSync(out + '.data').size).toBe(size);
    expect(readFileSync(out + '.data').equals(readFileSync(DATA))).toBe(true);
  });

  it('a replaced weight\'s old bytes are not carried along: the data file holds only what the model reads', () => {
    const model = loadModel(TINYLLAMA_EXT);
    // Give the largest external tensor new data, as a pass that rewrites a weight does.
    const [name] = [...externalRanges(model).entries()].sort((a, b) => b[1][1] - a[1][1])[0]!;
    const old = model.graph.initializers.get(name)!.initializer!;
    model.graph.setInitializer(model.graph.initializers.get(name)!, Tensor.fromArray(name, old.dtype, old.dims, new Uint8Array(old.byteLength).fill(7)));
    const out = join(tempDir(), 'model.onnx');
    saveModel(model, out, { externalData: 'keep', alignThreshold: Infinity });
    const back = loadModel(out);
    const kept = [...externalRanges(back).values()];
    const live = kept.reduce((n, [, length]) => n + length, 0);
    // Only 16-byte alignment padding may lie between the live tensors: no hole where the old bytes were.
    expect(live + 16 * kept.length).toBeLessThan(live + old.byteLength);
    expect(statSync(out + '.data').size).toBeLessThanOrEqual(live + 16 * kept.length);
    expect(back.graph.initializers.get(name)!.initializer!.bytes().every((b) => b === 7)).toBe(true);
  });
});
