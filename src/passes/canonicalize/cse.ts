import { createHash } from 'node:crypto';
import { AttributeType, type Attribute } from '../../ir/attribute.js';
import { hasSideEffects } from '../../ir/dead-code.js';
import { DataType } from '../../ir/dtype.js';
import type { Graph } from '../../ir/graph.js';
import type { Node } from '../../ir/node.js';
import { stringsOf } from '../../ir/string-tensors.js';
import type { Tensor } from '../../ir/tensor.js';
import type { Value } from '../../ir/value.js';
import { definePass } from '../pass.js';

/** Initializers at most this big are compared for deduplication (bigger ones are not read). */
export const MAX_DEDUP_BYTES = 64 * 1024;

/** Ops whose results differ from run to run (any domain): names containing these never merge. */
const NONDETERMINISTIC = /Random|Multinomial|Bernoulli|Dropout/;

/**
 * Common subexpression elimination: a node computing the same op (domain, type, overload) on the
 * same inputs with equal attributes (compared by value; tensors by type, shape and bytes) as an
 * earlier node is replaced by that node's outputs. Nodes with subgraphs and non-deterministic ops
 * are left alone (bodies are CSE'd on their own). Identical small constant initializers are
 * merged first, so nodes reading copies of one constant merge too. Runs in every subgraph.
 */
export const cse = definePass({
  name: 'cse',
  summary: 'merge identical computations and identical small constants',
  run(model) {
    const stats = { 'nodes merged': 0, 'constants merged': 0 };
    visit(model.graph, stats);
    return { modified: stats['nodes merged'] + stats['constants merged'] > 0, stats };
  },
});

function visit(g: Graph, stats: { 'nodes merged': number; 'constants merged': number }): void {
  // Constants first.
  const byValue = new Map<string, Value>();
  for (const v of [...g.initializers.values()]) {
    const t = v.constant;
    if (!t || t.byteLength > MAX_DEDUP_BYTES) continue;
    const key = tensorKey(t);
    if (key === undefined) continue;
    const first = byValue.get(key);
    if (!first) {
      byValue.set(key, v);
      continue;
    }
    if (v.isGraphOutput || v.uses.length === 0) continue;
    g.replaceAllUsesWith(v, first);
    g.removeInitializer(v);
    stats['constants merged']++;
  }

  const ids = new Map<Value, number>();
  const id = (v: Value) => {
    let k = ids.get(v);
    if (k === undefined) ids.set(v, (k = ids.size));
    return k;
  };
  const seen = new Map<string, Node>();
  for (const n of [...g.nodes]) {
    if (n.graph !== g) continue;
    for (const sub of n.subgraphs) visit(sub, stats);
    const key = nodeKey(n, id);
    if (key === undefined) continue;
    const first = seen.get(key);
    if (!first) {
      seen.set(key, n);
      continue;
    }
    // Merging an Identity or Constant that names a graph output only trades it for another Identity.
    if ((n.opType === 'Identity' || n.opType === 'Constant') && n.outputs.some((o) => o?.isGraphOutput)) continue;
    n.outputs.forEach((o, i) => {
      if (o) g.replaceAllUsesWith(o, first.outputs[i]!);
    });
    g.removeNode(n);
    stats['nodes merged']++;
  }
}

/** A key equal for two nodes exactly when one can stand for the other; undefined when the node must not merge. */
function nodeKey(n: Node, id: (v: Value) => number): string | undefined {
  if (n.subgraphs.length || NONDETERMINISTIC.test(n.opType) || hasSideEffects(n)) return undefined;
  if (n.outputs.length === 0 || n.outputs.every((o) => !o)) return undefined;
  const attrs: string[] = [];
  for (const a of [...n.attributes].sort((x, y) => (x.name < y.name ? -1 : x.name > y.name ? 1 : 0))) {
    const k = attributeKey(a);
    if (k === undefined) return undefined;
    attrs.push(`${a.name}=${k}`);
  }
  const domain = n.domain === 'ai.onnx' ? '' : n.domain;
  const inputs = n.inputs.map((v) => (v ? String(id(v)) : '-'));
  // Trailing absent inputs are the same as none.
  while (inputs.length && inputs[inputs.length - 1] === '-') inputs.pop();
  const outputs = n.outputs.map((o) => (o ? '1' : '0')).join('');
  return `${domain}::${n.opType}:${n.overload}(${inputs.join(',')})->${outputs}{${attrs.join(';')}}`;
}

function floatKey(v: number): string {
  return Object.is(v, -0) ? '-0' : String(v);
}

function attributeKey(a: Attribute): string | undefined {
  if (a.refAttrName) return undefined;
  const v = a.value;
  if (v === undefined) return undefined;
  switch (a.type) {
    case AttributeType.FLOAT:
      return `f${floatKey(v as number)}`;
    case AttributeType.INT:
      return `i${v as number}`;
    case AttributeType.STRING:
      return `s${JSON.stringify(v)}`;
    case AttributeType.FLOATS:
      return `F[${(v as number[]).map(floatKey).join(',')}]`;
    case AttributeType.INTS:
      return `I[${(v as number[]).join(',')}]`;
    case AttributeType.STRINGS:
      return `S${JSON.stringify(v)}`;
    case AttributeType.TENSOR:
      return tensorKey(v as Tensor);
    case AttributeType.TENSORS: {
      const ks = (v as Tensor[]).map(tensorKey);
      return ks.some((k) => k === undefined) ? undefined : `T[${ks.join(',')}]`;
    }
    default:
      return undefined;
  }
}

/** Type, shape and content of a tensor (hashed when long); undefined when its data cannot be read. */
export function tensorKey(t: Tensor): string | undefined {
  let content: string;
  try {
    if (t.dtype === DataType.STRING) content = JSON.stringify(stringsOf(t));
    else {
      const b = t.bytes();
      content = b.byteLength <= 32 ? Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex') : createHash('sha256').update(b).digest('hex');
    }
  } catch {
    return undefined;
  }
  return `t${t.dtype}[${t.dims.join(',')}]${content}`;
}
