/**
 * Runs fuzz cases in child processes (fuzz-child.ts), a few at a time. A child that does not answer
 * within `hangMs` is killed and its case reported as a hang; a child that dies (out of memory,
 * native crash) has its case reported as a crash. Used by fuzz.test.ts and scripts/fuzz.ts.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Family } from './fuzz-cases.js';
import type { Outcome } from './fuzz-runner.js';

const REPO = resolve(import.meta.dirname, '../..');
const CHILD = resolve(import.meta.dirname, 'fuzz-child.ts');
const UNKNOWN = '(not reported by the child)';

export interface FuzzOptions {
  seed: number;
  /** Case indices to run: [start, start + cases). */
  cases: number;
  start?: number;
  /** Only this family (default: the weighted mix). */
  family?: Family;
  workers?: number;
  /** Cap on the scale family's node / input counts (see GenerateOptions). */
  maxScale?: number;
  /** Per-case time budget measured in the child (default 2000 ms, plus 10 ms per KiB of input files). */
  budgetMs?: number;
  /** Wall time after which a silent child is killed (default 30 s; the budget is the real limit). */
  hangMs?: number;
  /** Heap limit of each child, MiB (default 1024): a declared size that gets allocated dies here. */
  heapMb?: number;
  /** Keep each case's folder under this directory (default: a temp dir, removed at the end). */
  workDir?: string;
  keep?: boolean;
  onOutcome?: (o: Outcome, done: number) => void;
}

export interface FuzzSummary {
  outcomes: Outcome[];
  failures: Outcome[];
  wallMs: number;
  byFamily: Record<string, number>;
  byResult: Record<string, number>;
  slowest: Outcome[];
}

export async function runFuzz(opts: FuzzOptions): Promise<FuzzSummary> {
  const t0 = performance.now();
  const start = opts.start ?? 0;
  const queue = Array.from({ length: opts.cases }, (_, k) => start + k);
  const outcomes: Outcome[] = [];
  const work = opts.workDir ?? mkdtempSync(join(tmpdir(), 'onnx-opt-fuzz-'));
  const budgetMs = opts.budgetMs ?? 2000;
  const hangMs = opts.hangMs ?? 30_000;
  const workers = Math.max(1, Math.min(opts.workers ?? 2, queue.length));

  const record = (o: Outcome) => {
    outcomes.push(o);
    opts.onOutcome?.(o, outcomes.length);
  };
  const failed = (index: number, why: string): Outcome => ({ seed: opts.seed, index, family: opts.family ?? '?', what: UNKNOWN, result: 'failed', ms: 0, largestAllocation: 0, failures: [why] });

  const lane = (id: number) =>
    new Promise<void>((done, reject) => {
      let child: ChildProcess | undefined;
      let current: number | undefined;
      let timer: NodeJS.Timeout | undefined;
      let stderr = '';
      const next = () => {
        clearTimeout(timer);
        current = queue.shift();
        if (current === undefined) {
          child?.removeAllListeners('exit');
          child?.kill();
          return done();
        }
        const index = current;
        timer = setTimeout(() => {
          record(failed(index, `hang: no answer within ${hangMs} ms`));
          current = undefined;
          child?.removeAllListeners('exit');
          child?.kill('SIGKILL');
          spawn();
        }, hangMs);
        child!.send({ seed: opts.seed, index, family: opts.family, maxScale: opts.maxScale, budgetMs, keep: opts.keep });
      };
      const spawn = () => {
        stderr = '';
        const dir = join(work, `w${id}`);
        child = fork(CHILD, [dir], {
          cwd: REPO,
          execArgv: ['--import', 'tsx', `--max-old-space-size=${opts.heapMb ?? 1024}`],
          stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
        });
        child.stderr!.on('data', (d: Buffer) => {
          stderr = (stderr + d.toString()).slice(-2000);
        });
        child.on('message', (m: Outcome | { ready: true }) => {
          if ('ready' in m) return next();
          if (m.index !== current) return;
          record(m);
          next();
        });
        child.on('exit', (code, signal) => {
          clearTimeout(timer);
          if (current === undefined) return reject(new Error(`fuzz child ${id} exited (${code ?? signal}) before it was ready: ${stderr}`));
          record(failed(current, `crash: the child exited (${code ?? signal}) ${stderr.trim().split('\n').slice(-3).join(' | ')}`));
          current = undefined;
          spawn();
        });
      };
      spawn();
    });

  try {
    await Promise.all(Array.from({ length: workers }, (_, k) => lane(k)));
  } finally {
    if (!opts.workDir) rmSync(work, { recursive: true, force: true });
  }
  outcomes.sort((a, b) => a.index - b.index);
  // Hangs and crashes come back without a description: regenerate it here (cheap, deterministic).
  const missing = outcomes.filter((o) => o.what === UNKNOWN);
  if (missing.length) {
    const { generateCase } = await import('./fuzz-cases.js');
    for (const o of missing) {
      const c = generateCase(opts.seed, o.index, { family: opts.family, maxScale: opts.maxScale });
      o.family = c.family;
      o.what = c.what;
    }
  }
  const count = (key: (o: Outcome) => string) => outcomes.reduce<Record<string, number>>((acc, o) => ((acc[key(o)] = (acc[key(o)] ?? 0) + 1), acc), {});
  return {
    outcomes,
    failures: outcomes.filter((o) => o.result === 'failed'),
    wallMs: Math.round(performance.now() - t0),
    byFamily: count((o) => o.family),
    byResult: count((o) => (o.code ? `${o.result}:${o.code}` : o.result)),
    slowest: [...outcomes].sort((a, b) => b.ms - a.ms).slice(0, 5),
  };
}
