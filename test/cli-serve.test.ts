/** serve refusing what it cannot do, and the ways it is started: real processes. */
import t from 'tap';
import { readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { LineClient, startServer, tempDir, TEST_WAL_BYTES } from './helpers.js';
import { walPreallocateBytes } from '../src/cli/serve.js';
import { Store } from '../src/store/store.js';
import { BIN, finish, linebus, nodeCommand, run, serve } from './cli-helpers.js';
import { tool } from './tools.js';

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

t.test('one daemon per journal; --log-level warn still says where it listens; SIGHUP without --config only logs', { timeout: 30000 }, async (t) => {
  const db = join(tempDir(t), 'bus.db');
  const { child, stderr } = await serve(['--db', db, '--log-level', 'warn']);
  t.match(stderr(), /notice listening on 127\.0\.0\.1:\d+/);
  t.notMatch(stderr(), / info /, 'and nothing below warn');
  t.equal(statSync(`${db}-wal`).size, TEST_WAL_BYTES, 'the WAL LINEBUS_WAL_PREALLOCATE_BYTES asks for');
  const second = await run(['serve', '--port', '0', '--db', db]);
  t.equal(second.code, 1);
  t.equal(second.stderr, `linebus: ${db} is in use by another linebus serve (it holds ${db}.lock); stop that one, or give another --db\n`);
  const done = finish(child);
  child.kill('SIGTERM');
  t.equal((await done).code, 0);
  const again = await serve(['--db', db]);
  t.pass('free again once the first has stopped');
  const stopped = finish(again.child);
  again.child.kill('SIGKILL');
  await stopped;
  const afterKill = await serve(['--db', db]);
  t.pass('and after a kill -9: the lock dies with its process');
  // This last daemon, started without --config, serves the SIGHUP check too.
  afterKill.child.kill('SIGHUP');
  await afterKill.logged(/SIGHUP: users are read at every login/);
  const last = finish(afterKill.child);
  afterKill.child.kill('SIGTERM');
  t.equal((await last).code, 0, 'SIGHUP only logged: a clean stop after it');
});

t.test('LINEBUS_WAL_PREALLOCATE_BYTES: a whole number of bytes, or the default', async (t) => {
  const table: [string | undefined, number | undefined][] = [
    [undefined, undefined],
    ['65536', 65536],
    ['0', 0],
    ['', undefined],
    ['1e6', undefined],
    ['-1', undefined],
    ['lots', undefined],
  ];
  for (const [value, bytes] of table) t.equal(walPreallocateBytes(value === undefined ? {} : { LINEBUS_WAL_PREALLOCATE_BYTES: value }), bytes, String(value));
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
  const child = spawn(tool('/usr/bin/python3'), ['-c', script, ...nodeCommand(), BIN, 'serve', '--port', '1', '--db', db]);
  const done = finish(child);
  const port = await new Promise<number>((resolve) => child.stdout.once('data', (d: Buffer) => resolve(Number(d.toString().trim()))));
  const c = await LineClient.login(port, 'alice');
  c.write('ping systemd');
  t.equal(await c.line(), 'pong systemd');
  child.kill('SIGTERM');
  const result = await done;
  t.equal(result.code, 0);
  t.match(result.stderr, new RegExp(`notice listening on 127\\.0\\.0\\.1:${port} fd=3`));
  c.close();
});

t.test('bad --cluster settings stop serve with one line and exit 1', { timeout: 20000 }, async (t) => {
  const db = join(tempDir(t), 'bus.db');
  const table: [string[], string][] = [
    [['--cluster', 'http://n1:4222'], "linebus: --cluster: 'http://n1:4222': the scheme is nats:// (or tls://), not http://\n"],
    [['--cluster', ' , '], 'linebus: --cluster: no NATS URL; write nats://host:4222[,nats://host2:4222]\n'],
    [['--cluster', 'nats://n1', '--cluster-stream', 'a.b'], 'linebus: --cluster-stream a.b: a stream name is 1 to 32 letters, digits, - or _\n'],
  ];
  for (const [args, expected] of table) {
    const result = await run(['serve', '--port', '0', '--db', db, ...args]);
    t.equal(result.code, 1, args.join(' '));
    t.equal(result.stderr, expected);
  }
  const replicas = await run(['serve', '--port', '0', '--db', db, '--cluster', 'nats://n1', '--cluster-replicas', '7']);
  t.equal(replicas.code, 1);
  t.match(replicas.stderr, /--cluster-replicas <n>' argument '7' is invalid\. expected a whole number from 1 to 5\./);
});

t.test('a serve that cannot start leaves no journal or lock file it made, and keeps one that was there', { timeout: 30000 }, async (t) => {
  // Any daemon holding the port will do: the serve under test is the one that fails.
  const { port } = await startServer(t);
  const cwd = tempDir(t);
  const failed = await finish(linebus(['serve', '--port', String(port)], { cwd }));
  t.equal(failed.code, 1);
  t.equal(failed.stderr, `linebus: 127.0.0.1:${port} is in use (EADDRINUSE); is a linebus serve running already? Stop it, or give another --port\n`);
  t.same(readdirSync(cwd), [], 'no ./linebus.db, no ./linebus.db.lock');

  const dir = tempDir(t);
  const kept = join(dir, 'kept.db');
  t.equal((await run(['user', 'add', 'alice', '--db', kept], 's3cret\n')).code, 0);
  t.same(readdirSync(dir), ['kept.db'], 'user add makes the journal and no lock');
  t.equal((await run(['serve', '--port', String(port), '--db', kept])).code, 1);
  t.same(readdirSync(dir), ['kept.db'], 'the journal that was there stays; the lock this start made goes');
  const store = Store.open(kept, { readonly: true });
  t.same(store.users.list().map((user) => user.name), ['alice'], 'with what it held');
  store.close();
});
