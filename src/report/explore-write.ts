import { mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, extname, join } from 'node:path';
import { OnnxOptError } from '../errors.js';
import type { ExploreConfig, ExploreResult } from './explore.js';
import { renderExploreHtml } from './explore-html.js';

/** What `onnx-opt explore --json` prints and `--report out.json` writes (see SCHEMA.md). */
export interface ExploreDocument extends ExploreResult {
  schema: 'onnx-opt.explore';
  version: 1;
  createdAt: string;
  model: string;
  /** Where the scoring and the held-out tokens came from. */
  scoringSource: string;
  heldoutSource: string;
  maxKl?: number;
  /** The best configuration within maxKl (the fastest, then the lowest KL), when maxKl is given. */
  recommended?: ExploreConfig;
}

/** Writes the explorer's report as HTML (`.html`/`.htm`) or JSON (`.json`), atomically. */
export function writeExploreReport(path: string, doc: ExploreDocument): void {
  const ext = extname(path).toLowerCase();
  let text: string;
  if (ext === '.html' || ext === '.htm') text = renderExploreHtml(doc);
  else if (ext === '.json') text = JSON.stringify(doc, null, 2) + '\n';
  else throw new OnnxOptError('USAGE', 'the report path must end in .html or .json', { file: path });
  mkdirSync(dirname(path), { recursive: true });
  const temp = join(dirname(path), `.${basename(path)}.${process.pid}.tmp`);
  try {
    writeFileSync(temp, text);
    renameSync(temp, path);
  } catch (e) {
    rmSync(temp, { force: true });
    throw new OnnxOptError('IO', `cannot write the report: ${(e as Error).message}`, { file: path, cause: e });
  }
}
