/**
 * Run after an incremental build (npm test's and test:quick's): removes
 * what dist/ holds of a source file that is gone, which tsc --incremental
 * leaves behind, so that a deleted test does not run on from dist/test/.
 */
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const DIST = join(ROOT, 'dist');
const OUTPUT = /^(.*?)(\.d\.ts\.map|\.d\.ts|\.js\.map|\.js)$/;

let removed = 0;
for (const file of readdirSync(DIST, { recursive: true, encoding: 'utf8' })) {
  const stem = OUTPUT.exec(file)?.[1];
  if (stem === undefined || existsSync(join(ROOT, `${stem}.ts`)) || existsSync(join(ROOT, `${stem}.js`))) continue;
  rmSync(join(DIST, file));
  removed++;
}
if (removed > 0) process.stdout.write(`build: removed ${removed} files of dist/ whose source is gone\n`);
