import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { OnnxOptError } from '../errors.js';
import type { Model } from '../ir/model.js';
import { saveModel, serializeModel } from '../codegen/write-model.js';

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

/** An ORT session over an IR model, plus whatever temp files it needed. */
export class ModelSession {
  private constructor(
    readonly session: ort.InferenceSession,
    private readonly tempDir: string | undefined,
  ) {}

  /**
   * Opens a session. Small models go to ORT from memory; models with external data are written
   * to a temp folder first so that every `location` resolves relative to the model there.
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
      if (hasExternalData(model)) {
        tempDir = mkdtempSync(join(tmpdir(), 'onnx-opt-session-'));
        const path = join(tempDir, 'model.onnx');
        saveModel(model, path, { externalData: 'external' });
        return new ModelSession(await ort.InferenceSession.create(path, so), tempDir);
      }
      return new ModelSession(await ort.InferenceSession.create(serializeModel(model), so), undefined);
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

function hasExternalData(model: Model): boolean {
  for (const v of model.graph.initializers.values()) if (v.initializer!.storage.kind === 'external') return true;
  return false;
}

function firstLine(s: string): string {
  return s.split('\n')[0]!.slice(0, 500);
}
