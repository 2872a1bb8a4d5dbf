import type { Graph } from '../../ir/graph.js';
import { Model } from '../../ir/model.js';
import type { Node } from '../../ir/node.js';
import { describeNode } from './describe.js';
import { anchorCandidates, describeSite, Matcher, type Site, type TraceSink } from './matcher.js';
import type { AnyRule } from './rule.js';

/**
 * "Why didn't my rule match?" The tracer reruns the matcher with failure recording on and keeps,
 * over all candidate anchors, the attempt that got deepest (most pattern nodes matched; a full
 * structural match that failed the use check or the rule check counts as deepest of all).
 */

export interface PartialMatch {
  /** The candidate root node of the best attempt. */
  readonly anchor: Node;
  /** Pattern nodes matched when it broke. */
  readonly matchedNodes: number;
  /** The most pattern nodes a match can have. */
  readonly patternNodes: number;
  /** Where it broke, in words: `input 1 of Add (/m/layers.0/input_layernorm/Add)`, `the rule check`. */
  readonly site: string;
  /** Why: `expected a constant (eps), found output of Sqrt (…)`. */
  readonly reason: string;
}

export interface RuleExplanation {
  readonly rule: string;
  /** Nodes whose op is the pattern root's. */
  readonly candidates: number;
  readonly matches: number;
  /** The deepest failed attempt; undefined when every candidate matched or there were none. */
  readonly best: PartialMatch | undefined;
  /** The whole story in a few lines (what --explain-rule prints). */
  readonly text: string;
}

class BestFailure implements TraceSink {
  progress = -1;
  matchedNodes = 0;
  site: Site | undefined;
  reason = '';

  failure(progress: number, matchedNodes: number, site: Site, reason: string): void {
    if (progress <= this.progress) return;
    this.progress = progress;
    this.matchedNodes = matchedNodes;
    this.site = site;
    this.reason = reason;
  }

  reset(): void {
    this.progress = -1;
    this.site = undefined;
  }
}

/** Explains where `rule` matches and, for the candidates where it does not, the best partial match. */
export function explainRule(target: Model | Graph, rule: AnyRule): RuleExplanation {
  const model = target instanceof Model ? target : undefined;
  const graph = target instanceof Model ? target.graph : target;
  const sink = new BestFailure();
  const matcher = new Matcher(rule, model, sink);
  const candidates = anchorCandidates(graph, rule);
  let matches = 0;
  let best: { progress: number; anchor: Node; matchedNodes: number; site: Site; reason: string } | undefined;
  for (const anchor of candidates) {
    sink.reset();
    if (matcher.matchAt(anchor)) {
      matches++;
      continue;
    }
    if (sink.site && (!best || sink.progress > best.progress)) {
      best = { progress: sink.progress, anchor, matchedNodes: sink.matchedNodes, site: sink.site, reason: sink.reason };
    }
  }
  const partial: PartialMatch | undefined = best && {
    anchor: best.anchor,
    matchedNodes: best.matchedNodes,
    patternNodes: rule.patternNodes,
    site: describeSite(best.site, best.anchor),
    reason: best.reason,
  };
  return { rule: rule.name, candidates: candidates.length, matches, best: partial, text: explanationText(rule, candidates.length, matches, partial) };
}

function explanationText(rule: AnyRule, candidates: number, matches: number, best: PartialMatch | undefined): string {
  const roots = [...rule.anchorOps].map((k) => (k.startsWith('::') ? k.slice(2) : k)).join(' or ');
  if (candidates === 0) return `rule ${rule.name} matched nowhere: the graph has no ${roots} node (the pattern's root)`;
  const head =
    matches === 0
      ? `rule ${rule.name} matched nowhere (${candidates} candidate ${roots} node${candidates === 1 ? '' : 's'})`
      : `rule ${rule.name} matched ${matches} of ${candidates} candidate ${roots} node${candidates === 1 ? '' : 's'}`;
  if (!best) return head;
  const lead = matches === 0 ? 'best partial match' : 'best partial match among the others';
  return (
    `${head}\n${lead} at node ${best.anchor.name || describeNode(best.anchor)}: ` +
    `matched ${best.matchedNodes} of ${best.patternNodes} pattern nodes; broke at ${best.site}: ${best.reason}`
  );
}
