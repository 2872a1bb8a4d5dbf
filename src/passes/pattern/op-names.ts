/**
 * Operator names that `op.<Name>(...)` accepts in patterns and rewrites, so editors complete them
 * and typos fail to compile. Any other operator is reachable through `op.call(name, inputs, options)`.
 * The name says nothing about the domain: pass `{ domain: 'com.microsoft' }` for contrib ops.
 */
export const ONNX_OPS = [
  'Abs', 'Acos', 'Acosh', 'Add', 'AffineGrid', 'And', 'ArgMax', 'ArgMin', 'Asin', 'Asinh', 'Atan', 'Atanh',
  'AveragePool', 'BatchNormalization', 'Bernoulli', 'BitShift', 'BitwiseAnd', 'BitwiseNot', 'BitwiseOr',
  'BitwiseXor', 'BlackmanWindow', 'Cast', 'CastLike', 'Ceil', 'Celu', 'CenterCropPad', 'Clip', 'Col2Im',
  'Compress', 'Concat', 'ConcatFromSequence', 'Constant', 'ConstantOfShape', 'Conv', 'ConvInteger',
  'ConvTranspose', 'Cos', 'Cosh', 'CumSum', 'DepthToSpace', 'DequantizeLinear', 'Det', 'DFT', 'Div',
  'Dropout', 'DynamicQuantizeLinear', 'Einsum', 'Elu', 'Equal', 'Erf', 'Exp', 'Expand', 'EyeLike',
  'Flatten', 'Floor', 'Gather', 'GatherElements', 'GatherND', 'Gelu', 'Gemm', 'GlobalAveragePool',
  'GlobalLpPool', 'GlobalMaxPool', 'Greater', 'GreaterOrEqual', 'GridSample', 'GroupNormalization',
  'GRU', 'HammingWindow', 'HannWindow', 'Hardmax', 'HardSigmoid', 'HardSwish', 'Identity', 'If',
  'InstanceNormalization', 'IsInf', 'IsNaN', 'LayerNormalization', 'LeakyRelu', 'Less', 'LessOrEqual',
  'Log', 'LogSoftmax', 'Loop', 'LpNormalization', 'LpPool', 'LRN', 'LSTM', 'MatMul', 'MatMulInteger',
  'Max', 'MaxPool', 'MaxRoiPool', 'MaxUnpool', 'Mean', 'MeanVarianceNormalization', 'MelWeightMatrix',
  'Min', 'Mish', 'Mod', 'Mul', 'Multinomial', 'Neg', 'NonMaxSuppression', 'NonZero', 'Not', 'OneHot',
  'Optional', 'OptionalGetElement', 'OptionalHasElement', 'Or', 'Pad', 'Pow', 'PRelu', 'QLinearConv',
  'QLinearMatMul', 'QuantizeLinear', 'RandomNormal', 'RandomNormalLike', 'RandomUniform',
  'RandomUniformLike', 'Range', 'Reciprocal', 'ReduceL1', 'ReduceL2', 'ReduceLogSum', 'ReduceLogSumExp',
  'ReduceMax', 'ReduceMean', 'ReduceMin', 'ReduceProd', 'ReduceSum', 'ReduceSumSquare', 'RegexFullMatch',
  'Relu', 'Reshape', 'Resize', 'ReverseSequence', 'RMSNormalization', 'RNN', 'RoiAlign', 'RotaryEmbedding', 'Round',
  'Scan', 'Scatter', 'ScatterElements', 'ScatterND', 'Selu', 'SequenceAt', 'SequenceConstruct',
  'SequenceEmpty', 'SequenceErase', 'SequenceInsert', 'SequenceLength', 'SequenceMap', 'Shape', 'Shrink',
  'Sigmoid', 'Sign', 'Sin', 'Sinh', 'Size', 'Slice', 'Softmax', 'SoftmaxCrossEntropyLoss', 'Softplus',
  'Softsign', 'SpaceToDepth', 'Split', 'SplitToSequence', 'Sqrt', 'Squeeze', 'StringConcat',
  'StringNormalizer', 'StringSplit', 'Sub', 'Sum', 'Swish', 'Tan', 'Tanh', 'TfIdfVectorizer',
  'ThresholdedRelu', 'Tile', 'TopK', 'Transpose', 'Trilu', 'Unique', 'Unsqueeze', 'Upsample', 'Where',
  'Xor', 'Attention',
] as const;

/** com.microsoft (and ORT-internal default-domain) operators that LLM exports and fusions use. */
export const CONTRIB_OPS = [
  'BiasAdd', 'BiasGelu', 'BiasSoftmax', 'BiasSplitGelu', 'DecoderMaskedMultiHeadAttention',
  'DynamicQuantizeMatMul', 'EmbedLayerNormalization', 'FastGelu', 'FusedConv', 'FusedGemm', 'FusedMatMul',
  'GatherBlockQuantized', 'GemmaRotaryEmbedding', 'GroupQueryAttention', 'MatMulBnb4', 'MatMulIntegerToFloat',
  'MatMulNBits', 'MoE', 'MultiHeadAttention', 'PackedAttention', 'PackedMultiHeadAttention', 'QuickGelu',
  'SimplifiedLayerNormalization', 'SkipGroupNorm', 'SkipLayerNormalization', 'SkipSimplifiedLayerNormalization',
  'SparseAttention',
] as const;

export type OpName = (typeof ONNX_OPS)[number] | (typeof CONTRIB_OPS)[number];
