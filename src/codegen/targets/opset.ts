/**
 * Passes never raise a model's opset: a node they add must exist, in the form they spell it, at the
 * opset the model already imports. `checkOpset` is what passes (and the writer) call to hold them
 * to that; it reports every node that breaks it.
 *
 * Checked:
 * - ai.onnx ops added after opset 7 (the ones a rewrite can plausibly emit): the opset must be at
 *   least the op's first since-version, and at most its last for the two ops ONNX removed;
 * - ops whose operands moved from attributes to inputs (Unsqueeze axes at 13, ReduceMean axes at 18,
 *   ...): the spelling must match the imported opset;
 * - a node in any other domain needs an opset import for that domain.
 * Ops the table does not list are not checked here (the target check sees every op).
 */
import { OnnxOptError } from '../../errors.js';
import type { Model } from '../../ir/model.js';

export interface OpSince {
  /** First ai.onnx opset that has the op. */
  since: number;
  /** Last opset that still has it (removed ops). */
  until?: number;
  /** Shown after the reason. */
  note?: string;
}

/** ai.onnx op → since-version (from the ONNX operator changelog). */
export const OP_SINCE: Readonly<Record<string, OpSince>> = {
  // ORT registers this schema in the default domain (opset 1+); it is not an ONNX op.
  SimplifiedLayerNormalization: { since: 1, note: 'an onnxruntime schema: only ORT runs it' },
  Upsample: { since: 7, until: 9 },
  Expand: { since: 8 },
  Acosh: { since: 9 },
  Asinh: { since: 9 },
  Atanh: { since: 9 },
  Compress: { since: 9 },
  ConstantOfShape: { since: 9 },
  Cosh: { since: 9 },
  Erf: { since: 9 },
  EyeLike: { since: 9 },
  IsNaN: { since: 9 },
  MaxUnpool: { since: 9 },
  MeanVarianceNormalization: { since: 9 },
  NonZero: { since: 9 },
  OneHot: { since: 9 },
  Scatter: { since: 9, until: 10 },
  Shrink: { since: 9 },
  Sign: { since: 9 },
  Sinh: { since: 9 },
  TfIdfVectorizer: { since: 9 },
  Where: { since: 9 },
  ConvInteger: { since: 10 },
  DequantizeLinear: { since: 10 },
  IsInf: { since: 10 },
  MatMulInteger: { since: 10 },
  Mod: { since: 10 },
  NonMaxSuppression: { since: 10 },
  QLinearConv: { since: 10 },
  QLinearMatMul: { since: 10 },
  QuantizeLinear: { since: 10 },
  Resize: { since: 10 },
  ReverseSequence: { since: 10 },
  RoiAlign: { since: 10 },
  StringNormalizer: { since: 10 },
  ThresholdedRelu: { since: 10 },
  BitShift: { since: 11 },
  CumSum: { since: 11 },
  Det: { since: 11 },
  DynamicQuantizeLinear: { since: 11 },
  GatherElements: { since: 11 },
  GatherND: { since: 11 },
  Range: { since: 11 },
  Round: { since: 11 },
  ScatterElements: { since: 11 },
  ScatterND: { since: 11 },
  SequenceAt: { since: 11 },
  SequenceConstruct: { since: 11 },
  SplitToSequence: { since: 11 },
  Unique: { since: 11 },
  Celu: { since: 12 },
  Einsum: { since: 12 },
  GreaterOrEqual: { since: 12 },
  LessOrEqual: { since: 12 },
  NegativeLogLikelihoodLoss: { since: 12 },
  SoftmaxCrossEntropyLoss: { since: 12 },
  HardSwish: { since: 14 },
  Trilu: { since: 14 },
  Bernoulli: { since: 15 },
  CastLike: { since: 15 },
  Optional: { since: 15 },
  GridSample: { since: 16 },
  BlackmanWindow: { since: 17 },
  DFT: { since: 17 },
  HammingWindow: { since: 17 },
  HannWindow: { since: 17 },
  LayerNormalization: { since: 17, note: 'onnxruntime alone also accepts it from opset 1' },
  MelWeightMatrix: { since: 17 },
  STFT: { since: 17 },
  BitwiseAnd: { since: 18 },
  BitwiseNot: { since: 18 },
  BitwiseOr: { since: 18 },
  BitwiseXor: { since: 18 },
  CenterCropPad: { since: 18 },
  Col2Im: { since: 18 },
  GroupNormalization: { since: 18 },
  Mish: { since: 18 },
  DeformConv: { since: 19 },
  AffineGrid: { since: 20 },
  Gelu: { since: 20 },
  RegexFullMatch: { since: 20 },
  StringConcat: { since: 20 },
  StringSplit: { since: 20 },
  Attention: { since: 23 },
  RMSNormalization: { since: 23 },
  RotaryEmbedding: { since: 23 },
  Swish: { since: 24 },
  TensorScatter: { since: 24 },
};

/**
 * Operands that moved from an attribute to an input: before `since` the op takes attribute
 * `attr`; from `since` on it takes input `input` instead (and the attribute is gone).
 */
export const OPERAND_MOVES: Readonly<Record<string, { attr: string; input: number; since: number }>> = {
  Slice: { attr: 'starts', input: 1, since: 10 },
  Pad: { attr: 'pads', input: 1, since: 11 },
  Clip: { attr: 'min', input: 1, since: 11 },
  Squeeze: { attr: 'axes', input: 1, since: 13 },
  Unsqueeze: { attr: 'axes', input: 1, since: 13 },
  Split: { attr: 'split', input: 1, since: 13 },
  ReduceSum: { attr: 'axes', input: 1, since: 13 },
  ReduceMean: { attr: 'axes', input: 1, since: 18 },
  ReduceMax: { attr: 'axes', input: 1, since: 18 },
  ReduceMin: { attr: 'axes', input: 1, since: 18 },
  ReduceProd: { attr: 'axes', input: 1, since: 18 },
  ReduceL1: { attr: 'axes', input: 1, since: 18 },
  ReduceL2: { attr: 'axes', input: 1, since: 18 },
  ReduceLogSum: { attr: 'axes', input: 1, since: 18 },
  ReduceLogSumExp: { attr: 'axes', input: 1, since: 18 },
  ReduceSumSquare: { attr: 'axes', input: 1, since: 18 },
};

export interface OpsetProblem {
  node: string;
  op: string;
  reason: string;
}

const NEVER = 'passes never raise the opset';

/** Every node whose op (or spelling of it) the model's imported opsets do not have. */
export function checkOpset(model: Model): OpsetProblem[] {
  const problems: OpsetProblem[] = [];
  const onnx = model.opset('');
  for (const n of model.graph.allNodes()) {
    const domain = n.domain === 'ai.onnx' ? '' : n.domain;
    const op = n.qualifiedOp;
    const add = (reason: string) => problems.push({ node: n.label, op, reason });
    if (domain !== '') {
      if (model.opset(domain) === undefined) add(`node ${n.label} uses ${op}, but the model imports no ${domain} opset`);
      continue;
    }
    if (onnx === undefined) {
      add(`node ${n.label} uses ${op}, but the model imports no ai.onnx opset`);
      continue;
    }
    const since = OP_SINCE[n.opType];
    if (since && onnx < since.since) {
      add(`node ${n.label} uses ${op}, which needs opset ${since.since}; the model imports ${onnx} — ${NEVER}${since.note ? ` (${since.note})` : ''}`);
    } else if (since?.until !== undefined && onnx > since.until) {
      add(`node ${n.label} uses ${op}, which opset ${since.until + 1} removed; the model imports ${onnx}`);
    }
    const move = OPERAND_MOVES[n.opType];
    if (move) {
      const hasAttr = n.attr(move.attr) !== undefined;
      const hasInput = n.inputs.length > move.input && n.inputs[move.input] !== undefined;
      if (onnx < move.since && hasInput) {
        add(`node ${n.label} gives ${op} its ${move.attr} as an input, which needs opset ${move.since}; the model imports ${onnx} — ${NEVER} (use the ${move.attr} attribute)`);
      } else if (onnx >= move.since && hasAttr) {
        add(`node ${n.label} gives ${op} a '${move.attr}' attribute, which opset ${move.since} replaced by an input; the model imports ${onnx}`);
      }
    }
  }
  return problems;
}

/** checkOpset, throwing OnnxOptError('PASS') naming every offending node. `who` names the pass. */
export function assertOpset(model: Model, who?: string): void {
  const problems = checkOpset(model);
  if (!problems.length) return;
  const head = who ? `${who}: ` : '';
  throw new OnnxOptError('PASS', `${head}${problems.map((p) => p.reason).join('; ')}`);
}
