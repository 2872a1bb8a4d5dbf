// Rebuilds the golden sets in test/golden/ from the project's own fixture models:
//   npx tsx scripts/make-goldens.ts
import { rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { makeGoldenSets } from '../src/verify/golden-sets.js';
import { GOLDEN_CASES, GOLDEN_TOKENS } from '../test/golden/cases.js';

const root = resolve(import.meta.dirname, '../test/golden');
for (const [name, make] of Object.entries(GOLDEN_CASES)) {
  const dir = join(root, name);
  rmSync(dir, { recursive: true, force: true });
  const n = await makeGoldenSets(await make(), GOLDEN_TOKENS, dir);
  console.log(`${name}: ${n} data sets`);
}
