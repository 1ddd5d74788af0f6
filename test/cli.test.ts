/** The command line as an operator uses it: real processes, real signals. */
import t from 'tap';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { LineClient, tempDir } from './helpers.js';
import { spawn } from 'node:child_process';
import { BIN, finish, run, serve } from './cli-helpers.js';
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
  const bad = await run(['serve', '--port', 'seven']);
  t.equal(bad.code, 1);
  t.match(bad.stderr, /expected a port number/);
  const loud = await run(['serve', '--log-level', 'loud']);
  t.equal(loud.code, 1);
  t.match(loud.stderr, /expected one of debug, info, warn, error/);
});

t.test('serve: logs where it listens, answers, and stops cleanly on SIGTERM and SIGINT', { timeout: 30000 }, async (t) => {
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    const db = join(tempDir(t), 'bus.db');
    const { child, port, stderr } = await serve(['--db', db]);
    t.match(stderr(), new RegExp(`info listening on 127\\.0\\.0\\.1:${port} db=${db}`));
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
  t.match(first, { level: 'info', msg: `listening on 127.0.0.1:${port}`, db });
  const done = finish(child);
  child.kill('SIGTERM');
  t.equal((await done).code, 0);
  c.close();
});

t.test('a database it cannot use stops serve with one line and exit 1', { timeout: 20000 }, async (t) => {
  const dir = tempDir(t);
  const text = join(dir, 'notes.txt');
  writeFileSync(text, 'not sqlite\n'.repeat(1000));
  const result = await run(['serve', '--port', '0', '--db', text]);
  t.equal(result.code, 1);
  t.equal(result.stderr, `linebus: ${text}: not a usable linebus database: file is not a database\n`);
  const missingDir = await run(['serve', '--port', '0', '--db', join(dir, 'no', 'such', 'dir.db')]);
  t.equal(missingDir.code, 1);
  t.match(missingDir.stderr, /^linebus: .*dir\.db: cannot open database: .*\n$/);
});

t.test('a port in use is one line and exit 1', { timeout: 20000 }, async (t) => {
  const db = join(tempDir(t), 'a.db');
  const { child, port } = await serve(['--db', db]);
  const second = await run(['serve', '--port', String(port), '--db', join(tempDir(t), 'b.db')]);
  t.equal(second.code, 1);
  t.match(second.stderr, /^linebus: listen EADDRINUSE: address already in use 127\.0\.0\.1:\d+\n$/);
  child.kill('SIGTERM');
  await finish(child);
});

t.test('SIGHUP without --config only logs', { timeout: 20000 }, async (t) => {
  const { child, stderr } = await serve(['--db', join(tempDir(t), 'bus.db')]);
  const logged = new Promise<void>((resolve) => child.stderr.on('data', () => /SIGHUP: users are read at every login/.test(stderr()) && resolve()));
  child.kill('SIGHUP');
  await logged;
  const done = finish(child);
  child.kill('SIGTERM');
  t.equal((await done).code, 0);
});

t.test('systemd socket activation: listens on the inherited fd 3', { timeout: 20000 }, async (t) => {
  const db = join(tempDir(t), 'bus.db');
  // What systemd does: a listening socket as fd 3, LISTEN_FDS=1 and
  // LISTEN_PID set to the pid of the process it execs.
  const script = [
    'import os, socket, sys',
    's = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(16)',
    'print(s.getsockname()[1], flush=True)',
    'os.dup2(s.fileno(), 3); os.set_inheritable(3, True)',
    'env = dict(os.environ, LISTEN_FDS="1", LISTEN_PID=str(os.getpid()), LISTEN_FDNAMES="linebus.socket")',
    'os.execve(sys.argv[1], sys.argv[1:], env)',
  ].join('\n');
  const child = spawn('python3', ['-c', script, process.execPath, BIN, 'serve', '--port', '1', '--db', db]);
  const done = finish(child);
  const port = await new Promise<number>((resolve) => child.stdout.once('data', (d: Buffer) => resolve(Number(d.toString().trim()))));
  const c = await LineClient.login(port, 'alice');
  c.write('ping systemd');
  t.equal(await c.line(), 'pong systemd');
  child.kill('SIGTERM');
  const result = await done;
  t.equal(result.code, 0);
  t.match(result.stderr, new RegExp(`info listening on 127\\.0\\.0\\.1:${port} fd=3`));
  c.close();
});
