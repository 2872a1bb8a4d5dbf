import { rmdirSync, rmSync } from 'node:fs';

/**
 * Temporary files and folders of writes in progress, so that an interrupt (SIGINT/SIGTERM) can
 * remove them before the process exits. Writers track what they create and untrack it once it is
 * renamed into place or removed.
 */
type Entry = 'file' | 'tree' | 'empty-dir';
const pending = new Map<string, Entry>();

export function trackTemp(path: string, kind: Entry = 'file'): void {
  pending.set(path, kind);
}

export function untrackTemp(path: string): void {
  pending.delete(path);
}

/** Removes everything tracked (files and trees first, then created folders, deepest first); returns how many. */
export function removeTrackedTemps(): number {
  let n = 0;
  const entries = [...pending];
  pending.clear();
  for (const [p, kind] of entries) {
    if (kind === 'empty-dir') continue;
    rmSync(p, { force: true, recursive: kind === 'tree' });
    n++;
  }
  const dirs = entries.filter(([, k]) => k === 'empty-dir').map(([p]) => p).sort((a, b) => b.length - a.length);
  for (const d of dirs) {
    try {
      rmdirSync(d); // only if empty: a folder that holds anything else is not ours to remove
      n++;
    } catch {
      // not empty, or already gone
    }
  }
  return n;
}
