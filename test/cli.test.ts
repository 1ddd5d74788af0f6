/** The command line as an operator uses it: real processes, real signals. */
import t from 'tap';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { LineClient, tempDir } from './helpers.js';
import { ENV, finish, NO_LOADER, run, serve } from './cli-helpers.js';
import { version } from '../src/version.js';

t.test('--version and --help', { timeout: 20000 }, async (t) => {
  const printed = await run(['--version']);
  t.equal(printed.stdout, `${version()}\n`);
  const help = await run(['--help']);
  t.match(help.stdout, /serve/);
  t.match(help.stdout, /user/);
  const serveHelp = await run(['serve', '--help']);
  for (const option of ['--host', '--port', '--db', '--max-line', '--max-pending', '--max-connections', 'LINEBUS_DB']) {
    t.match(serveHelp.stdout, option);
  }
  const loud = await run(['serve', '--log-level', 'loud']);
  t.equal(loud.code, 1);
  t.match(loud.stderr, /expected one of debug, info, warn, error/);
});

t.test('serve: logs where it listens, answers, and stops cleanly on SIGTERM and SIGINT', { timeout: 30000 }, async (t) => {
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    const db = join(tempDir(t), 'bus.db');
    const { child, port, stderr } = await serve(['--db', db]);
    t.match(stderr(), new RegExp(`notice listening on 127\\.0\\.0\\.1:${port} db=${db}`));
    t.match(stderr(), /warn no users in .* open mode/);
    const c = await LineClient.login(port, 'alice');
    c.write('send a hello');
    t.equal(await c.line(), 'ok send 1');
    const done = finish(child);
    child.kill(signal);
    t.equal(await c.line(), 'err shutdown the server is stopping; reconnect later');
    t.equal(await c.line(), undefined, 'then the connection closes');
    const result = await done;
    t.equal(result.code, 0, `${signal}: exit 0`);
    t.match(stderr() + result.stderr, new RegExp(`info ${signal} received[\\s\\S]*info stopped`));
  }
});

t.test('a second signal while clients drain exits 1 at once', { timeout: 20000 }, async (t) => {
  const { child, port, stderr } = await serve(['--db', join(tempDir(t), 'bus.db')]);
  const c = await LineClient.login(port, 'alice');
  // This client reads err shutdown but never closes its side, so the drain
  // would wait for it.
  c.socket.on('end', () => {});
  const done = finish(child);
  child.kill('SIGTERM');
  t.equal(await c.line(), 'err shutdown the server is stopping; reconnect later');
  child.kill('SIGTERM');
  const result = await done;
  t.equal(result.code, 1);
  t.match(stderr() + result.stderr, /warn second SIGTERM: exiting without waiting/);
  c.close();
});

t.test('options come from the environment too', { timeout: 20000 }, async (t) => {
  const db = join(tempDir(t), 'env.db');
  const { child, port, stderr } = await serve([], { LINEBUS_DB: db, LINEBUS_MAX_LINE: '20', LINEBUS_LOG_FORMAT: 'json' });
  const c = await LineClient.login(port, 'alice');
  c.write('send a 0123456789ABCDEF');
  t.equal(await c.line(), 'err toolong line is over the 20-byte limit and was dropped; send shorter lines');
  const first = JSON.parse(stderr().split('\n')[1] as string) as Record<string, unknown>;
  t.match(first, { level: 'notice', msg: `listening on 127.0.0.1:${port}`, db });
  const done = finish(child);
  child.kill('SIGTERM');
  t.equal((await done).code, 0);
  c.close();
});

t.test('a test process that exits without stopping its linebus children takes them with it', { timeout: 20000 }, async (t) => {
  const db = join(tempDir(t), 'left.db');
  const helpers = new URL('cli-helpers.js', import.meta.url).href;
  // A test that fails before it stops its daemon, as a process of its own.
  const script = `const { serve } = await import(${JSON.stringify(helpers)});
const daemon = await serve(['--db', ${JSON.stringify(db)}]);
console.log(daemon.child.pid);
process.exit(1);`;
  const left = await finish(spawn(ENV, [...NO_LOADER, process.execPath, '--input-type=module', '-e', script]));
  t.equal(left.code, 1, left.stderr);
  const pid = Number(left.stdout.trim());
  t.ok(pid > 0, 'the daemon had started');
  // Not a child of this process: its end cannot be awaited, so looked for (5 s at most).
  const gone = (): boolean => !existsSync(`/proc/${pid}`) || readFileSync(`/proc/${pid}/stat`, 'utf8').split(' ')[2] === 'Z';
  for (let i = 0; i < 500 && !gone(); i++) await new Promise((resolve) => setTimeout(resolve, 10));
  t.ok(gone(), `the daemon (pid ${pid}) is gone`);
});
