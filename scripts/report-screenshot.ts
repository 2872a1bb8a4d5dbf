// Renders the demo's report in headless Chromium and saves docs/report-screenshot.png for the README:
//   npm start && npx tsx scripts/report-screenshot.ts
import { existsSync, mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium } from 'playwright-core';

const html = resolve(process.argv[2] ?? 'demo-output/report.html');
if (!existsSync(html)) throw new Error(`${html} not found: run npm start first`);
const out = resolve(import.meta.dirname, '../docs/report-screenshot.png');
mkdirSync(resolve(out, '..'), { recursive: true });
const browser = await chromium.launch({ executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium', args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'] });
const page = await browser.newPage({ viewport: { width: 1100, height: 1000 }, deviceScaleFactor: 1 });
await page.goto(pathToFileURL(html).href);
await page.screenshot({ path: out, fullPage: true });
await browser.close();
console.log(`wrote ${out}`);
