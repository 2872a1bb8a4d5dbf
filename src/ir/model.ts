import { Graph } from './graph.js';

export interface OpsetImport {
  domain: string;
  version: number;
}

/** ModelProto fields the IR carries through without modelling (functions, training info, device configs). */
export interface ModelExtras {
  sourceProto?: unknown;
}

/**
 * A model: the main graph plus the ModelProto envelope. Functions, training info and device
 * configurations are carried through unchanged (no pass rewrites them).
 */
export class Model {
  irVersion = 8;
  opsetImports: OpsetImport[] = [{ domain: '', version: 17 }];
  producerName = '';
  producerVersion = '';
  domain = '';
  modelVersion = 0;
  docString = '';
  metadataProps: [string, string][] = [];
  graph: Graph;
  /** The file this model was read from, if any (external data paths resolve against its folder). */
  sourcePath: string | undefined;
  extras: ModelExtras = {};

  constructor(graph: Graph = new Graph()) {
    this.graph = graph;
  }

  /** The opset version imported for a domain ('' and 'ai.onnx' are the same), or undefined. */
  opset(domain = ''): number | undefined {
    const d = domain === 'ai.onnx' ? '' : domain;
    return this.opsetImports.find((o) => (o.domain === 'ai.onnx' ? '' : o.domain) === d)?.version;
  }

  /** Adds an opset import if the domain has none (never raises an existing version). */
  requireOpset(domain: string, version: number): void {
    if (this.opset(domain) === undefined) this.opsetImports.push({ domain, version });
  }

  getMetadata(key: string): string | undefined {
    return this.metadataProps.find(([k]) => k === key)?.[1];
  }
}
