import { Attribute, AttributeType } from './attribute.js';
import type { Graph } from './graph.js';
import type { Value } from './value.js';

/** Extra NodeProto fields the IR does not model (device configurations, unknown fields). */
export interface NodeExtras {
  sourceProto?: unknown;
}

/**
 * An operator application. Inputs and outputs are Values; an absent optional input or output is
 * `undefined` (ONNX's empty name). Change inputs only through `setInput`/`replaceInputs`, which
 * keep the values' use lists right.
 */
export class Node {
  opType: string;
  domain: string;
  name: string;
  overload = '';
  docString = '';
  metadataProps: [string, string][] = [];
  attributes: Attribute[];
  readonly inputs: (Value | undefined)[] = [];
  readonly outputs: (Value | undefined)[] = [];
  /** The graph this node is in; undefined once removed. */
  graph: Graph | undefined = undefined;
  extras: NodeExtras = {};

  constructor(init: { opType: string; domain?: string; name?: string; attributes?: Attribute[] }) {
    this.opType = init.opType;
    this.domain = init.domain ?? '';
    this.name = init.name ?? '';
    this.attributes = init.attributes ?? [];
  }

  /** `com.microsoft::Attention`, or plain `MatMul` for the default domain. */
  get qualifiedOp(): string {
    return this.domain && this.domain !== 'ai.onnx' ? `${this.domain}::${this.opType}` : this.opType;
  }

  input(i: number): Value | undefined {
    return this.inputs[i];
  }

  output(i = 0): Value {
    const v = this.outputs[i];
    if (!v) throw new Error(`node ${this.label}: output ${i} is absent`);
    return v;
  }

  /** For messages: the node's name, or its op and first output when it has none. */
  get label(): string {
    return this.name || `${this.opType}(${this.outputs.find((o) => o)?.name ?? '?'})`;
  }

  setInput(index: number, value: Value | undefined): void {
    const old = this.inputs[index];
    if (old === value) return;
    if (old) {
      const at = old.uses.findIndex((u) => u.node === this && u.index === index);
      if (at >= 0) old.uses.splice(at, 1);
    }
    while (this.inputs.length <= index) this.inputs.push(undefined);
    this.inputs[index] = value;
    if (value) value.uses.push({ node: this, index });
  }

  /** Appends an input (trailing optional inputs). */
  addInput(value: Value | undefined): void {
    this.inputs.push(undefined);
    this.setInput(this.inputs.length - 1, value);
  }

  /** Drops every input use; used when a node leaves the graph. */
  detachInputs(): void {
    for (let i = 0; i < this.inputs.length; i++) this.setInput(i, undefined);
  }

  attr(name: string): Attribute | undefined {
    return this.attributes.find((a) => a.name === name);
  }

  setAttr(attr: Attribute): void {
    const i = this.attributes.findIndex((a) => a.name === attr.name);
    if (i >= 0) this.attributes[i] = attr;
    else this.attributes.push(attr);
  }

  removeAttr(name: string): void {
    this.attributes = this.attributes.filter((a) => a.name !== name);
  }

  attrInt(name: string, dflt?: number): number | undefined {
    const a = this.attr(name);
    return a && a.type === AttributeType.INT ? (a.value as number) : dflt;
  }

  attrFloat(name: string, dflt?: number): number | undefined {
    const a = this.attr(name);
    return a && a.type === AttributeType.FLOAT ? (a.value as number) : dflt;
  }

  attrInts(name: string): number[] | undefined {
    const a = this.attr(name);
    return a && a.type === AttributeType.INTS ? (a.value as number[]) : undefined;
  }

  attrString(name: string, dflt?: string): string | undefined {
    const a = this.attr(name);
    return a && a.type === AttributeType.STRING ? (a.value as string) : dflt;
  }

  /** Subgraphs in this node's attributes (If/Loop/Scan bodies). */
  get subgraphs(): Graph[] {
    return this.attributes.flatMap((a) => a.subgraphs);
  }

  getMetadata(key: string): string | undefined {
    return this.metadataProps.find(([k]) => k === key)?.[1];
  }

  setMetadata(key: string, value: string): void {
    const e = this.metadataProps.find(([k]) => k === key);
    if (e) e[1] = value;
    else this.metadataProps.push([key, value]);
  }
}
