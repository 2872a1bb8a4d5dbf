import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { optimize } from '../../src/cli/commands/optimize.js';
import { saveModel } from '../../src/codegen/write-model.js';
import { DEMO_PIPELINE, makeDemoModel } from '../../src/fixtures/demo.js';
import { registerBuiltinPasses } from '../../src/passes/builtin.js';
import { renderHtmlReport } from '../../src/report/render-html.js';
import { tempDir } from '../helpers/paths.js';
import { sampleReport } from './fixture-report.js';

/** Debian's chromium package; .ci/run installs it. Without it the test says why it skipped. */
export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const hasChromium = existsSync(CHROMIUM);
registerBuiltinPasses();
if (!hasChromium) console.warn(`report browser test skipped: no Chromium at ${CHROMIUM} (apt-get install chromium, or set CHROMIUM_PATH)`);

export const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

describe('the HTML report in real headless Chromium', () => {
  it.skipIf(!hasChromium)('renders the bars, the heatmap and the verification table with the right counts', async () => {
    const dir = tempDir();
    const file = join(dir, 'report.html');
    const report = sampleReport();
    writeFileSync(file, renderHtmlReport(report));
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
    try {
      const page = await browser.newPage({ viewport: { width: 1100, height: 900 } });
      const requests: string[] = [];
      page.on('request', (r) => {
        if (!r.url().startsWith('file:')) requests.push(r.url());
      });
      await page.goto(pathToFileURL(file).href);
      const visible = async (selector: string) =>
        page.$$eval(selector, (els) => els.filter((e) => {
          const b = (e as Element).getBoundingClientRect();
          return b.width > 0 && b.height > 0;
        }).length);
      expect(await visible('.score-bar rect')).toBe(10);
      expect(await visible('.score-bar[data-removed="true"] rect')).toBe(5);
      const cells = report.ffnFuse!.matrix!.values.flat().filter((v) => v !== null).length;
      expect(await visible('#dependency-heatmap .heatmap-cell')).toBe(cells);
      expect(await visible('#dependency-heatmap .group-outline')).toBe(1);
      expect(await page.$$eval('#summary tr', (rows) => rows.length)).toBe(8);
      expect(await page.textContent('#pipeline')).toBe(report.pipeline);
      // Distinct colours on a log scale: the smallest and largest M_ij differ.
      const fills = new Set(await page.$$eval('.heatmap-cell', (els) => els.map((e) => e.getAttribute('fill'))));
      expect(fills.size).toBeGreaterThan(3);
      await page.screenshot({ path: join(dir, 'report.png'), fullPage: true });
      expect(existsSync(join(dir, 'report.png'))).toBe(true);
      expect(requests).toEqual([]);
    } finally {
      await browser.close();
    }
  });

  it.skipIf(!hasChromium)('a real demo report shows its verification table', async () => {
    const dir = tempDir();
    const input = join(dir, 'demo.onnx');
    saveModel(makeDemoModel(), input);
    const html = join(dir, 'report.html');
    await optimize({ input, output: join(dir, 'out.onnx'), passes: DEMO_PIPELINE, verify: 'max-kl=0.01', quiet: true, report: html });
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
    try {
      const page = await browser.newPage();
      await page.goto(pathToFileURL(html).href);
      const rows = await page.$$eval('#verification tr td:first-child', (tds) => tds.map((t) => t.textContent));
      expect(rows).toContain('KL(original‖optimized) mean');
      expect(rows).toContain('top-1 agreement');
      expect(rows).toContain('perplexity ratio');
      expect(await page.textContent('#verification + p')).toBe('PASSED');
      expect(await page.$$eval('.score-bar', (b) => b.length)).toBe(10);
      expect(await page.$$eval('.group-outline', (b) => b.map((x) => x.getAttribute('data-group')))).toEqual(['2-4']);
    } finally {
      await browser.close();
    }
  });
});
