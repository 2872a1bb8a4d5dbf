import type { Attribute } from '../../ir/attribute.js';
import type { Node } from '../../ir/node.js';
import type { Value } from '../../ir/value.js';

/**
 * LayerMap: where the decoder layers are and what each consists of. `attn-prune` and `ffn-fuse`
 * act only through this map; exporter-specific spellings are recognized by the pattern rules in
 * `./spellings/`, never by the passes.
 */

export type NormKind = 'rms' | 'layer';

export interface NormInfo {
  kind: NormKind;
  /** The value normalized (the residual stream, or for fused Skip* norms the pre-add stream). */
  input: Value;
  /** The normalized value the sublayer reads. */
  output: Value;
  weight: Value | undefined;
  bias: Value | undefined;
  epsilon: number;
  /** Nodes of the norm (one for fused ops, the decomposed chain otherwise). */
  nodes: Node[];
  /**
   * Fused residual form (SkipSimplifiedLayerNormalization / SkipLayerNormalization): the node
   * computes `input + skip` (its output 3 is the residual) and normalizes that.
   */
  fused?: { node: Node; skip: Value; residualOutput: Value | undefined };
  /** Casts to float32 and back around the chain (fp16 exports). */
  castToFloat?: boolean;
  /** The normalized value before the weight is applied (`x / rms(x)`), when the graph has it. */
  unscaled?: Value;
}

/** A weight as stored: a float initializer in ONNX [in, out] layout, or a MatMulNBits pack. */
export type WeightRef =
  | {
      kind: 'matmul';
      node: Node;
      weight: Value;
      /** weight sits behind a Transpose (stored [out, in]) */
      transposed: Node | undefined;
      /** Output columns [start, end) this projection owns of a packed MatMul (phi3's gate_up_proj, sliced in halves). */
      columns?: [number, number];
    }
  | {
      kind: 'matmulnbits';
      node: Node;
      weight: Value;
      scales: Value;
      zeroPoints: Value | undefined;
      bits: number;
      blockSize: number;
      k: number;
      n: number;
    };

/**
 * A node that adds two values (its inputs 0 and 1), as an exporter spells it: a plain ONNX `Add`, or
 * a fused norm that also normalizes the sum (ORT's Skip*LayerNormalization). Spelling join rules
 * produce these; `passes/rewrite/residual-join.ts` edits them without knowing the op.
 */
export interface SumNode {
  node: Node;
  /** The sum, i.e. the residual stream after the node; undefined when the graph does not use it. */
  sum: Value | undefined;
  /** Input index of a constant the node adds along with its operands (ORT folds a projection's bias there). */
  biasInput?: number;
  /** Fused norm joins: output 0 is the norm of the sum; `unfused` is the same norm of one value. */
  fusedNorm?: {
    /** Output index of the sum. */
    sumOutput: number;
    /** The node that normalizes one value like this one normalizes the sum: `opType(value, ...params)`. */
    unfused: { opType: string; domain: string; params: (Value | undefined)[]; attributes: Attribute[] };
  };
}

/**
 * How a sublayer's contribution joins the residual stream: `out = stream + contribution`, spelled by
 * `at`. Parallel blocks (`x + (a + f)`, `(x + a) + f`, or `Skip(x, a + f)`) add the contribution to the
 * other sublayer's output or to a partial sum first: then `at` is that local add and `parallel` is set.
 */
export interface ResidualJoin {
  /** The node that adds the contribution. */
  at: SumNode;
  /** The input of `at.node` the contribution enters (0 or 1). */
  slot: 0 | 1;
  /** The value the sublayer adds: o_proj/down output, Granite's scaled product, or Gemma 2's post-norm output. */
  contribution: Value;
  /** The residual stream the sublayer reads. Unless `parallel`, `at.node`'s other operand. */
  stream: Value;
  /** The residual stream after the join (for parallel blocks, after the block); undefined when unused. */
  out: Value | undefined;
  /** The contribution is added to something other than the stream (parallel blocks). */
  parallel: boolean;
  /** Granite's residual multiplier: `contribution = factor · unscaled`, computed by `node`. */
  scale?: { factor: number; node: Node; unscaled: Value };
}

export interface AttentionInfo {
  norm: NormInfo;
  /** The value this sublayer adds to the residual stream (o_proj output). */
  output: Value;
  /** Where `output` joins the residual stream, as the spelling describes it; undefined when not recognized. */
  join: ResidualJoin | undefined;
  /** `join.at.node` (the Add or fused Skip* norm that adds `output`). Prefer `join`. */
  residualAdd: Node | undefined;
  /** Every node that belongs to this sublayer (between the norm output and `output`). */
  nodes: Node[];
  op: string;
  q: WeightRef | undefined;
  k: WeightRef | undefined;
  v: WeightRef | undefined;
  o: WeightRef | undefined;
  /** Packed QKV projection, when the exporter uses one. */
  qkv?: WeightRef;
  heads: number | undefined;
  kvHeads: number | undefined;
  /** KV-cache graph inputs and outputs this layer owns (per-layer key/value or stacked past_i). */
  cacheInputs: Value[];
  cacheOutputs: Value[];
  /** Cache outputs other layers feed too (a cache shared across layers). */
  sharedCacheOutputs?: Value[];
}

export type FfnKind = 'swiglu' | 'geglu' | 'gelu-mlp' | 'relu-mlp' | 'fastgelu-mlp';

export interface FfnInfo {
  norm: NormInfo;
  kind: FfnKind;
  /** The normalized value the FFN reads. */
  input: Value;
  /** The value this sublayer adds to the residual stream (down projection output, bias included). */
  output: Value;
  /** Where `output` joins the residual stream, as the spelling describes it. */
  join: ResidualJoin | undefined;
  /** The node that adds `output` to the stream (for parallel blocks, the one adding the block's sum). Prefer `join`. */
  residualAdd: Node | undefined;
  nodes: Node[];
  /** Gated FFNs: gate and up; plain MLPs: up is the first projection. */
  gate: WeightRef | undefined;
  up: WeightRef;
  down: WeightRef;
  /** Plain MLPs: bias of the first projection and of the second (gated FFNs: of up and down). */
  upBias: Value | undefined;
  /** Gated FFNs with biased projections (Llama's mlp_bias): the gate's bias. */
  gateBias?: Value;
  downBias: Value | undefined;
  /** The activation node(s), e.g. Sigmoid+Mul for SiLU, Gelu, FastGelu, Relu. */
  activation: string;
  /**
   * A norm applied to the FFN output before the residual add (Gemma 2's post_feedforward_layernorm):
   * `x + N_post(FFN(N(x)))`. A sum of such FFNs is not one wide FFN, so ffn-fuse refuses them.
   */
  postNorm?: NormInfo;
  /** A constant the FFN output is multiplied by before the residual add (Granite); `output` is the product. */
  outputScale?: number;
}

export interface LayerInfo {
  index: number;
  /** Residual stream entering the layer. */
  residualIn: Value;
  /** Residual after the attention sublayer (the FFN's input stream). */
  residualMid: Value;
  /** Residual leaving the layer. */
  residualOut: Value;
  attention: AttentionInfo | undefined;
  ffn: FfnInfo | undefined;
  /** `x + Attn(N(x)) + FFN(N(x))` in one block (GPT-J, Falcon, Phi-2). */
  parallel: boolean;
  /** For an FFN fused by ffn-fuse: the original layers it stands for, [first, last]. */
  span?: [number, number];
  /**
   * A window of parallel blocks left with separate attentions (block-parallel with merge-heads=false):
   * the attentions of layers `span[0]`..`span[1]`, in order, all reading `residualIn` and added to it
   * one after the other, `residualMid = residualIn + Σ_t a_t`. `attention` is undefined then: a pass
   * that acts on one attention must leave the window alone (see `attentionsOf`).
   */
  attentions?: AttentionInfo[];
}

/** Every attention sublayer of the layer entry: its own, or a parallel window's. */
export function attentionsOf(l: LayerInfo): AttentionInfo[] {
  return l.attention ? [l.attention] : (l.attentions ?? []);
}

/** Whether the layer entry still computes attention (a parallel window of them counts). */
export function hasAttention(l: LayerInfo): boolean {
  return l.attention !== undefined || (l.attentions?.length ?? 0) > 0;
}

/** The one-line reason a pass leaves a window of parallel attentions alone. */
export function parallelWindowNote(l: LayerInfo): string {
  const [j, k] = l.span ?? [l.index, l.index];
  return `layers ${j}-${k} run their attentions in parallel (block-parallel with merge-heads=false)`;
}

/** Node metadata that records which original layers a fused FFN covers ("4-7"), so indices stay stable. */
export const FUSED_LAYERS_KEY = 'onnx-opt.fused-layers';

export interface UnrecognizedLayer {
  index: number;
  /** Why it was not recognized, from the tracer: never guessed. */
  reason: string;
}

export interface LayerMap {
  /** Which spelling rules recognized the model (e.g. 'torchscript', 'genai'). */
  spelling: string;
  layers: LayerInfo[];
  unrecognized: UnrecognizedLayer[];
  /** The residual stream values in order: embedding output, then each layer's mid and out. */
  backbone: Value[];
  hiddenSize: number | undefined;
}

/**
 * The model's number of decoder layers by original index (what `-1` in a layer list means): a fused
 * FFN or a parallel window stands for its whole span, so this is not `layers.length`.
 */
export function originalLayerCount(map: LayerMap): number {
  return 1 + Math.max(-1, ...map.layers.map((l) => l.span?.[1] ?? l.index), ...map.unrecognized.map((u) => u.index));
}
