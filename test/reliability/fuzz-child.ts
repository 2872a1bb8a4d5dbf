/**
 * Fuzz worker process: receives {seed, index} over IPC, generates and checks that case, answers
 * with its Outcome. Run by fuzz-pool.ts as `node --import tsx fuzz-child.ts <work dir>`; the pool
 * kills it when a case overruns (a hang) and notices when it dies (an out-of-memory crash).
 */
import { installAllocationTracker } from './alloc-tracker.js';

installAllocationTracker();

const { bases, generateCase } = await import('./fuzz-cases.js');
const { runCase } = await import('./fuzz-runner.js');
const { join } = await import('node:path');

interface Request {
  seed: number;
  index: number;
  family?: NonNullable<Parameters<typeof generateCase>[2]>['family'];
  maxScale?: number;
  budgetMs: number;
  keep?: boolean;
}

const work = process.argv[2];
if (!work || !process.send) throw new Error('usage: forked with IPC, argv[2] = work dir');
bases();
process.on('message', (m: Request) => {
  let out;
  try {
    const c = generateCase(m.seed, m.index, { family: m.family, maxScale: m.maxScale });
    out = runCase(c, join(work, m.keep ? `case-${m.index}` : "case"), { budgetMs: m.budgetMs, keep: m.keep });
  } catch (e) {
    out = { seed: m.seed, index: m.index, family: m.family ?? '?', what: '(generator failed)', result: 'failed', ms: 0, largestAllocation: 0, failures: [`harness error: ${(e as Error).stack}`] };
  }
  process.send!(out);
});
process.send({ ready: true });
