import { toBinary } from '@bufbuild/protobuf';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, sep } from 'node:path';
import * as ort from 'onnxruntime-node';
import { ModelProtoSchema, type TensorProto } from 'onnx-buf';
import { encodeModel, externalTensorProto, inlineTensorProto } from '../io/encode.js';
import { saveModel } from '../io/write-model.js';
import { OnnxOptError } from '../errors.js';
import type { Graph } from '../ir/graph.js';
import type { Model } from '../ir/model.js';
import type { Tensor } from '../ir/tensor.js';

export type GraphOptimizationLevel = 'disabled' | 'basic' | 'extended' | 'all';

export interface SessionOptions {
  /** Intra-op threads (default 1: calibration runs are many and small; tests run in parallel). */
  threads?: number;
  graphOptimizationLevel?: GraphOptimizationLevel;
  /** Execution providers, e.g. ['cuda', 'cpu'] (default cpu). */
  executionProviders?: string[];
  /** ORT's arena: off keeps memory bounded between calibration batches. */
  enableCpuMemArena?: boolean;
}

/**
 * Inline bytes above which a model cannot go to ORT as one protobuf (2 GiB, less headroom for the
 * graph): such a model (big new tensors, no source file) is saved to a temp folder instead.
 */
const MAX_INLINE_BYTES = 1.5 * 2 ** 30;

/** How a session got its model: from memory with references to the source data files, or saved. */
export type SessionLoad = { kind: 'memory'; protoBytes: number; externalFolder: string | undefined } | { kind: 'saved'; bytesWritten: number };

/** An ORT session over an IR model, plus whatever temp files it needed. */
export class ModelSession {
  private constructor(
    readonly session: ort.InferenceSession,
    private readonly tempDir: string | undefined,
    /** What opening cost in bytes: the protobuf built in memory, or the bytes written to disk. */
    readonly load: SessionLoad,
  ) {}

  /**
   * Opens a session without copying weights: the graph is serialized in memory with every external
   * tensor still pointing at its source data file (location relative to the files' common folder,
   * which ORT is told with `session.model_external_initializers_file_folder_path`), so ORT reads
   * (mmaps) the source bytes and nothing is written. Only a model whose in-memory tensors would not
   * fit one protobuf is saved to a temp folder.
   */
  static async create(model: Model, options: SessionOptions = {}): Promise<ModelSession> {
    const so: ort.InferenceSession.SessionOptions = {
      intraOpNumThreads: options.threads ?? 1,
      interOpNumThreads: 1,
      graphOptimizationLevel: options.graphOptimizationLevel ?? 'all',
      executionProviders: options.executionProviders ?? ['cpu'],
      enableCpuMemArena: options.enableCpuMemArena ?? false,
    };
    let tempDir: string | undefined;
    try {
      const { external, inlineBytes } = tensorsOf(model);
      if (inlineBytes > MAX_INLINE_BYTES) {
        tempDir = mkdtempSync(join(tmpdir(), 'onnx-opt-session-'));
        const path = join(tempDir, 'model.onnx');
        const saved = saveModel(model, path, { externalData: 'external' });
        return new ModelSession(await ort.InferenceSession.create(path, so), tempDir, { kind: 'saved', bytesWritten: saved.bytesWritten });
      }
      const folder = external.size ? commonFolder([...external]) : undefined;
      const bytes = toBinary(ModelProtoSchema, encodeModel(model, referencingEmitter(folder)));
      if (folder) so.extra = { session: { model_external_initializers_file_folder_path: folder } };
      const session = await ort.InferenceSession.create(bytes, so);
      return new ModelSession(session, undefined, { kind: 'memory', protoBytes: bytes.byteLength, externalFolder: folder });
    } catch (e) {
      if (tempDir) rmSync(tempDir, { recursive: true, force: true });
      if (e instanceof OnnxOptError) throw e;
      throw new OnnxOptError('UNSUPPORTED', `onnxruntime cannot load the model: ${firstLine((e as Error).message)}`, { cause: e });
    }
  }

  get inputNames(): readonly string[] {
    return this.session.inputNames;
  }

  get outputNames(): readonly string[] {
    return this.session.outputNames;
  }

  async run(feeds: Record<string, ort.Tensor>, outputs?: readonly string[]): Promise<Record<string, ort.Tensor>> {
    try {
      return await (outputs ? this.session.run(feeds, outputs as string[]) : this.session.run(feeds));
    } catch (e) {
      throw new OnnxOptError('UNSUPPORTED', `onnxruntime failed to run the model: ${firstLine((e as Error).message)}`, { cause: e });
    }
  }

  async release(): Promise<void> {
    await this.session.release();
    if (this.tempDir) rmSync(this.tempDir, { recursive: true, force: true });
  }
}

/** Runs `fn` with a session that is always released. */
export async function withSession<T>(model: Model, options: SessionOptions, fn: (s: ModelSession) => Promise<T>): Promise<T> {
  const s = await ModelSession.create(model, options);
  try {
    return await fn(s);
  } finally {
    await s.release();
  }
}

/** Emits external tensors as references relative to `folder`, everything else inline. */
function referencingEmitter(folder: string | undefined): (t: Tensor) => TensorProto {
  return (t) => {
    const s = t.storage;
    if (s.kind === 'external' && folder !== undefined) return externalTensorProto(t, relative(folder, s.path).split(sep).join('/'), s.offset, s.length);
    return inlineTensorProto(t);
  };
}

/** The data files external tensors live in, and the bytes that would go inline. */
function tensorsOf(model: Model): { external: Set<string>; inlineBytes: number } {
  const external = new Set<string>();
  let inlineBytes = 0;
  const visit = (g: Graph) => {
    for (const v of g.initializers.values()) {
      const t = v.initializer!;
      if (t.storage.kind === 'external') external.add(t.storage.path);
      else inlineBytes += t.byteLength;
    }
    for (const n of g.nodes) for (const sub of n.subgraphs) visit(sub);
  };
  visit(model.graph);
  return { external, inlineBytes };
}

/** The deepest folder that holds every path (ORT refuses data outside the folder it is given). */
function commonFolder(paths: string[]): string {
  let parts = dirname(paths[0]!).split(sep);
  for (const p of paths.slice(1)) {
    const q = dirname(p).split(sep);
    let k = 0;
    while (k < parts.length && k < q.length && parts[k] === q[k]) k++;
    parts = parts.slice(0, k);
  }
  return parts.join(sep) || sep;
}

function firstLine(s: string): string {
  return s.split('\n')[0]!.slice(0, 500);
}
