import type { Node } from '../../ir/node.js';
import type { Value } from '../../ir/value.js';
import type { AnyRule, Match } from '../pattern/index.js';
import { constantSource } from '../pattern/constants.js';
import type { FfnKind, NormInfo, SumNode, WeightRef } from './layer-map.js';

/** A norm found by a rule, in the terms LayerMap uses. */
export type NormFound = NormInfo;

/** An FFN found by a rule. `input` is the normalized value it reads. */
export interface FfnFound {
  input: Value;
  output: Value;
  kind: FfnKind;
  gate: WeightRef | undefined;
  up: WeightRef;
  down: WeightRef;
  upBias: Value | undefined;
  gateBias?: Value;
  downBias: Value | undefined;
  activation: string;
  nodes: Node[];
}

/** What a rule's `describe` may ask of the spellings in use (a weight in any of their forms). */
export interface SpellingContext {
  /** The projection weight `node` multiplies by, in any form the spellings know (float, packed). */
  weight(node: Node | undefined): WeightRef | undefined;
}

export interface NormRecognizer {
  rule: AnyRule;
  /** Turns a match into a norm, or explains why it is not one (the layer is then unrecognized). */
  describe(m: Match, ctx: SpellingContext): NormFound | string;
}

export interface FfnRecognizer {
  rule: AnyRule;
  describe(m: Match, ctx: SpellingContext): FfnFound | string;
}

/** Recognizes a node that adds two values (a residual join), in one exporter's spelling. */
export interface JoinRecognizer {
  name: string;
  describe(node: Node): SumNode | undefined;
}

/** A fused attention op, and what its attributes and inputs tell about the sublayer. */
export interface AttentionOp {
  /** `domain::op`, '' domain for ONNX. */
  op: string;
  describe(node: Node): { heads: number | undefined; kvHeads: number | undefined; qkv?: WeightRef };
}

/** Reads a projection weight stored in a form other than a float MatMul/Gemm (e.g. MatMulNBits). */
export type WeightReader = (node: Node) => WeightRef | undefined;

/**
 * How one exporter spells a decoder layer: its norm and FFN rules, and the ops that mark an
 * attention sublayer. Everything exporter-specific lives in one `spellings/*.ts` file.
 */
export interface Spelling {
  name: string;
  description: string;
  norms: NormRecognizer[];
  ffns: FfnRecognizer[];
  /** Ops whose presence marks a fused attention sublayer. */
  attentionOps: AttentionOp[];
  /** The nodes that add a sublayer's output to the residual stream. */
  joins: JoinRecognizer[];
  /** Weight forms besides float MatMul/Gemm initializers. */
  weights?: WeightReader[];
  /**
   * Exact rewrites of this exporter's projections into the plain MatMul form that ffn-fuse widens
   * (applied only to the FFNs being fused).
   */
  canonicalize?: AnyRule[];
}

/** The context analyzeDecoder gives rules: float weights, then each spelling's own weight forms. */
export function spellingContext(spellings: readonly Spelling[]): SpellingContext {
  const readers = spellings.flatMap((s) => s.weights ?? []);
  return {
    weight: (node) => {
      if (!node) return undefined;
      for (const r of readers) {
        const w = r(node);
        if (w) return w;
      }
      return matmulWeight(node);
    },
  };
}

/** A float MatMul weight: the initializer, or one behind a Transpose (stored [out, in]). */
export function matmulWeight(node: Node | undefined): WeightRef | undefined {
  if (!node) return undefined;
  if (node.opType !== 'MatMul' && node.opType !== 'Gemm') return undefined;
  const w = node.inputs[1];
  if (!w) return undefined;
  if (node.opType === 'Gemm' && (node.attrInt('transA', 0) !== 0 || node.attrFloat('alpha', 1) !== 1 || node.attrFloat('beta', 1) !== 1)) return undefined;
  const direct = initializerSource(w);
  // Gemm(transB=1) reads its weight as stored [out, in], like a Transpose in front of a MatMul.
  if (direct) return { kind: 'matmul', node, weight: direct, transposed: node.opType === 'Gemm' && node.attrInt('transB', 0) === 1 ? node : undefined };
  const t = w.producer;
  const tw = t?.opType === 'Transpose' && t.inputs[0] ? initializerSource(t.inputs[0]) : undefined;
  if (t && tw) {
    const perm = t.attrInts('perm');
    if (!perm || (perm[0] === 1 && perm[1] === 0)) return { kind: 'matmul', node, weight: tw, transposed: t };
  }
  return undefined;
}

/** The initializer behind `v` (itself, or through Identity chains of deduplicated weights). */
export function initializerSource(v: Value): Value | undefined {
  const src = constantSource(v);
  return src?.constant ? src : undefined;
}

/** The node that produced a bound value, when it is one of the match's nodes. */
export function producerIn(m: Match, v: Value | undefined): Node | undefined {
  const p = v?.producer;
  return p && m.nodes.includes(p) ? p : undefined;
}
