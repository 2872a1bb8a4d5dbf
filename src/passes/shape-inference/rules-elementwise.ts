import { DataType } from '../../ir/dtype.js';
import type { Dim } from '../../ir/types.js';
import { ONNX, INT_TYPES, sameAs, symElementwise, type InferContext, type RuleEntry, type ShapeRule } from './context.js';
import { broadcastShapes, dimAdd, dimDivExact, dimMul, dimNeg, dimSub } from './dims.js';
import type { Node } from '../../ir/node.js';

/** Ops whose single output has the type and shape of input 0. */
const UNARY = [
  'Identity', 'Neg', 'Abs', 'Relu', 'Sigmoid', 'Tanh', 'Exp', 'Log', 'Sqrt', 'Reciprocal', 'Floor', 'Ceil', 'Round',
  'Sin', 'Cos', 'Tan', 'Asin', 'Acos', 'Atan', 'Sinh', 'Cosh', 'Asinh', 'Acosh', 'Atanh', 'Erf', 'Gelu', 'Softplus',
  'Softsign', 'Elu', 'Selu', 'Celu', 'LeakyRelu', 'ThresholdedRelu', 'HardSigmoid', 'HardSwish', 'Mish', 'Sign',
  'Clip', 'Shrink', 'BitwiseNot', 'Trilu', 'CumSum', 'PRelu', 'LRN', 'ReverseSequence',
];

/** Broadcasting binary/variadic ops whose element type is input 0's. */
const BROADCAST = ['Add', 'Sub', 'Mul', 'Div', 'Pow', 'Mod', 'Max', 'Min', 'Sum', 'Mean', 'BitShift', 'BitwiseAnd', 'BitwiseOr', 'BitwiseXor'];

/** Broadcasting ops with a boolean result. */
const COMPARE = ['Equal', 'Less', 'Greater', 'LessOrEqual', 'GreaterOrEqual', 'And', 'Or', 'Xor'];

const unary: ShapeRule = (node, ctx) => {
  const x = node.input(0);
  if (node.opType === 'Identity' || node.opType === 'Abs' || node.opType === 'Neg' || node.opType === 'Floor' || node.opType === 'Ceil') {
    const s = ctx.value(x);
    if (s) ctx.setValue(node.outputs[0], symElementwise([s], UNARY_VALUE[node.opType]!));
  }
  // PRelu broadcasts its slope to X's shape.
  return [sameAs(ctx, x)];
};

const UNARY_VALUE: Record<string, (a: Dim) => Dim> = {
  Identity: (a) => a,
  Neg: (a) => dimNeg(a),
  // Dims are never negative, so a symbol's absolute value is itself.
  Abs: (a) => (typeof a === 'number' ? Math.abs(a) : a),
  Floor: (a) => (typeof a === 'number' ? Math.floor(a) : a),
  Ceil: (a) => (typeof a === 'number' ? Math.ceil(a) : a),
};

function numeric(f: (a: number, b: number) => number): (a: Dim, b: Dim) => Dim {
  return (a, b) => (typeof a === 'number' && typeof b === 'number' ? f(a, b) : null);
}

function binaryValueOp(op: string, isInt: boolean): ((...xs: Dim[]) => Dim) | undefined {
  switch (op) {
    case 'Add':
      return dimAdd;
    case 'Sub':
      return dimSub;
    case 'Mul':
      return dimMul;
    case 'Div':
      return (a, b) => {
        if (typeof a === 'number' && typeof b === 'number') {
          if (b === 0) return null;
          return isInt ? Math.trunc(a / b) : a / b;
        }
        return dimDivExact(a, b);
      };
    case 'Mod':
      return numeric((a, b) => (b === 0 ? NaN : a - b * Math.floor(a / b)));
    case 'Max':
      return (...xs) => (xs.every((x) => typeof x === 'number') ? Math.max(...(xs as number[])) : xs.every((x) => x === xs[0]) ? xs[0]! : null);
    case 'Min':
      return (...xs) => (xs.every((x) => typeof x === 'number') ? Math.min(...(xs as number[])) : xs.every((x) => x === xs[0]) ? xs[0]! : null);
    case 'Sum':
      return (...xs) => xs.reduce<Dim>((acc, x) => dimAdd(acc, x), 0);
    case 'Pow':
      return numeric((a, b) => a ** b);
    case 'Equal':
      return (a, b) => {
        if (a === null || b === null) return null;
        if (a === b) return 1;
        if (typeof a === 'number' && typeof b === 'number') return 0;
        // A symbolic dim is never negative.
        if ((typeof a === 'number' && a < 0) || (typeof b === 'number' && b < 0)) return 0;
        return null;
      };
    case 'Less':
      return compare((a, b) => a < b);
    case 'Greater':
      return compare((a, b) => a > b);
    case 'LessOrEqual':
      return compare((a, b) => a <= b);
    case 'GreaterOrEqual':
      return compare((a, b) => a >= b);
    case 'And':
      return numeric((a, b) => (a && b ? 1 : 0));
    case 'Or':
      return numeric((a, b) => (a || b ? 1 : 0));
    case 'Xor':
      return numeric((a, b) => (!!a !== !!b ? 1 : 0));
    default:
      return undefined;
  }
}

function compare(f: (a: number, b: number) => boolean): (a: Dim, b: Dim) => Dim {
  return (a, b) => (typeof a === 'number' && typeof b === 'number' ? (f(a, b) ? 1 : 0) : null);
}

function trackBinary(node: Node, ctx: InferContext, isInt: boolean): void {
  const f = binaryValueOp(node.opType, isInt);
  if (!f) return;
  const ins = node.inputs.filter((v) => v);
  if (ins.length === 0) return;
  const vals = ins.map((v) => ctx.value(v));
  const out = symElementwise(vals, f);
  if (out && out.data.some((d) => typeof d === 'number' && !Number.isFinite(d))) return;
  ctx.setValue(node.outputs[0], out);
}

const broadcast: ShapeRule = (node, ctx) => {
  const ins = node.inputs.filter((v) => v);
  const dtype = ins.map((v) => ctx.dtype(v)).find((d) => d !== undefined);
  trackBinary(node, ctx, dtype !== undefined && INT_TYPES.has(dtype));
  return [{ dtype: node.opType === 'Pow' ? ctx.dtype(node.input(0)) : dtype, shape: broadcastShapes(ins.map((v) => ctx.shape(v))) }];
};

const comparison: ShapeRule = (node, ctx) => {
  trackBinary(node, ctx, false);
  const ins = node.inputs.filter((v) => v);
  return [{ dtype: DataType.BOOL, shape: broadcastShapes(ins.map((v) => ctx.shape(v))) }];
};

const not: ShapeRule = (node, ctx) => {
  const s = ctx.value(node.input(0));
  if (s) ctx.setValue(node.outputs[0], symElementwise([s], (a) => (typeof a === 'number' ? (a ? 0 : 1) : null)));
  return [{ dtype: DataType.BOOL, shape: ctx.shape(node.input(0)) }];
};

const boolOfInput: ShapeRule = (node, ctx) => [{ dtype: DataType.BOOL, shape: ctx.shape(node.input(0)) }];

const dropout: ShapeRule = (node, ctx) => {
  const x = sameAs(ctx, node.input(0));
  return [x, { dtype: DataType.BOOL, shape: x?.shape }];
};

export const ELEMENTWISE_RULES: RuleEntry[] = [
  [ONNX, UNARY, unary],
  [ONNX, BROADCAST, broadcast],
  [ONNX, COMPARE, comparison],
  [ONNX, ['Not'], not],
  [ONNX, ['IsNaN', 'IsInf'], boolOfInput],
  [ONNX, ['Dropout'], dropout],
];
