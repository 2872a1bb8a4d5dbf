import { OnnxOptError } from '../../errors.js';
import { toFloat64 } from '../measure/index.js';
import { NormalEquations } from './ridge.js';
import { batchesOf, type ProbedModel, type RunnerOptions } from './runners.js';
import type { SegmentSite } from './segments.js';

/**
 * Streams the normal equations of one segment over the calibration sequences: H is the
 * projection's input in the current model, and the target R is what the stream still misses,
 * `(reference[target] − (stream before + increment)) / scale`, at every real token. One batch of
 * activations is in memory at a time; the sums are Float64.
 */
export async function collectEquations(
  reference: ProbedModel,
  current: ProbedModel,
  site: SegmentSite,
  target: string,
  sequences: readonly (readonly number[])[],
  o: RunnerOptions,
): Promise<NormalEquations> {
  const names = [site.input.name, site.streamBefore.name, site.increment.name];
  let eq: NormalEquations | undefined;
  for (const batch of batchesOf(current.model, sequences, o)) {
    const ref = await reference.run(batch, [target]);
    const cur = await current.run(batch, names);
    const positions = cur.mask.flat();
    const h = toFloat64(cur.values[names[0]!]!);
    const before = toFloat64(cur.values[names[1]!]!);
    const inc = toFloat64(cur.values[names[2]!]!);
    const want = toFloat64(ref.values[target]!);
    const m = h.length / positions.length;
    const n = want.length / positions.length;
    if (!Number.isInteger(m) || !Number.isInteger(n) || before.length !== want.length || inc.length !== want.length) {
      throw new OnnxOptError('UNSUPPORTED', `heal: the values around ${site.projection.node.label} do not have one row per token`);
    }
    eq ??= new NormalEquations(m, n);
    const real = positions.reduce((s, p) => s + (p ? 1 : 0), 0);
    const hRows = new Float64Array(real * m);
    const rRows = new Float64Array(real * n);
    let row = 0;
    positions.forEach((p, t) => {
      if (!p) return;
      hRows.set(h.subarray(t * m, (t + 1) * m), row * m);
      for (let k = 0; k < n; k++) rRows[row * n + k] = (want[t * n + k]! - before[t * n + k]! - inc[t * n + k]!) / site.scale;
      row++;
    });
    eq.addRows(hRows, rRows, real);
  }
  if (!eq) throw new OnnxOptError('USAGE', 'heal: no calibration sequences to fit on');
  return eq;
}
