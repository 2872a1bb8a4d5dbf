// Renders the bundled demo's report (the real pipeline on the demo model, in a temp folder) in
// headless Chromium and saves docs/report-screenshot.png for the README:
//   npx tsx scripts/report-screenshot.ts [report.html]
// With an argument, it screenshots that report instead. Needs /usr/bin/chromium (or CHROMIUM_PATH).
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium } from 'playwright-core';
import { optimize } from '../src/cli/commands/optimize.js';
import { saveModel } from '../src/io/write-model.js';
import { DEMO_PIPELINE, makeDemoModel } from '../src/fixtures/demo.js';
import { registerBuiltinPasses } from '../src/passes/builtin.js';
import { renderHtmlReport } from '../src/report/render-html.js';
import { CHROMIUM, CHROMIUM_ARGS, hasChromium } from '../test/report/chromium.js';

if (!hasChromium) throw new Error(`no Chromium at ${CHROMIUM}: apt-get install chromium, or set CHROMIUM_PATH`);
const out = resolve(import.meta.dirname, '../docs/report-screenshot.png');
mkdirSync(resolve(out, '..'), { recursive: true });
const temp = mkdtempSync(join(tmpdir(), 'onnx-opt-screenshot-'));
try {
  let html = process.argv[2] ? resolve(process.argv[2]) : '';
  if (html && !existsSync(html)) throw new Error(`${html} not found`);
  if (!html) {
    // Run in the temp folder with relative paths, so the page shows `demo-model.onnx`, not /tmp/….
    registerBuiltinPasses();
    const cwd = process.cwd();
    process.chdir(temp);
    try {
      saveModel(makeDemoModel(), 'demo-model.onnx');
      const { report } = await optimize({ input: 'demo-model.onnx', output: 'demo-model.opt.onnx', passes: DEMO_PIPELINE, verify: '', calib: 'sampled', quiet: true });
      // optimize records the written path absolutely; show it relative to the folder, like the input.
      writeFileSync('report.html', renderHtmlReport({ ...report, output: relative(temp, report.output) }));
    } finally {
      process.chdir(cwd);
    }
    html = join(temp, 'report.html');
  }
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  try {
    const page = await browser.newPage({ viewport: { width: 1120, height: 1000 }, deviceScaleFactor: 1 });
    await page.goto(pathToFileURL(html).href);
    await page.screenshot({ path: out, fullPage: true });
  } finally {
    await browser.close();
  }
  console.log(`wrote ${out}`);
} finally {
  rmSync(temp, { recursive: true, force: true });
}
