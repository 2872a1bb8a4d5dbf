import { hasAttention, type LayerInfo, type LayerMap } from '../analysis/layer-map.js';
import { sameStream } from '../analysis/stream-casts.js';

/**
 * Candidate runs for fusion: consecutive recognized layers j..k (k > j) where layers j+1..k have no
 * attention, none is a parallel-residual block, and the residual stream passes from one FFN to the
 * next through nothing but the FFN adds. Layer j may keep its attention: the group reads the
 * stream after it (x_j, the input of FFN j).
 */
export function candidateRuns(map: LayerMap): number[][] {
  const byIndex = new Map(map.layers.map((l) => [l.index, l]));
  const runs: number[][] = [];
  let run: number[] = [];
  const flush = () => {
    if (run.length >= 2) runs.push(run);
    run = [];
  };
  const last = Math.max(-1, ...map.layers.map((l) => l.span?.[1] ?? l.index), ...map.unrecognized.map((u) => u.index));
  for (let i = 0; i <= last; i++) {
    const l = byIndex.get(i);
    // A fused FFN is not fused again (its span is skipped).
    if (!l || l.parallel || !l.ffn || l.span || l.ffn.postNorm) {
      flush();
      if (l?.span) i = l.span[1];
      continue;
    }
    if (run.length && continues(byIndex.get(run[run.length - 1]!)!, l)) run.push(i);
    else {
      flush();
      run = [i];
    }
  }
  flush();
  return runs;
}

/** Whether `next` directly follows `prev` with nothing but FFN adds on the stream. */
function continues(prev: LayerInfo, next: LayerInfo): boolean {
  return !hasAttention(next) && sameStream(next.residualIn, prev.residualOut) && sameStream(next.residualMid, next.residualIn);
}

/** Why an explicit group [j, k] is not a legal run, or undefined when it is. */
export function groupProblem(map: LayerMap, group: readonly number[]): string | undefined {
  if (group.length !== 2) return `group [${group.join(',')}] must be [first, last]`;
  const [j, k] = group as [number, number];
  if (!(k > j)) return `group [${j},${k}] must span at least two layers`;
  const byIndex = new Map(map.layers.map((l) => [l.index, l]));
  for (let t = j; t <= k; t++) {
    const l = byIndex.get(t);
    if (!l) return `layer ${t} was not recognized${map.unrecognized.find((u) => u.index === t) ? `: ${map.unrecognized.find((u) => u.index === t)!.reason}` : ''}`;
    if (l.parallel) return `layer ${t} is a parallel-residual block (attention and FFN read the same input): it has no FFN chain to fuse`;
    if (l.ffn?.postNorm) return `layer ${t}'s FFN output is normalized before the residual add (a post-FFN norm): a sum of such FFNs is not one wide FFN, so it cannot be fused exactly`;
    if (t > j && hasAttention(l)) return `layer ${t} still has its attention; only layers j+1..k must be attention-free (run attn-prune first)`;
    if (t > j && !continues(byIndex.get(t - 1)!, l)) return `the residual stream between layers ${t - 1} and ${t} passes through more than the FFN add`;
  }
  return undefined;
}
