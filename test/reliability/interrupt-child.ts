/**
 * Runs the CLI with `argv[3..]` and sends itself `argv[2]` (SIGINT or SIGTERM) right after the
 * writer's first write to a data file: a Ctrl-C in the middle of writing, at a known moment.
 * Run as `node --import tsx interrupt-child.ts <signal> <cli args…>` by interrupts.test.ts.
 */
import fs from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';

const [signal, ...args] = process.argv.slice(2);
const writeSync = fs.writeSync;
// Armed only once main() runs, so a write made while loading modules (a transform cache) is not the one.
let armed = false;
let sent = false;
(fs as { writeSync: unknown }).writeSync = (...a: Parameters<typeof fs.writeSync>) => {
  const n = (writeSync as (...x: unknown[]) => number)(...a);
  if (armed && !sent) {
    sent = true;
    process.kill(process.pid, signal as NodeJS.Signals);
    // The kernel may run the signal handler on another thread a moment later; give it that moment,
    // as a user's Ctrl-C would have had while a real write went on.
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 200);
  }
  return n;
};
syncBuiltinESMExports();
const { installInterruptHandlers } = await import('../../src/cli/interrupts.js');
const { main } = await import('../../src/cli/main.js');
installInterruptHandlers();
armed = true;
process.exitCode = await main(args);
