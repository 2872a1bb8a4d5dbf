import cliProgress from 'cli-progress';
import { silentProgress, type ProgressReporter } from '../passes/progress.js';

/**
 * cli-progress bars on stderr, only when stderr is a terminal and output is not --quiet/--json:
 * piped or logged runs stay clean.
 */
export function terminalProgress(options: { quiet?: boolean; json?: boolean }): ProgressReporter {
  if (options.quiet || options.json || !process.stderr.isTTY) return silentProgress;
  return {
    start(label, total, unit = '') {
      const bar = new cliProgress.SingleBar(
        { format: `${label.padEnd(28)} [{bar}] {value}/{total}${unit ? ` ${unit}` : ''}  {eta_formatted}`, stream: process.stderr, hideCursor: true, clearOnComplete: true },
        cliProgress.Presets.shades_classic,
      );
      bar.start(total, 0);
      return {
        update(done, newTotal) {
          if (newTotal !== undefined) bar.setTotal(newTotal);
          bar.update(done);
        },
        stop() {
          bar.stop();
        },
      };
    },
  };
}
