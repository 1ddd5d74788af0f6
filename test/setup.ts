/**
 * npm test's set-up (its pretest, after the build): installs with apt-get
 * the Debian packages of test/tools.ts that are missing, so `npm test` on a
 * fresh Debian machine passes by itself, and says what it did in one line.
 * apt-get update runs only when the install fails (stale package lists).
 */
import { spawnSync } from 'node:child_process';
import { describeNeed, NEEDS, present, which } from './tools.js';

function apt(args: string[]): { ok: boolean; output: string } {
  const result = spawnSync('apt-get', args, { encoding: 'utf8', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' }, maxBuffer: 64 << 20 });
  return { ok: result.status === 0, output: `${result.stdout ?? ''}${result.stderr ?? ''}${result.error?.message ?? ''}` };
}

function fail(message: string, output = ''): never {
  const tail = output.trim().split('\n').slice(-20).join('\n');
  process.stderr.write(`${message}\n${tail ? `${tail}\n` : ''}`);
  process.exit(1);
}

const missing = [...new Set(NEEDS.filter((need) => !present(need)).map((need) => need.debianPackage))];
if (missing.length === 0) {
  process.stdout.write(`test set-up: the ${new Set(NEEDS.map((need) => need.debianPackage)).size} Debian packages the tests need are installed\n`);
  process.exit(0);
}
const list = missing.join(' ');
if (which('apt-get') === undefined || process.getuid?.() !== 0) {
  fail(`test set-up: the tests need the Debian packages ${list}; install them as root: apt-get install ${list}`);
}
const began = Date.now();
process.stdout.write(`test set-up: apt-get install ${list} ... `);
const install = ['install', '-y', '--no-install-recommends', ...missing];
let result = apt(install);
let updated = false;
if (!result.ok) {
  const update = apt(['update']);
  if (!update.ok) fail('\ntest set-up: apt-get update failed', update.output);
  updated = true;
  result = apt(install);
}
if (!result.ok) fail(`\ntest set-up: apt-get install ${list} failed`, result.output);
const still = NEEDS.filter((need) => !present(need));
if (still.length > 0) fail(`\ntest set-up: installed, but still missing: ${still.map((need) => `${describeNeed(need)} (${need.debianPackage})`).join(', ')}`);
process.stdout.write(`done in ${Math.round((Date.now() - began) / 1000)} s${updated ? ', after apt-get update' : ''}\n`);
