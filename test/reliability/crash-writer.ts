/**
 * Child process for crash-safety.test.ts: writes a model with `mb` MiB of external data (four
 * streamed initializers, nothing held in memory) to `out` with saveModel, reporting on stdout:
 *
 *   saving                  before saveModel starts
 *   progress <done> <total> every 8 MiB of data written
 *   renamed <file name>     after each rename (only with --pause-after-data-rename)
 *   done                    after saveModel returned
 *
 * With --pause-after-data-rename it sleeps 2 s after renaming a data file into place (before the
 * model), so the parent can kill it exactly in that window.
 *
 *   node --import tsx test/reliability/crash-writer.ts <out> <mb> [--pause-after-data-rename]
 */
import fs from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';
import { basename } from 'node:path';

const [out, mbText, flag] = process.argv.slice(2);
if (!out || !mbText) throw new Error('usage: crash-writer.ts <out> <mb> [--pause-after-data-rename]');
const say = (line: string) => fs.writeSync(1, line + '\n');

if (flag === '--pause-after-data-rename') {
  const rename = fs.renameSync;
  fs.renameSync = (from: fs.PathLike, to: fs.PathLike) => {
    rename(from, to);
    say(`renamed ${basename(String(to))}`);
    if (!String(to).endsWith('.onnx')) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 2000);
  };
  syncBuiltinESMExports(); // the writer's `import { renameSync } from 'node:fs'` now sees the wrapper
}

const { saveModel } = await import('../../src/io/write-model.js');
const { bigModel } = await import('./crash-model.js');

let reported = 0;
say('saving');
saveModel(bigModel(Number(mbText)), out, {
  externalData: 'external',
  onProgress(done, total) {
    if (done - reported >= 8 << 20 || done === total) {
      reported = done;
      say(`progress ${done} ${total}`);
    }
  },
});
say('done');
