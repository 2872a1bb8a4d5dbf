import { existsSync } from 'node:fs';

/**
 * Debian's `chromium` package (`apt-get install chromium`; .ci/run installs it), driven by
 * playwright-core, which never downloads a browser. CHROMIUM_PATH overrides the location.
 */
export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
export const hasChromium = existsSync(CHROMIUM);

/** Headless, and nothing that reaches the network on its own. */
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
