/** Users and the config file, as an operator manages them: real processes, real signals. */
import t from 'tap';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { LineClient, startServer, tempDir } from './helpers.js';
import { finish, linebus, run, serve } from './cli-helpers.js';
import { Store } from '../src/store/store.js';
import { quickHash } from './quick-hash.js';

t.test('user add, list, del', { timeout: 30000 }, async (t) => {
  const db = join(tempDir(t), 'users.db');
  const added = await run(['user', 'add', 'alice', '--db', db], 'pass word\nignored second line\n');
  t.equal(added.code, 0, added.stderr);
  t.equal(added.stdout, 'added alice\n');
  t.equal((await run(['user', 'add', 'alice', '--db', db], 'new\r\n')).stdout, 'changed password of alice\n');
  t.equal((await run(['user', 'add', 'bob'], 'pw', { LINEBUS_DB: db })).code, 0);
  const list = await run(['user', 'list', '--db', db]);
  t.match(list.stdout, /^alice\t\d{4}-\d\d-\d\dT[\d:.]+Z\nbob\t/);
  t.notMatch(list.stdout, /new|pw|scrypt/);

  // A daemon on the same journal (in this process: what serve does is not
  // under test here) reads the users the commands write at every login.
  const { port } = await startServer(t, { db });
  const c = await LineClient.connect(port);
  await c.line();
  c.write('login alice pass word', 'login alice new');
  t.same(await c.lines(2), ['err auth bad user or password', 'ok login alice']);

  t.equal((await run(['user', 'del', 'alice', '--db', db])).stdout, 'deleted alice\n');
  const d = await LineClient.connect(port);
  await d.line();
  d.write('login alice new');
  t.equal(await d.line(), 'err auth bad user or password');

  const gone = await run(['user', 'del', 'alice', '--db', db]);
  t.equal(gone.code, 1);
  t.equal(gone.stderr, `linebus: no user 'alice' in ${db}; 'linebus user list' shows who there is\n`);
  const empty = await run(['user', 'add', 'carol', '--db', db], '\n');
  t.equal(empty.code, 1);
  t.match(empty.stderr, /^linebus: empty password/);
  const badName = await run(['user', 'add', 'has space', '--db', db], 'x\n');
  t.equal(badName.code, 1);
  t.equal(badName.stderr, "linebus: a user name cannot contain spaces, control or invisible characters: 'has space'\n");
  const noDb = await run(['user', 'list', '--db', join(tempDir(t), 'none.db')]);
  t.equal(noDb.code, 1);
  t.match(noDb.stderr, /no such database/);
  c.close();
  d.close();
});

t.test('--config, and SIGHUP re-reads it and logs what changed', { timeout: 30000 }, async (t) => {
  const dir = tempDir(t);
  const config = join(dir, 'linebus.conf');
  writeFileSync(config, '# limits\nmax-line 20\nmax-pending 65536  # bytes\n\nlog-level info\n');
  const { child, port, logged } = await serve(['--db', join(dir, 'bus.db'), '--config', config, '--max-pending', '99999']);
  const c = await LineClient.login(port, 'alice');
  c.write('send a 0123456789ABCDEF');
  t.equal(await c.line(), 'err toolong line is over the 20-byte limit and was dropped; send shorter lines', 'the file sets max-line');
  writeFileSync(config, 'max-line 100\nretain-messages 5\nmax-pending 131072\nlog-level debug\nsync full\n');
  child.kill('SIGHUP');
  await logged(/SIGHUP: reloaded .*linebus\.conf: maxLine 20 -> 100, retainMessages 0 -> 5, logLevel info -> debug, sync normal -> full needs a restart, kept normal; the command line or environment wins for max-pending users=0/);
  t.pass('the command line still wins for max-pending; sync needs a restart');
  const d = await LineClient.login(port, 'bob');
  d.write('send a 0123456789ABCDEF');
  t.equal(await d.line(), 'ok send 1', 'a new connection has the new max-line');

  child.kill('SIGHUP');
  await logged(/SIGHUP: reloaded .*linebus\.conf: sync normal -> full needs a restart, kept normal; the command line or environment wins for max-pending users=0/);
  t.pass('the same file again changes nothing, and still says what waits for a restart');
  writeFileSync(config, 'max-line 100\nretain-messages 5\nmax-pending 131072\nlog-level debug\n');
  child.kill('SIGHUP');
  await logged(/SIGHUP: reloaded .*linebus\.conf: nothing changed; the command line or environment wins for max-pending users=0/);
  t.pass('nothing changed');

  writeFileSync(config, 'max-lines 100\n');
  child.kill('SIGHUP');
  await logged(/error SIGHUP: kept the old settings: .*linebus\.conf:1: unknown setting 'max-lines'; known: host, port, db, max-line/);
  t.pass('a bad file keeps the old settings');
  writeFileSync(config, 'retain-days 1\nmax-pending 1\n');
  child.kill('SIGHUP');
  await logged(/error SIGHUP: kept the old settings: .*linebus\.conf:2: max-pending: expected a whole number of at least 65536\./);
  t.pass('a limit out of range keeps the old settings');
  const done = finish(child);
  child.kill('SIGTERM');
  t.equal((await done).code, 0);
  c.close();
  d.close();

  writeFileSync(config, 'max-line many\n');
  const bad = await run(['serve', '--port', '0', '--db', join(dir, 'bus.db'), '--config', config]);
  t.equal(bad.code, 1);
  t.match(bad.stderr, /^linebus: .*linebus\.conf:1: max-line: expected a positive whole number\.\n$/);
  writeFileSync(config, 'sync sometimes\n');
  t.match((await run(['serve', '--port', '0', '--db', join(dir, 'bus.db'), '--config', config])).stderr, /linebus\.conf:1: sync: expected one of normal, full\.\n$/);
  writeFileSync(config, 'max-line\n');
  t.match((await run(['serve', '--port', '0', '--db', join(dir, 'bus.db'), '--config', config])).stderr, /expected 'max-line <value>'/);
  t.match((await run(['serve', '--port', '0', '--db', join(dir, 'bus.db'), '--config', join(dir, 'none.conf')])).stderr, /cannot read config/);
  writeFileSync(config, 'metrics-open maybe\n');
  t.match((await run(['serve', '--port', '0', '--db', join(dir, 'bus.db'), '--config', config])).stderr, /linebus\.conf:1: metrics-open: expected true or false \(or yes\/no, on\/off, 1\/0\)\.\n$/);
  t.same(await run(['serve', '--port', '0', '--db', join(dir, 'bus.db')], '', { LINEBUS_METRICS_OPEN: 'maybe' }), { code: 1, signal: null, stdout: '', stderr: 'linebus: LINEBUS_METRICS_OPEN=maybe: expected true or false (or yes/no, on/off, 1/0).\n' }, 'its variable too, where commander took any value for on');
});

t.test('--config takes every option of serve: the database, the address, the limits', { timeout: 30000 }, async (t) => {
  const dir = tempDir(t);
  const config = join(dir, 'all.conf');
  const db = join(dir, 'from config.db');
  writeFileSync(config, `db ${db}\nhost 127.0.0.1\nport 0 # any free one\nmax-subscriptions 1\nsync full\nhttp-port 0\nmetrics-open true\n`);
  const journal = Store.open(db);
  journal.users.put('alice', quickHash('pw'));
  journal.close();
  const child = linebus(['serve', '--config', config]);
  const done = finish(child);
  const [port, httpPort] = await new Promise<[number, number]>((resolve) => {
    let seen = '';
    child.stderr.setEncoding('utf8').on('data', (text: string) => {
      seen += text;
      const match = /notice listening on 127\.0\.0\.1:(\d+), HTTP on 127\.0\.0\.1:(\d+) db="([^"]+)"/.exec(seen);
      if (match) {
        t.equal(match[3], db, 'the database named in the file, spaces and all');
        resolve([Number(match[1]), Number(match[2])]);
      }
    });
  });
  const metrics = await fetch(`http://127.0.0.1:${httpPort}/metrics`);
  t.equal(metrics.status, 200, 'an on/off option set to true in the file: /metrics open though a user exists');
  const c = await LineClient.login(port, 'alice');
  c.write('recv a', 'recv b');
  t.same(await c.lines(2), ['ok recv a', 'err busy this connection receives or takes 1 patterns, the most one may (--max-subscriptions); leave one first']);
  c.close();
  child.kill('SIGTERM');
  t.equal((await done).code, 0);
});
