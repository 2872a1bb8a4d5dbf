/**
 * Long fuzzing of the model reader: `npm run fuzz -- --cases 100000 --seed 7`.
 *
 *   --cases N     how many cases (default 10000)
 *   --seed S      run seed (default: the fast suite's seed)
 *   --start I     first case index (default 0), to resume or to rerun one case with --cases 1
 *   --family F    only one family (truncate, bitflip, wire, tensor, external, nesting, graph, scale)
 *   --workers W   child processes (default: CPU count)
 *   --budget MS   per-case time budget (default 2000, plus 10 ms per KiB of input)
 *   --max-scale N largest graph of the scale family (default 50000; the fast suite uses 2000)
 *   --keep DIR    keep every case's folder under DIR (with --cases 1 to inspect one)
 *
 * Prints each failing case (seed, index, what was mutated, what went wrong) and exits 1 if any.
 * A failure reproduces with `--seed S --start I --cases 1 --keep /tmp/case`.
 */
import { availableParallelism } from 'node:os';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { FAMILIES, type Family } from '../test/reliability/fuzz-cases.js';
import { FUZZ_SEED } from '../test/reliability/fuzz-config.js';
import { runFuzz } from '../test/reliability/fuzz-pool.js';

const { values } = parseArgs({
  options: {
    cases: { type: 'string', default: '10000' },
    seed: { type: 'string', default: String(FUZZ_SEED) },
    start: { type: 'string', default: '0' },
    family: { type: 'string' },
    workers: { type: 'string', default: String(availableParallelism()) },
    budget: { type: 'string', default: '2000' },
    'max-scale': { type: 'string', default: '50000' },
    keep: { type: 'string' },
  },
});

const int = (name: string, s: string | undefined): number => {
  const n = Number(s);
  if (!Number.isSafeInteger(n) || n < 0) {
    console.error(`--${name} expects a non-negative integer, got '${s}'`);
    process.exit(2);
  }
  return n;
};
const family = values.family as Family | undefined;
if (family && !FAMILIES.includes(family)) {
  console.error(`--family must be one of ${FAMILIES.join(', ')}`);
  process.exit(2);
}
const cases = int('cases', values.cases);
const seed = int('seed', values.seed);
let last = 0;
const summary = await runFuzz({
  seed,
  cases,
  start: int('start', values.start),
  family,
  workers: Math.max(1, int('workers', values.workers)),
  budgetMs: int('budget', values.budget),
  maxScale: int('max-scale', values['max-scale']),
  ...(values.keep ? { workDir: resolve(values.keep), keep: true } : {}),
  onOutcome(o, done) {
    if (o.result === 'failed') console.log(`FAIL seed=${o.seed} index=${o.index} [${o.family}] ${o.what}\n     ${o.failures.join('\n     ')}`);
    if (done - last >= 1000 || done === cases) {
      last = done;
      console.error(`${done}/${cases} cases`);
    }
  },
});
console.log(
  JSON.stringify(
    {
      seed,
      cases: summary.outcomes.length,
      failures: summary.failures.length,
      wallSeconds: summary.wallMs / 1000,
      byFamily: summary.byFamily,
      byResult: summary.byResult,
      slowest: summary.slowest.map((o) => `${o.index} ${o.ms} ms [${o.family}] ${o.what}`),
    },
    null,
    2,
  ),
);
process.exit(summary.failures.length ? 1 : 0);
