/**
 * The Node client from another project (README, "Client commands"): the
 * tarball `npm pack` makes installs into a project outside the clone, and
 * there `import { connect } from 'linebus'` and the `linebus` command work
 * against a real daemon.
 *
 * The install is offline, from npm's cache (filled by the clone's own
 * `npm ci`): the project gets a lockfile with linebus's dependencies as
 * the clone's lockfile pins them, the tree `npm install <tarball>` would
 * make. Install scripts are skipped: compiling better-sqlite3 takes
 * minutes, and the client does not load it.
 */
import t from 'tap';
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ENV, finish, NO_LOADER } from './cli-helpers.js';
import { startServer, tempDir } from './helpers.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

interface LockEntry {
  dev?: boolean;
  dependencies?: Record<string, string>;
  [key: string]: unknown;
}

/** A project that depends on the tarball `file`, with the lockfile `npm install` would write. */
function project(dir: string, file: string): string {
  const lock = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8')) as { packages: Record<string, LockEntry> };
  const { version, dependencies, bin, engines, license } = lock.packages[''] as LockEntry;
  const packages: Record<string, LockEntry> = {
    '': { name: 'app', version: '1.0.0', dependencies: { linebus: `file:../${file}` } },
    'node_modules/linebus': { version, resolved: `file:../${file}`, dependencies, bin, engines, license },
  };
  for (const [path, entry] of Object.entries(lock.packages)) if (path !== '' && entry.dev !== true) packages[path] = entry;
  const app = join(dir, 'app');
  mkdirSync(app);
  // The allowScripts entry the README asks for: npm 11 runs better-sqlite3's build without asking.
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'app', version: '1.0.0', type: 'module', dependencies: { linebus: `file:../${file}` }, allowScripts: { 'better-sqlite3': true } }));
  writeFileSync(join(app, 'package-lock.json'), JSON.stringify({ name: 'app', version: '1.0.0', lockfileVersion: 3, requires: true, packages }));
  return app;
}

t.test('npm pack, then npm install of the tarball elsewhere: the import and the command work', { timeout: 120000 }, async (t) => {
  const dir = tempDir(t);
  // dist/ is built (npm test builds first); packing without scripts keeps
  // the build the other tests run from.
  const packed = spawnSync(ENV, [...NO_LOADER, 'npm', 'pack', '--ignore-scripts', '--json', '--pack-destination', dir], { cwd: ROOT, encoding: 'utf8' });
  t.equal(packed.status, 0, packed.stderr);
  // What the tarball holds is docs.test.ts's; here, whether it works.
  const [{ filename }] = JSON.parse(packed.stdout) as [{ filename: string }];

  const app = project(dir, filename);
  const installed = spawnSync(ENV, [...NO_LOADER, 'npm', 'ci', '--offline', '--ignore-scripts', '--no-audit', '--no-fund'], { cwd: app, encoding: 'utf8' });
  t.equal(installed.status, 0, installed.stderr);

  const { port } = await startServer(t);
  const script = `import { connect } from 'linebus';
const bus = await connect({ port: ${port}, user: 'app' });
console.log(await bus.send('t', 'from another project'));
await bus.close();`;
  t.match(await finish(spawn(ENV, [...NO_LOADER, process.execPath, '--input-type=module', '-e', script], { cwd: app })), { code: 0, stdout: '1\n', stderr: '' });
  t.match(await finish(spawn(ENV, [...NO_LOADER, join(app, 'node_modules', '.bin', 'linebus'), 'recv', '--port', String(port), 't', '--since', '0', '-n', '1'], { cwd: app })), { code: 0, stdout: 't 1 app from another project\n', stderr: '' });

  // npm 11.16 and later list install scripts that allowScripts does not cover.
  const reviewed = spawnSync(ENV, [...NO_LOADER, 'npm', 'install-scripts', 'ls'], { cwd: app, encoding: 'utf8' });
  if (reviewed.status === 0) t.equal(reviewed.stdout, 'No packages with unreviewed install scripts.\n', 'allowScripts covers better-sqlite3');
});

t.test('npm install of a clone not built yet says what to do, instead of leaving a link to no dist/', { timeout: 60000 }, async (t) => {
  const dir = tempDir(t);
  // An unbuilt clone as npm sees it: its package.json, no node_modules, no dist/.
  const clone = join(dir, 'linebus');
  mkdirSync(clone);
  writeFileSync(join(clone, 'package.json'), readFileSync(join(ROOT, 'package.json')));
  const app = join(dir, 'app');
  mkdirSync(app);
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'app', version: '1.0.0', type: 'module' }));
  const installed = spawnSync(ENV, [...NO_LOADER, 'npm', 'install', '--offline', '--no-audit', '--no-fund', clone], { cwd: app, encoding: 'utf8' });
  t.not(installed.status, 0);
  t.match(installed.stderr, 'linebus: no TypeScript in this clone: run npm ci in it first (that builds dist/), or install the tarball that npm pack makes');
});
