import type { Graph } from './graph.js';
import type { Model } from './model.js';
import type { Node } from './node.js';
import { AttributeType, type Attribute } from './attribute.js';
import { formatType } from './types.js';
import type { Value } from './value.js';

/**
 * One line per node, for debugging and `--print-ir-after`:
 * `%y = MatMul(%x, %W) : f32[B,S,4096]`.
 */
export function printModel(model: Model): string {
  const head = `model ir_version=${model.irVersion} opsets={${model.opsetImports.map((o) => `${o.domain || 'ai.onnx'}:${o.version}`).join(', ')}}`;
  return `${head}\n${printGraph(model.graph)}`;
}

export function printGraph(g: Graph, indent = ''): string {
  const lines: string[] = [];
  const sig = (v: Value) => `${v}: ${formatType(v.type)}`;
  lines.push(`${indent}graph ${g.name}(${g.inputs.map(sig).join(', ')}) {`);
  for (const v of g.initializers.values()) {
    if (g.inputs.includes(v)) continue;
    const t = v.initializer!;
    lines.push(`${indent}  ${v} = initializer : ${formatType(v.type)}${t.isExternal ? ' (external)' : ''}`);
  }
  for (const n of g.nodes) lines.push(...printNode(n, indent + '  '));
  lines.push(`${indent}  return ${g.outputs.map(String).join(', ')}`);
  lines.push(`${indent}}`);
  return lines.join('\n');
}

function printNode(n: Node, indent: string): string[] {
  const outs = n.outputs.map((o) => (o ? String(o) : '_')).join(', ');
  const ins = n.inputs.map((v) => (v ? String(v) : '_')).join(', ');
  const attrs = n.attributes.filter((a) => a.subgraphs.length === 0).map(printAttr);
  const attrText = attrs.length ? `<${attrs.join(', ')}>` : '';
  const types = n.outputs.map((o) => formatType(o?.type)).join(', ');
  const name = n.name ? `  # ${n.name}` : '';
  const lines = [`${indent}${outs} = ${n.qualifiedOp}${attrText}(${ins}) : ${types}${name}`];
  for (const a of n.attributes) for (const g of a.subgraphs) lines.push(`${indent}  ${a.name}:`, printGraph(g, indent + '    '));
  return lines;
}

function printAttr(a: Attribute): string {
  const v = a.value;
  switch (a.type) {
    case AttributeType.STRING:
      return `${a.name}=${JSON.stringify(v)}`;
    case AttributeType.INTS:
    case AttributeType.FLOATS:
      return `${a.name}=[${(v as number[]).join(',')}]`;
    case AttributeType.STRINGS:
      return `${a.name}=${JSON.stringify(v)}`;
    case AttributeType.TENSOR:
      return `${a.name}=tensor`;
    case AttributeType.INT:
    case AttributeType.FLOAT:
      return `${a.name}=${v as number}`;
    default:
      return a.refAttrName ? `${a.name}=@${a.refAttrName}` : `${a.name}=…`;
  }
}
