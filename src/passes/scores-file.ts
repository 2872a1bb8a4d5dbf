import { OnnxOptError } from '../errors.js';

/**
 * The --scores file, version 1 (docs/scores.schema.json): `{"format": "onnx-opt-scores",
 * "version": 1, "attn-prune": {"scores": [...]}, "ffn-fuse": {"matrix": {...}}}`. A JSON that
 * declares this format is checked in full here, each problem named by its JSON path; reports and
 * --json output (no `format`) are read by the passes as before.
 */
export const SCORES_FORMAT = 'onnx-opt-scores';
export const SCORES_VERSION = 1;

/** Throws USAGE naming the first problem of a versioned scores file; no-op for other JSON. */
export function checkScoresFile(j: unknown, where: string): void {
  if (!isObject(j) || j.format !== SCORES_FORMAT) return;
  const fail = (path: string, what: string): never => {
    throw new OnnxOptError('USAGE', `${where}: ${path}: ${what} (see docs/scores.schema.json)`);
  };
  if (j.version !== SCORES_VERSION) fail('$.version', `version ${JSON.stringify(j.version)} is not supported (this onnx-opt reads version ${SCORES_VERSION})`);
  if (j.numLayers !== undefined && !(Number.isInteger(j.numLayers) && (j.numLayers as number) >= 1)) fail('$.numLayers', 'must be a positive integer');
  const scores = (v: unknown, path: string) => {
    if (!Array.isArray(v)) fail(path, 'must be an array of {"layer": n, "score": x}');
    (v as unknown[]).forEach((s, i) => {
      if (!isObject(s)) fail(`${path}[${i}]`, 'must be an object {"layer": n, "score": x}');
      const o = s as Record<string, unknown>;
      if (!Number.isInteger(o.layer) || (o.layer as number) < 0) fail(`${path}[${i}].layer`, 'must be a non-negative integer');
      if (typeof o.score !== 'number' || !Number.isFinite(o.score)) fail(`${path}[${i}].score`, 'must be a finite number');
    });
  };
  const attn = j['attn-prune'];
  if (attn !== undefined) {
    if (!isObject(attn)) fail('$["attn-prune"]', 'must be an object');
    const a = attn as Record<string, unknown>;
    if (a.method !== undefined && !['cosine', 'kl', 'greedy-kl'].includes(a.method as string)) fail('$["attn-prune"].method', `must be cosine, kl or greedy-kl, got ${JSON.stringify(a.method)}`);
    scores(a.scores, '$["attn-prune"].scores');
    if (a.by !== undefined) {
      if (!isObject(a.by)) fail('$["attn-prune"].by', 'must be an object of score lists');
      for (const [k, v] of Object.entries(a.by as object)) scores(v, `$["attn-prune"].by.${k}`);
    }
  }
  const ffn = j['ffn-fuse'];
  if (ffn !== undefined) {
    if (!isObject(ffn) || !isObject((ffn as Record<string, unknown>).matrix)) fail('$["ffn-fuse"].matrix', 'must be an object {"layers": [...], "values": [[...]]}');
    const m = (ffn as Record<string, Record<string, unknown>>).matrix!;
    const layers = m.layers;
    if (!Array.isArray(layers) || !layers.every((l) => Number.isInteger(l) && l >= 0)) fail('$["ffn-fuse"].matrix.layers', 'must be an array of layer indices');
    if (new Set(layers as number[]).size !== (layers as number[]).length) fail('$["ffn-fuse"].matrix.layers', 'must not repeat a layer');
    const n = (layers as number[]).length;
    if (!Array.isArray(m.values) || m.values.length !== n) fail('$["ffn-fuse"].matrix.values', `must have one row per layer (${n})`);
    (m.values as unknown[]).forEach((row, a) => {
      if (!Array.isArray(row) || row.length !== n) fail(`$["ffn-fuse"].matrix.values[${a}]`, `must be an array of ${n} numbers or nulls`);
      (row as unknown[]).forEach((v, b) => {
        if (v !== null && !(typeof v === 'number' && v >= 0 && v <= 2)) fail(`$["ffn-fuse"].matrix.values[${a}][${b}]`, `must be null or a cosine distance in [0, 2], got ${JSON.stringify(v)}`);
      });
    });
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
