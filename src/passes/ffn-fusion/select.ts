import type { DependencyMatrix } from './dependency-matrix.js';

export interface GroupOptions {
  threshold: number;
  maxGroup: number;
  minGroup: number;
  keepLast: boolean;
}

/**
 * Splits each run into fusion groups whose pairwise M stays below `threshold`, greedily from the
 * run's start; `keepLast` leaves the run's final FFN out (the paper found it sensitive). Returns
 * inclusive [first, last] layer ranges.
 */
export function selectGroups(runs: readonly number[][], m: DependencyMatrix, o: GroupOptions): number[][] {
  const at = new Map(m.layers.map((l, i) => [l, i]));
  const M = (i: number, j: number) => m.values[at.get(i)!]?.[at.get(j)!] ?? Infinity;
  const groups: number[][] = [];
  for (const run of runs) {
    const usable = o.keepLast ? run.slice(0, -1) : run;
    let start = 0;
    while (start < usable.length) {
      let end = start;
      while (
        end + 1 < usable.length &&
        end + 1 - start + 1 <= o.maxGroup &&
        usable.slice(start, end + 1).every((i) => M(i, usable[end + 1]!) < o.threshold)
      ) {
        end++;
      }
      if (end - start + 1 >= o.minGroup) groups.push([usable[start]!, usable[end]!]);
      start = end + 1;
    }
  }
  return groups;
}
