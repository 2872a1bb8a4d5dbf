/**
 * Declarative pattern rules (after the onnxscript rewriter): a rule is a pattern written as op
 * calls, an optional check, and an optional rewrite.
 *
 * - `defineRule` builds a rule; `findMatches` lists matches without touching the graph;
 *   `applyRules` rewrites to a fixpoint; `rewritePass` wraps rules as a pass; `explainRule`
 *   reports the best partial match when a rule matches nowhere.
 * - Nodes made by a rewrite carry metadata_props[`onnx-opt.rule`] = the rule's name
 *   (RULE_METADATA_KEY).
 */
export { anyOf, defaultsTo, type OutputPattern, type VarPattern, type AttrConstraint, type AttrPredicate, type AttrValue, type NodeOptions, type PatternExpr, type PatternInput, type PatternOps, ValuePattern } from './pattern.js';
export { constantDims, constantNumbers, constantProducer, constantScalar, constantSource, constantTensor, isConstantValue } from './constants.js';
export { describeNode, describePattern, describeValue } from './describe.js';
export { defineRule, fail, ok, type AnyRule, type Bindings, type CheckContext, type CheckResult, type Match, type Rule, type RuleSpec } from './rule.js';
export { findMatches, Matcher, type FindOptions } from './matcher.js';
export {
  applyMatch,
  applyRules,
  rewritePass,
  RULE_METADATA_KEY,
  type ApplyOptions,
  type ApplyResult,
  type RewriteNodeOptions,
  type RewriteOps,
  type RewriteOutcome,
} from './rewriter.js';
export { explainRule, type PartialMatch, type RuleExplanation } from './tracer.js';
export { CONTRIB_OPS, ONNX_OPS, type OpName } from './op-names.js';
