import { AttributeType } from '../../ir/attribute.js';
import { GraphBuilder } from '../../ir/builder.js';
import { DataType } from '../../ir/dtype.js';
import { Graph, topologicalOrder } from '../../ir/graph.js';
import type { Model } from '../../ir/model.js';
import type { Node } from '../../ir/node.js';
import { stringsOf, stringTensor } from '../../ir/string-tensors.js';
import { Tensor } from '../../ir/tensor.js';
import { staticSize } from '../../ir/types.js';
import type { Value } from '../../ir/value.js';
import { definePass } from '../pass.js';
import { evaluateNode } from './evaluator/index.js';

/** Ops never folded: random, stateful, non-tensor results, or folding would grow the model for nothing. */
const NEVER_FOLD = new Set([
  'RandomNormal',
  'RandomUniform',
  'RandomNormalLike',
  'RandomUniformLike',
  'Multinomial',
  'Bernoulli',
  // Inference Dropout is an identity (eliminate-identity's job); training Dropout is random.
  'Dropout',
  // Identity of a constant is eliminate-identity's job (one that names a graph output stays).
  'Identity',
  // Quantized weights stay quantized: folding would store them dequantized, 2-4x bigger.
  'DequantizeLinear',
  'DynamicQuantizeLinear',
  'Print',
  'Assert',
  // Sequences, optionals and maps are not tensors and cannot become initializers.
  'SequenceConstruct',
  'SequenceEmpty',
  'SequenceInsert',
  'SequenceErase',
  'SequenceAt',
  'SequenceLength',
  'SequenceMap',
  'SplitToSequence',
  'ConcatFromSequence',
  'Optional',
  'OptionalGetElement',
  'OptionalHasElement',
]);

type Stats = {
  'nodes folded': number;
  'Constant nodes to initializers': number;
  'shapes folded': number;
  'folded by onnxruntime': number;
  'skipped (too large)': number;
  'skipped (onnxruntime could not evaluate)': number;
};

/**
 * Constant folding. A node whose inputs are all constants (initializers that are not graph inputs)
 * is evaluated and its outputs become initializers; Constant nodes become initializers too; and
 * Shape/Size of a value whose type has a static shape fold without its data. Shape and index
 * arithmetic and exactly reproducible math run in a TypeScript evaluator; other ops run through
 * onnxruntime on a one-node model, so the folded values are what the runtime would compute.
 */
export const foldConstants = definePass({
  name: 'fold-constants',
  summary: 'evaluate nodes with constant inputs (and Shape/Size of static shapes) into initializers',
  options: {
    'max-size': {
      type: 'int',
      description: 'largest tensor folding may create, in elements (transposes of weights are always folded: they do not grow the model)',
      default: 1 << 20,
    },
  },
  async run(model, ctx, options) {
    const stats: Stats = {
      'nodes folded': 0,
      'Constant nodes to initializers': 0,
      'shapes folded': 0,
      'folded by onnxruntime': 0,
      'skipped (too large)': 0,
      'skipped (onnxruntime could not evaluate)': 0,
    };
    const folder = new Folder(model, options['max-size'], stats);
    await folder.foldGraph(model.graph);
    const modified = stats['nodes folded'] + stats['Constant nodes to initializers'] + stats['shapes folded'] > 0;
    return { modified, stats };
  },
});

class Folder {
  private readonly opset: number;

  constructor(
    private readonly model: Model,
    private readonly maxSize: number,
    private readonly stats: Stats,
  ) {
    this.opset = model.opset('') ?? 1;
  }

  async foldGraph(g: Graph): Promise<void> {
    for (const n of topologicalOrder(g) ?? [...g.nodes]) {
      if (n.graph !== g) continue;
      await this.foldNode(g, n);
    }
    for (const n of g.nodes) for (const sub of n.subgraphs) await this.foldGraph(sub);
  }

  private async foldNode(g: Graph, n: Node): Promise<void> {
    if (n.domain !== '' && n.domain !== 'ai.onnx') return;
    if (n.subgraphs.length || NEVER_FOLD.has(n.opType)) return;
    const live = n.outputs.filter((o): o is Value => !!o && (o.uses.length > 0 || o.isGraphOutput));
    if (live.length === 0) return;
    if (live.some((o) => o.type?.kind === 'other')) return;

    if (n.opType === 'Constant') {
      // A Constant that names a graph output would only turn into Identity(initializer).
      if (n.outputs[0]?.isGraphOutput) return;
      const t = constantValue(n);
      if (!t) return;
      this.replace(g, n, [t]);
      this.stats['Constant nodes to initializers']++;
      return;
    }

    // Shape and Size need dims only: never read a constant's data for them.
    if ((n.opType === 'Shape' || n.opType === 'Size') && n.inputs[0]) {
      const t = staticShapeResult(n, n.inputs[0]);
      if (t) {
        this.replace(g, n, [t]);
        this.stats['shapes folded']++;
      }
      return;
    }

    const inputs = n.inputs.map((v) => (v ? v.constant : undefined));
    if (n.inputs.length === 0 || n.inputs.every((v) => !v) || n.inputs.some((v, i) => v && !inputs[i])) return;

    // Transposing a weight does not grow the model, whatever its size.
    const limit = n.opType === 'Transpose' ? Infinity : this.maxSize;
    const known = live.map((o) => (o.type?.kind === 'tensor' ? staticSize(o.type.shape) : undefined));
    if (known.some((s) => s !== undefined && s > limit)) {
      this.stats['skipped (too large)']++;
      return;
    }

    const r = evaluateNode(n, inputs, { opset: this.opset, maxElements: limit });
    let outputs: (Tensor | undefined)[] | undefined;
    if (r.kind === 'ok') outputs = r.outputs;
    else if (r.kind === 'too-large') {
      this.stats['skipped (too large)']++;
      return;
    } else {
      outputs = await evaluateWithOrt(this.model, n, inputs);
      if (!outputs) {
        this.stats['skipped (onnxruntime could not evaluate)']++;
        return;
      }
      if (outputs.some((t) => t && t.size > limit)) {
        this.stats['skipped (too large)']++;
        return;
      }
    }
    if (live.some((o) => !outputs[o.outputIndex])) return;
    if (r.kind !== 'ok') this.stats['folded by onnxruntime']++;
    this.replace(g, n, outputs);
    this.stats['nodes folded']++;
  }

  /** Makes the node's outputs initializers holding `values` (by output index) and removes the node. */
  private replace(g: Graph, n: Node, values: (Tensor | undefined)[]): void {
    n.outputs.forEach((out, i) => {
      const t = values[i];
      if (!out || !t || (out.uses.length === 0 && !out.isGraphOutput)) return;
      if (out.isGraphOutput) {
        // The output keeps its name on an Identity of the new initializer (replaceAllUsesWith does it).
        const init = g.addInitializer(named(t, freeName(g, `${out.name}_const`)));
        g.replaceAllUsesWith(out, init);
      } else {
        // The initializer takes over the output's name.
        const name = out.name;
        g.renameValue(out, g.names.unique(`${name}_folded`), { force: true });
        const init = g.addInitializer(named(t, name));
        g.replaceAllUsesWith(out, init);
      }
    });
    g.removeNode(n);
  }
}

function freeName(g: Graph, base: string): string {
  let name = base;
  for (let k = 1; g.names.has(name); k++) name = `${base}_${k}`;
  return name;
}

/** The tensor under `name`; string tensors are rebuilt so their TensorProto carries the name. */
function named(t: Tensor, name: string): Tensor {
  if (t.dtype === DataType.STRING) return stringTensor(name, t.dims, stringsOf(t));
  return t.name === name ? t : t.withName(name);
}

/** The value of a Constant node, or undefined for sparse values. */
export function constantValue(n: Node): Tensor | undefined {
  const a = n.attributes.find((x) => x.name.startsWith('value') || x.name === 'sparse_value');
  if (!a || a.value === undefined) return undefined;
  const name = n.outputs[0]?.name ?? 'const';
  switch (a.type) {
    case AttributeType.TENSOR: {
      const t = a.value as Tensor;
      return t.dtype === DataType.STRING ? stringTensor(name, t.dims, stringsOf(t)) : t;
    }
    case AttributeType.FLOAT:
      return Tensor.fromArray(name, DataType.FLOAT, [], Float32Array.of(a.value as number));
    case AttributeType.FLOATS:
      return Tensor.fromArray(name, DataType.FLOAT, [(a.value as number[]).length], Float32Array.from(a.value as number[]));
    case AttributeType.INT:
      return Tensor.fromArray(name, DataType.INT64, [], BigInt64Array.of(BigInt(a.value as number)));
    case AttributeType.INTS:
      return Tensor.fromArray(name, DataType.INT64, [(a.value as number[]).length], BigInt64Array.from((a.value as number[]).map(BigInt)));
    case AttributeType.STRING:
      return stringTensor(name, [], [a.value as string]);
    case AttributeType.STRINGS:
      return stringTensor(name, [(a.value as string[]).length], a.value as string[]);
    default:
      return undefined;
  }
}

/** Shape/Size of a constant, or of a value whose declared type fixes the dims it needs; else undefined. */
function staticShapeResult(n: Node, v: Value): Tensor | undefined {
  const shape = v.constant?.dims ?? (v.type?.kind === 'tensor' ? v.type.shape : undefined);
  if (!shape) return undefined;
  const name = n.outputs[0]?.name ?? 'shape';
  if (n.opType === 'Size') {
    const s = staticSize(shape);
    return s === undefined ? undefined : Tensor.fromArray(name, DataType.INT64, [], BigInt64Array.of(BigInt(s)));
  }
  const r = shape.length;
  const clamp = (x: number) => Math.min(Math.max(x < 0 ? x + r : x, 0), r);
  const start = clamp(n.attrInt('start', 0)!);
  const end = clamp(n.attrInt('end', r)!);
  const dims = shape.slice(start, Math.max(start, end));
  if (!dims.every((d): d is number => typeof d === 'number')) return undefined;
  return Tensor.fromArray(name, DataType.INT64, [dims.length], BigInt64Array.from(dims.map(BigInt)));
}

/**
 * Runs one node on constant inputs through onnxruntime (a one-node model, optimizations off).
 * Undefined when onnxruntime cannot load or run it, or returns a type the IR cannot take back.
 */
export async function evaluateWithOrt(model: Model, n: Node, inputs: readonly (Tensor | undefined)[]): Promise<(Tensor | undefined)[] | undefined> {
  const b = new GraphBuilder(new Graph('fold'), model.opsetImports);
  const ins = inputs.map((t, i) => (t ? b.initTensor(named(t, `input_${i}`)) : undefined));
  const outputs = n.outputs.map((o, i) => (o ? `output_${i}` : ''));
  const node = b.node(n.opType, ins, {}, { domain: n.domain, outputs });
  node.attributes = [...n.attributes];
  for (const o of node.outputs) if (o) b.output(o);
  // Initializers that are not graph inputs need IR 4.
  const m = b.build({ irVersion: Math.max(model.irVersion, 4) });
  // Loaded on first use: folding that the TypeScript evaluator covers never loads onnxruntime.
  const { ModelSession } = await import('../../runtime/session.js');
  const { dataTypeOfOrt, fromOrtTensor } = await import('../../runtime/tensors.js');
  let session: Awaited<ReturnType<typeof ModelSession.create>>;
  try {
    session = await ModelSession.create(m, { graphOptimizationLevel: 'disabled' });
  } catch {
    return undefined;
  }
  try {
    const meta = session.session.outputMetadata;
    if (meta.some((o) => !o.isTensor || dataTypeOfOrt(o.type) === undefined)) return undefined;
    const res = await session.run({});
    return n.outputs.map((o, i) => (o ? fromOrtTensor(o.name, res[`output_${i}`]!) : undefined));
  } catch {
    return undefined;
  } finally {
    await session.release();
  }
}
