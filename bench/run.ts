// `npm run bench [name...]`: runs the named benchmarks (all by default). Each prints ratios
// against a baseline measured in the same run; nothing here asserts on time.
import { benchAttnPrune } from './attn-prune.js';
import { benchBlockParallel } from './block-parallel.js';
import { benchCalibration } from './calibration.js';
import { benchFfnFuse } from './ffn-fuse.js';
import { benchHeal } from './heal.js';
import { benchIo } from './io.js';
import { benchRoofline } from './roofline.js';

const benches: Record<string, () => void | Promise<void>> = {
  io: () => benchIo(),
  'attn-prune': () => benchAttnPrune(),
  'ffn-fuse': () => benchFfnFuse(),
  'block-parallel': () => benchBlockParallel(),
  calibration: () => benchCalibration(),
  roofline: () => benchRoofline(),
  heal: () => benchHeal(),
};

const wanted = process.argv.slice(2).filter((a) => !a.startsWith('-'));
for (const name of wanted.length ? wanted : Object.keys(benches)) {
  const b = benches[name];
  if (!b) {
    console.error(`unknown benchmark '${name}' (have: ${Object.keys(benches).join(', ')})`);
    process.exit(2);
  }
  await b();
}
