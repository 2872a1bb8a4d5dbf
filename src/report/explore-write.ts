import type { ExploreConfig, ExploreResult } from './explore.js';
import { renderExploreHtml } from './explore-html.js';
import { writeReportFile } from './write.js';

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
  writeReportFile(path, doc, renderExploreHtml);
}
