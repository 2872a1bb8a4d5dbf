import { existsSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { optimize } from '../../src/cli/commands/optimize.js';
import { saveModel } from '../../src/io/write-model.js';
import { DEMO_PIPELINE, makeDemoModel } from '../../src/fixtures/demo.js';
import { registerBuiltinPasses } from '../../src/passes/builtin.js';
import { renderHtmlReport } from '../../src/report/render-html.js';
import type { OptimizationReport } from '../../src/report/schema.js';
import { tempDir } from '../helpers/paths.js';
import { CHROMIUM, CHROMIUM_ARGS, hasChromium } from './chromium.js';
import { largeReport, sampleReport } from './fixture-report.js';

registerBuiltinPasses();
if (!hasChromium) console.warn(`report browser tests skipped: no Chromium at ${CHROMIUM} (apt-get install chromium, or set CHROMIUM_PATH)`);

/** Elements matching `selector` whose layout box is not empty. */
async function visible(page: Page, selector: string): Promise<number> {
  return page.$$eval(selector, (els) =>
    els.filter((e) => {
      const b = e.getBoundingClientRect();
      return b.width > 0 && b.height > 0;
    }).length,
  );
}

describe('the HTML report in real headless Chromium', () => {
  let browser: Browser | undefined;
  beforeAll(async () => {
    if (hasChromium) browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  }, 60_000);
  afterAll(async () => {
    await browser?.close();
  });

  /** Writes the report's HTML, opens it, and records every request that is not the file itself. */
  async function open(report: OptimizationReport, dir = tempDir()): Promise<{ page: Page; requests: string[]; dir: string }> {
    const file = join(dir, 'report.html');
    writeFileSync(file, renderHtmlReport(report));
    const page = await browser!.newPage({ viewport: { width: 1120, height: 900 } });
    const requests: string[] = [];
    page.on('request', (r) => {
      if (r.url() !== pathToFileURL(file).href) requests.push(r.url());
    });
    await page.goto(pathToFileURL(file).href);
    return { page, requests, dir };
  }

  it.skipIf(!hasChromium)('renders the bars, the heatmap and the verification tables with the right counts, offline', async () => {
    const report = sampleReport();
    const { page, requests, dir } = await open(report);
    const m = report.ffnFuse!.matrix!;
    const defined = m.values.flat().filter((v) => v !== null).length;
    const n = m.layers.length;

    expect(await visible(page, '#attn-scores .score-bar rect.bar')).toBe(10);
    expect(await visible(page, '#attn-scores .score-bar[data-removed="true"] rect.bar')).toBe(5);
    expect(await visible(page, '#attn-scores .score-bar[data-protected="true"] rect.bar')).toBe(2);
    expect(await visible(page, '#dependency-heatmap .heatmap-cell')).toBe(defined);
    expect(await visible(page, '#dependency-heatmap .heatmap-empty')).toBe((n * (n - 1)) / 2 - defined);
    expect(await visible(page, '#dependency-heatmap .group-outline')).toBe(1);
    expect(await visible(page, '#heatmap-legend .legend-tick')).toBe(6);
    // The outline of group 2–4 encloses exactly the heatmap cells of that block.
    const inside = await page.$eval('.group-outline[data-group="2-4"]', (o) => {
      const b = o.getBoundingClientRect();
      return [...document.querySelectorAll('.heatmap-cell')]
        .filter((c) => {
          const r = c.getBoundingClientRect();
          return r.left >= b.left && r.right <= b.right && r.top >= b.top && r.bottom <= b.bottom;
        })
        .map((c) => `${c.getAttribute('data-i')}-${c.getAttribute('data-j')}`);
    });
    expect(inside.sort()).toEqual(['2-3', '2-4', '3-4']);
    // Removed bars are drawn in a colour of their own.
    const fills = await page.$$eval('.score-bar rect.bar', (rs) => rs.map((r) => `${r.parentElement!.getAttribute('data-removed')}:${getComputedStyle(r).fill}`));
    const removedFills = new Set(fills.filter((f) => f.startsWith('true:')).map((f) => f.slice(5)));
    const keptFills = new Set(fills.filter((f) => f.startsWith('false:')).map((f) => f.slice(6)));
    expect(removedFills.size).toBe(1);
    expect(keptFills.has([...removedFills][0]!)).toBe(false);

    expect(await page.$$eval('#summary tr', (rows) => rows.length)).toBe(8);
    expect(await page.$$eval('#verification tr', (rows) => rows.length)).toBe(1 + 8);
    expect(await page.$$eval('#verification-outputs tr[data-output]', (rows) => rows.length)).toBe(3);
    expect(await page.textContent('#verdict .pill')).toBe('PASSED');
    expect(await page.textContent('#pipeline')).toBe(report.pipeline);
    expect(await visible(page, '#latency tr')).toBe(2);
    expect(await visible(page, '#timings tr')).toBe(1 + 2 + 1);

    // Nothing spills out of the page sideways at a laptop width.
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(1120);

    const png = join(dir, 'report.png');
    await page.screenshot({ path: png, fullPage: true });
    expect(statSync(png).size).toBeGreaterThan(10_000);
    expect(requests).toEqual([]);
    await page.close();
  });

  it.skipIf(!hasChromium)('a big model (80 layers, 40-FFN run) renders every bar and cell inside the page', async () => {
    const { page, requests } = await open(largeReport(80));
    expect(await visible(page, '.score-bar rect.bar')).toBe(80);
    expect(await visible(page, '.heatmap-cell')).toBe((40 * 39) / 2);
    expect(await visible(page, '.group-outline')).toBe(2);
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(1120);
    expect(requests).toEqual([]);
    await page.close();
  });

  it.skipIf(!hasChromium)('a real demo report (optimize --verify --report) shows its verification table', async () => {
    const dir = tempDir();
    const input = join(dir, 'demo.onnx');
    saveModel(makeDemoModel(), input);
    const html = join(dir, 'report.html');
    await optimize({ input, output: join(dir, 'out.onnx'), passes: DEMO_PIPELINE, verify: 'max-kl=0.01', quiet: true, report: html });
    expect(existsSync(html)).toBe(true);
    const page = await browser!.newPage();
    await page.goto(pathToFileURL(html).href);
    const rows = await page.$$eval('#verification tr td:first-child', (tds) => tds.map((t) => t.textContent));
    expect(rows).toContain('KL(original‖optimized) mean');
    expect(rows).toContain('top-1 agreement');
    expect(rows).toContain('perplexity ratio');
    expect(await page.textContent('#verdict .pill')).toBe('PASSED');
    expect(await visible(page, '.score-bar rect.bar')).toBe(10);
    expect(await page.$$eval('.score-bar[data-removed="true"]', (b) => b.map((x) => Number(x.getAttribute('data-layer'))))).toEqual([3, 4, 5, 7, 8]);
    expect(await page.$$eval('.group-outline', (b) => b.map((x) => x.getAttribute('data-group')))).toEqual(['2-4']);
    expect(await page.$$eval('#pass-options tr[data-pass]', (r) => r.map((x) => x.getAttribute('data-pass')))).toEqual(['attn-prune', 'ffn-fuse']);
    await page.close();
  });
});
