import type { Node } from '../../ir/node.js';
import type { Value } from '../../ir/value.js';
import type { AnyRule, Match } from '../pattern/index.js';
import { constantSource } from '../pattern/constants.js';
import type { FfnKind, NormInfo, WeightRef } from './layer-map.js';

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

export interface NormRecognizer {
  rule: AnyRule;
  /** Turns a match into a norm, or explains why it is not one (the layer is then unrecognized). */
  describe(m: Match): NormFound | string;
}

export interface FfnRecognizer {
  rule: AnyRule;
  describe(m: Match): FfnFound | string;
}

/**
 * How one exporter spells a decoder layer: its norm and FFN rules, and the ops that mark an
 * attention sublayer. Everything exporter-specific lives in one `spellings/*.ts` file.
 */
export interface Spelling {
  name: string;
  description: string;
  norms: NormRecognizer[];
  ffns: FfnRecognizer[];
  /** Ops (`domain::op`, '' domain for ONNX) whose presence marks a fused attention sublayer. */
  attentionOps: string[];
  /**
   * Exact rewrites of this exporter's projections into the plain MatMul form that ffn-fuse widens
   * (applied only to the FFNs being fused).
   */
  canonicalize?: AnyRule[];
}

/** A float MatMul weight: the initializer, or one behind a Transpose (stored [out, in]). */
export function matmulWeight(node: Node | undefined): WeightRef | undefined {
  if (!node) return undefined;
  if (node.opType === 'MatMulNBits' && node.domain === 'com.microsoft') {
    const [, weight, scales, zp] = node.inputs;
    if (!weight?.constant || !scales?.constant) return undefined;
    return {
      kind: 'matmulnbits',
      node,
      weight,
      scales,
      zeroPoints: zp?.constant ? zp : undefined,
      bits: node.attrInt('bits', 4)!,
      blockSize: node.attrInt('block_size', 32)!,
      k: node.attrInt('K')!,
      n: node.attrInt('N')!,
    };
  }
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
