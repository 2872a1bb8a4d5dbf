import { removeTrackedTemps } from '../io/temp-files.js';

/** Exit codes of a process stopped by a signal, as shells report them (128 + signal number). */
const SIGNAL_EXIT = { SIGINT: 130, SIGTERM: 143 } as const;

/**
 * On Ctrl-C or SIGTERM, removes the temporary files of writes in progress and exits. Writers
 * return to the event loop between chunks and right before renaming, so the handler runs before
 * any temporary file becomes output: an interrupted run leaves the old state, never part of a new one.
 */
export function installInterruptHandlers(): void {
  for (const [signal, code] of Object.entries(SIGNAL_EXIT)) {
    process.on(signal, () => {
      const removed = removeTrackedTemps();
      process.stderr.write(`onnx-opt: interrupted by ${signal}${removed ? `; removed ${removed} temporary file(s)` : ''}\n`);
      process.exit(code);
    });
  }
}
