import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { renderExploreHtml } from '../../src/report/explore-html.js';
import { tempDir } from '../helpers/paths.js';
import { CHROMIUM, CHROMIUM_ARGS, hasChromium } from './chromium.js';
import { sampleExplore } from './explore-fixture.js';

describe('the explorer chart in real headless Chromium', () => {
  let browser: Browser | undefined;
  beforeAll(async () => {
    if (hasChromium) browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  }, 60_000);
  afterAll(async () => {
    await browser?.close();
  });

  it.skipIf(!hasChromium)('places every point by its speed-up and KL, labels it, and loads nothing from the network', async () => {
    const d = sampleExplore();
    const file = join(tempDir(), 'explore.html');
    writeFileSync(file, renderExploreHtml(d));
    const page = await browser!.newPage({ viewport: { width: 1120, height: 900 } });
    const requests: string[] = [];
    page.on('request', (r) => {
      if (r.url() !== pathToFileURL(file).href) requests.push(r.url());
    });
    await page.goto(pathToFileURL(file).href);
    const points = await page.$$eval('#tradeoff-chart .config-point', (gs) =>
      gs.map((g) => {
        const c = g.querySelector('circle')!.getBoundingClientRect();
        const t = g.querySelector('text.point-label')!.getBoundingClientRect();
        return { speedup: Number(g.getAttribute('data-speedup')), kl: Number(g.getAttribute('data-kl')), x: c.x + c.width / 2, y: c.y + c.height / 2, r: c.width, label: t.width * t.height };
      }),
    );
    expect(points).toHaveLength(d.configs.length);
    for (const p of points) {
      expect(p.r).toBeGreaterThan(0);
      expect(p.label).toBeGreaterThan(0);
    }
    // Right is faster, up is more KL: screen order follows the data.
    for (const a of points) {
      for (const b of points) {
        if (a.speedup > b.speedup + 1e-9) expect(a.x).toBeGreaterThan(b.x);
        if (a.kl > b.kl + 1e-9) expect(a.y).toBeLessThan(b.y);
      }
    }
    const line = await page.$eval('#tradeoff-chart .frontier-line', (l) => l.getBoundingClientRect().width);
    expect(line).toBeGreaterThan(0);
    expect(await page.$$eval('#frontier-table tr', (rows) => rows.length)).toBe(1 + 4);
    expect(requests).toEqual([]);
    await page.close();
  });
});
