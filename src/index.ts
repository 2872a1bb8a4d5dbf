/**
 * onnx-opt's programmatic API: load a model, run passes on it, save it.
 *
 *   const model = loadModel('model.onnx');
 *   await runPipeline(model, 'canonicalize,attn-prune{count=4},ffn-fuse');
 *   saveModel(model, 'out.onnx');
 */
import { registerBuiltinPasses } from './passes/builtin.js';
import type { PassDefinition } from './passes/pass.js';
import { defaultRegistry } from './passes/registry.js';

registerBuiltinPasses();

export { OnnxOptError, isOnnxOptError, type ErrorCode } from './errors.js';

// IR
export { Attribute, AttributeType, type AttributeValue } from './ir/attribute.js';
export { GraphBuilder, type OpOptions } from './ir/builder.js';
export { DataType, bitsPerElement, byteSizeOf, dtypeShortName, type TypedArray } from './ir/dtype.js';
export { Graph, topologicalOrder, type NodeSpec } from './ir/graph.js';
export { Model, type OpsetImport } from './ir/model.js';
export { NameAuthority } from './ir/name-authority.js';
export { Node } from './ir/node.js';
export { printGraph, printModel } from './ir/printer.js';
export { formatSummary, summarizeModel, type ModelSummary } from './ir/summary.js';
export { Tensor, float16ToNumber, numberToFloat16, type TensorStorage } from './ir/tensor.js';
export { formatType, tensorType, type Dim, type TensorType, type ValueType } from './ir/types.js';
export { Value, type Use } from './ir/value.js';
export { verifyModel, type Problem } from './ir/verifier.js';

// I/O
export { loadModel, loadModelFromBytes, type LoadOptions } from './io/read-model.js';
export { saveModel, serializeModel, type SaveOptions, type SaveResult } from './io/write-model.js';
export { assertTarget, checkTarget, formatTargetProblems, TargetCheckError, type Target, type TargetCheckResult } from './codegen/targets/check.js';
export { checkOpset, assertOpset } from './codegen/targets/opset.js';
export { generateRunner, writeRunner } from './codegen/ts-runner/index.js';

// Passes
export { definePass, type OptionSpec, type OptionSpecs, type Pass, type PassContext, type PassDefinition, type PassResult } from './passes/pass.js';
export { buildPipeline, runPipeline, runSteps, type PipelineRun, type PipelineStep, type RunOptions } from './passes/pass-manager.js';
export { AnalysisManager, analysesOf, LAYER_MAP, type Analysis } from './passes/analyses.js';
export type { PassInstrument, PassStep, PassTiming } from './passes/instrumentation.js';
export type { PassServices } from './passes/pass.js';
export { parsePipeline, printPipeline, type PipelineElement } from './passes/pipeline.js';
export { PassRegistry, defaultRegistry } from './passes/registry.js';
export { loadPlugin } from './passes/plugins.js';
export { dce } from './passes/canonicalize/dce.js';

export { attnPrune, type AttnPruneReport } from './passes/attn-prune/attn-prune.js';
export { ffnFuse, type FfnFuseReport } from './passes/ffn-fusion/ffn-fuse.js';
export { blockParallel, type BlockParallelReport } from './passes/block-parallel/block-parallel.js';
export { heal } from './passes/heal/heal-pass.js';
export { healModel, type HealReport, type HealRun, type HealSegmentReport } from './passes/heal/heal.js';
export { cse } from './passes/canonicalize/cse.js';
export { eliminateIdentity } from './passes/canonicalize/eliminate-identity.js';
export { foldConstants } from './passes/canonicalize/fold-constants.js';
export { inferShapes, inferShapesPass } from './passes/shape-inference/infer-shapes.js';

// Decoder analysis and pattern rules
export { analyzeDecoder, type AnalyzeOptions } from './passes/analysis/analyze-decoder.js';
export { attentionsOf, hasAttention, originalLayerCount, type AttentionInfo, type FfnInfo, type LayerInfo, type LayerMap, type NormInfo, type WeightRef } from './passes/analysis/layer-map.js';
export { ALL_SPELLINGS } from './passes/analysis/spellings/index.js';
export type { Spelling } from './passes/analysis/spelling.js';
export * from './passes/pattern/index.js';

// Runtime and verification
export { ModelSession, withSession, type SessionOptions } from './runtime/session.js';
export { DecoderRunner, decoderSignature, sequenceFeeds } from './runtime/decoder-inputs.js';
export { runWithProbes, ProbeSession } from './runtime/probes.js';
export { loadCalibration, type CalibrationData, type CalibrationSpec } from './runtime/calibration/index.js';
export { compareModels, formatComparison, type ComparisonResult, type Thresholds } from './verify/compare.js';
export { checkGoldenSets, makeGoldenSets } from './verify/golden-sets.js';

/** Makes a pass available to pipelines by name (`runPipeline(model, 'my-pass{k=1}')`). */
export function registerPass(def: PassDefinition): void {
  defaultRegistry.register(def);
}
