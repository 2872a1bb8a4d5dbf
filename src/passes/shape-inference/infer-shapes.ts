import { DataType } from '../../ir/dtype.js';
import { topologicalOrder, type Graph } from '../../ir/graph.js';
import type { Model } from '../../ir/model.js';
import type { Node } from '../../ir/node.js';
import { tensorType, typesEqual, type Dim, type TensorType, type ValueType } from '../../ir/types.js';
import type { Value } from '../../ir/value.js';
import { definePass } from '../pass.js';
import { MAX_TRACKED, symFromTensor, type InferContext, type OutputInfo, type RuleEntry, type ShapeRule, type SymTensor } from './context.js';
import { CONTRIB_RULES } from './rules-contrib.js';
import { CONTROL_RULES } from './rules-control.js';
import { ELEMENTWISE_RULES } from './rules-elementwise.js';
import { NN_RULES } from './rules-nn.js';
import { TENSOR_RULES } from './rules-tensor.js';

export type { InferContext, OutputInfo, ShapeRule, SymTensor } from './context.js';

function ruleKey(domain: string, opType: string): string {
  return `${domain === 'ai.onnx' ? '' : domain}::${opType}`;
}

const RULES = new Map<string, ShapeRule>();
const BUILTIN: RuleEntry[] = [...ELEMENTWISE_RULES, ...TENSOR_RULES, ...NN_RULES, ...CONTRIB_RULES, ...CONTROL_RULES];
for (const [domains, ops, rule] of BUILTIN) for (const d of domains) for (const op of ops) RULES.set(ruleKey(d, op), rule);

/** Adds or replaces the shape rule for an op (plugins with custom ops). */
export function registerShapeRule(domain: string, opType: string, rule: ShapeRule): void {
  RULES.set(ruleKey(domain, opType), rule);
}

/** Whether an op has a shape rule. */
export function hasShapeRule(domain: string, opType: string): boolean {
  return RULES.has(ruleKey(domain, opType));
}

export interface InferShapesOptions {
  /** Replace dims and element types already known with inferred ones (default: only fill unknowns). */
  overwrite?: boolean;
}

/**
 * Infers element types and shapes of node outputs (subgraphs included), with symbolic dims carried
 * through and the contents of small shape tensors tracked (Shape → Gather → Unsqueeze → Concat →
 * Reshape gives symbolic shapes). Known information is kept unless `overwrite`. Ops without a rule,
 * and rules that fail, leave their outputs as they were.
 */
export function inferShapes(model: Model, options: InferShapesOptions = {}): { inferred: number } {
  const run = new ShapeInference(model, options.overwrite ?? false);
  run.inferSubgraph(model.graph);
  return { inferred: run.changed.size };
}

class ShapeInference implements InferContext {
  readonly changed = new Set<Value>();
  private readonly values = new Map<Value, SymTensor>();
  private readonly constants = new Map<Value, SymTensor | undefined>();
  private readonly visited = new Set<Graph>();

  constructor(
    private readonly model: Model,
    private readonly overwrite: boolean,
  ) {}

  opset(domain = ''): number {
    return this.model.opset(domain) ?? (domain === '' || domain === 'ai.onnx' ? 17 : 1);
  }

  type(v: Value | undefined): TensorType | undefined {
    if (!v) return undefined;
    if (v.type?.kind === 'tensor') return v.type;
    const t = v.initializer;
    return t ? tensorType(t.dtype, t.dims) : undefined;
  }

  shape(v: Value | undefined): readonly Dim[] | undefined {
    return this.type(v)?.shape;
  }

  dtype(v: Value | undefined): DataType | undefined {
    const d = this.type(v)?.dtype;
    return d === DataType.UNDEFINED ? undefined : d;
  }

  value(v: Value | undefined): SymTensor | undefined {
    if (!v) return undefined;
    const known = this.values.get(v);
    if (known) return known;
    const c = v.constant;
    if (!c) return undefined;
    if (!this.constants.has(v)) this.constants.set(v, symFromTensor(c));
    return this.constants.get(v);
  }

  setValue(v: Value | undefined, s: SymTensor | undefined): void {
    if (!v || !s || s.data.length > MAX_TRACKED) return;
    this.values.set(v, s);
  }

  inferSubgraph(g: Graph): void {
    if (this.visited.has(g)) return;
    this.visited.add(g);
    const order = topologicalOrder(g) ?? g.nodes;
    for (const node of order) this.inferNode(node);
  }

  refine(v: Value, info: OutputInfo): void {
    const before = v.type;
    const after = mergeType(before, info, this.overwrite);
    if (after && !typesEqual(before, after)) {
      v.type = after;
      this.changed.add(v);
    }
  }

  private inferNode(node: Node): void {
    const rule = RULES.get(ruleKey(node.domain, node.opType));
    let infos: (OutputInfo | undefined)[] | void = undefined;
    if (rule) {
      try {
        infos = rule(node, this);
      } catch {
        // A rule that trips over an odd node leaves its outputs unknown.
        infos = undefined;
        for (const o of node.outputs) if (o) this.values.delete(o);
      }
    }
    // Bodies of ops without a rule (or whose rule did not visit them) are still inferred.
    for (const g of node.subgraphs) {
      try {
        this.inferSubgraph(g);
      } catch {
        // Keep going: a broken body must not stop the enclosing graph.
      }
    }
    if (!infos) return;
    node.outputs.forEach((o, i) => {
      const info = infos[i];
      if (o && info) this.refine(o, info);
    });
  }
}

/** A usable dim: whole non-negative numbers and plain symbols; anything else becomes unknown. */
function cleanDim(d: Dim | undefined): Dim {
  if (d === undefined || d === null) return null;
  if (typeof d === 'number') return Number.isInteger(d) && d >= 0 ? d : null;
  return d.length > 0 && !d.startsWith('-') ? d : null;
}

/** Existing info wins unless `overwrite`; unknown dims and ranks are filled in either way. */
function mergeType(existing: ValueType | undefined, info: OutputInfo, overwrite: boolean): ValueType | undefined {
  if (existing?.kind === 'other') return existing;
  const exDtype = existing && existing.dtype !== DataType.UNDEFINED ? existing.dtype : undefined;
  const dtype = overwrite ? (info.dtype ?? exDtype) : (exDtype ?? info.dtype);
  if (dtype === undefined) return existing;
  const ex = existing?.shape;
  const inf = info.shape?.map(cleanDim);
  let shape: readonly Dim[] | undefined;
  if (!ex) shape = inf;
  else if (!inf) shape = ex;
  else if (ex.length !== inf.length) shape = overwrite ? inf : ex;
  else shape = ex.map((d, i) => (overwrite ? (inf[i] ?? d) : (d ?? inf[i]!)));
  return tensorType(dtype, shape);
}

export const inferShapesPass = definePass({
  name: 'infer-shapes',
  summary: 'infer element types and (symbolic) shapes of intermediate values, contrib ops included',
  options: {
    overwrite: { type: 'bool', description: 'replace dims and types already known with the inferred ones', default: false },
  },
  run(model, _ctx, options) {
    const { inferred } = inferShapes(model, { overwrite: options.overwrite });
    return { modified: inferred > 0, stats: { 'values typed': inferred } };
  },
});
