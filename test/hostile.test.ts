/**
 * What a hostile client, a careless script and a bad day do to the daemon:
 * each gets a clear answer and costs a bounded amount; nobody else notices.
 */
import t from 'tap';
import { connect } from 'node:net';
import { rmSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { LinebusServer } from '../src/server.js';
import { quickHash } from './quick-hash.js';
import { Store } from '../src/store/store.js';
import { LineClient, startServer, stat, tempDir, TEST_WAL_BYTES } from './helpers.js';

t.test('--max-subscriptions: the next pattern is refused with busy; leave makes room', { timeout: 10000 }, async (t) => {
  const { port } = await startServer(t, { maxSubscriptions: 2 });
  const c = await LineClient.login(port, 'many');
  c.write('recv a', 'recv b.*', 'recv a', 'recv c since 0', 'recv c', 'leave a', 'recv c');
  t.same(await c.lines(7), [
    'ok recv a',
    'ok recv b.*',
    'ok recv a',
    'err busy this connection receives or takes 2 patterns, the most one may (--max-subscriptions); leave one first',
    'err busy this connection receives or takes 2 patterns, the most one may (--max-subscriptions); leave one first',
    'ok leave a',
    'ok recv c',
  ]);
  c.close();
});

t.test('a catch-up beside a thousand deep patterns, over 50,000 rows, while others are served', { timeout: 60000 }, async (t) => {
  const db = join(tempDir(t), 'big.db');
  const store = Store.open(db);
  store.journal.append(Array.from({ length: 50000 }, (_, i) => ({ topic: `other.${i % 7}`, sender: 'tx', body: `${i}` })), Date.now());
  store.close();
  const { port } = await startServer(t, { db });
  const c = await LineClient.login(port, 'deep');
  const deep = (i: number): string => [i.toString(36), ...Array<string>(125).fill('x'), '*'].join('.');
  c.write(...Array.from({ length: 999 }, (_, i) => `recv ${deep(i)}`));
  t.equal((await c.lines(999))[998], `ok recv ${deep(998)}`);
  c.write('recv nomatch.> since 0', 'ping done');
  const pinger = await LineClient.login(port, 'pinger');
  pinger.write('ping meanwhile');
  t.equal(await pinger.line(), 'pong meanwhile');
  t.same(await c.lines(2), ['ok recv nomatch.>', 'pong done'], 'nothing matched, nothing crashed');
  pinger.write('send nomatch.x live');
  t.equal(await c.line(), 'msg nomatch.x 50001 pinger live', 'then live');
  for (const client of [c, pinger]) client.close();
});

t.test('clients refused as the server is full get one line, and do not hold up a stop', { timeout: 20000 }, async (t) => {
  const { server, port, waitForLog } = await startServer(t, { maxConnections: 1 });
  const inside = await LineClient.connect(port);
  await inside.line();
  // A client that keeps its side open after the server's last line: the
  // server must not wait for it, neither now nor when it stops.
  const stubborn = connect({ port, host: '127.0.0.1', allowHalfOpen: true });
  stubborn.on('error', () => {});
  let said = '';
  stubborn.setEncoding('utf8').on('data', (text: string) => (said += text));
  await new Promise((resolve) => stubborn.on('end', resolve));
  t.equal(said, 'err busy the server is full (1 connections); try again later\n', 'one line, then the server ends its side');
  await waitForLog(/^debug refused connection closed/);
  t.pass('and closes it after a grace time, though the client never does');
  const another = connect({ port, host: '127.0.0.1', allowHalfOpen: true });
  another.on('error', () => {});
  another.resume();
  await new Promise((resolve) => another.on('end', resolve));
  inside.close();
  await server.stop();
  t.pass('stop did not wait for the refused client');
  stubborn.destroy();
  another.destroy();
});

t.test('a second daemon on the same journal is refused with one line', { timeout: 10000 }, async (t) => {
  const { db } = await startServer(t);
  await t.rejects(LinebusServer.start({ db, port: 0, walPreallocateBytes: TEST_WAL_BYTES }), { name: 'FatalError', message: `${db} is in use by another linebus serve (it holds ${db}.lock); stop that one, or give another --db` });
});

t.test('open mode is decided at start: deleting every user does not reopen it', { timeout: 20000 }, async (t) => {
  const db = join(tempDir(t), 'bus.db');
  const store = Store.open(db);
  store.users.put('alice', quickHash('pw'));
  store.close();
  const { port, logs, waitForLog } = await startServer(t, { db });
  t.notOk(logs.some((l) => l.includes('open mode')), 'not open: there was a user at start');
  const admin = Store.open(db);
  t.teardown(() => admin.close());
  admin.users.delete('alice');
  const c = await LineClient.connect(port);
  await c.line();
  c.write('login anyone anything');
  t.equal(await c.line(), 'err auth bad user or password');
  t.match(await waitForLog(/^error every user was deleted/), /nobody can log in until one is added/);
  c.close();

  const open = await startServer(t);
  const first = await LineClient.login(open.port, 'whoever');
  first.close();
  const admin2 = Store.open(open.db);
  t.teardown(() => admin2.close());
  admin2.users.put('bob', quickHash('pw'));
  const d = await LineClient.connect(open.port);
  await d.line();
  d.write('login whoever x', 'login bob pw');
  t.same(await d.lines(2), ['err auth bad user or password', 'ok login bob'], 'the first user ends open mode');
  await open.waitForLog(/^info a user was added: open mode is over/);
  admin2.users.delete('bob');
  d.write('logoff');
  await d.line();
  const e = await LineClient.connect(open.port);
  await e.line();
  e.write('login whoever x');
  t.equal(await e.line(), 'err auth bad user or password', 'and it stays over');
  e.close();
});

t.test("a failed login logs the name only if it is a user's", { timeout: 20000 }, async (t) => {
  const { port, logs, server } = await startServer(t);
  server.store.users.put('alice', quickHash('pw'));
  const c = await LineClient.connect(port);
  await c.line();
  c.write('login alice wrong', 'login hunter2-typed-in-the-name-field x');
  t.same(await c.lines(2), ['err auth bad user or password', 'err auth bad user or password']);
  const failed = logs.filter((l) => l.startsWith('warn login failed'));
  t.match(failed[0], /"user":"alice"/);
  t.notMatch(failed[1], /hunter2/);
  t.match(failed[1], /"user_bytes":31,"user_sha256":"[0-9a-f]{12}"/);
  c.close();
});

t.test("telnet's Ctrl-C: IAC IP is nothing, IAC DO TIMING-MARK is answered in order", { timeout: 10000 }, async (t) => {
  const { port } = await startServer(t);
  const c = await LineClient.login(port, 'telnet');
  const got: Buffer[] = [];
  c.socket.removeAllListeners('data');
  c.socket.setEncoding('latin1');
  const all = new Promise<string>((resolve) => {
    let text = '';
    c.socket.on('data', (chunk: string) => {
      text += chunk;
      got.push(Buffer.from(chunk, 'latin1'));
      if (text.endsWith('pong b\n')) resolve(text);
    });
  });
  c.writeRaw(Buffer.concat([Buffer.from('ping a\n'), Buffer.from([0xff, 0xf4, 0xff, 0xfd, 0x06]), Buffer.from('ping b\n')]));
  t.same(Buffer.from(await all, 'latin1'), Buffer.concat([Buffer.from('pong a\n'), Buffer.from([0xff, 0xfb, 0x06]), Buffer.from('pong b\n')]));
  c.close();
});

t.test('a UTF-8 byte-order mark before the first line is dropped', { timeout: 10000 }, async (t) => {
  const { port } = await startServer(t);
  const c = await LineClient.connect(port);
  await c.line();
  c.writeRaw(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('login bom pw\r\nping\r\n')]));
  t.same(await c.lines(2), ['ok login bom', 'pong']);
  c.close();
});

t.test('bodies are delivered byte for byte, control characters and all; $ look-alikes are the server\'s', { timeout: 10000 }, async (t) => {
  const { port } = await startServer(t);
  const rx = await LineClient.login(port, 'rx');
  rx.write('recv t');
  await rx.line();
  const tx = await LineClient.login(port, 'tx');
  tx.write('send t a\u001b[31mred\rforged\u0007', 'send \uff04SYS.x hi', 'help send', 'help frob');
  t.same(await tx.lines(4), [
    'ok send 1',
    "err denied topics starting with '$' belong to the server; clients may recv them but not send to them",
    'ok help send <topic> <message> -- publish a message; ok send <id> once it is journaled',
    "err notfound no verb 'frob'; help lists them",
  ]);
  t.equal(await rx.line(), 'msg t 1 tx a\u001b[31mred\rforged\u0007');
  rx.close();
  tx.close();
});

t.test('who alone lists every connection', { timeout: 10000 }, async (t) => {
  const { port } = await startServer(t);
  const a = await LineClient.login(port, 'alice');
  a.write('recv news.>', 'recv deploys');
  await a.lines(2);
  const anon = await LineClient.connect(port);
  await anon.line();
  const b = await LineClient.login(port, 'bob');
  b.write('who');
  const lines = await b.until('ok who');
  t.equal(lines.length, 4);
  t.match(lines[0], /^conn 1 alice 127\.0\.0\.1:\d+ tcp \d+ news\.> deploys$/);
  t.match(lines[1], /^conn 2 - 127\.0\.0\.1:\d+ tcp \d+$/);
  t.match(lines[2], /^conn 3 bob 127\.0\.0\.1:\d+ tcp \d+$/);
  t.equal(lines[3], 'ok who 3');
  for (const c of [a, anon, b]) c.close();
});

t.test('a journal deleted or replaced under the daemon: sends refused, loudly, stats still answers', { timeout: 20000 }, async (t) => {
  for (const harm of ['delete', 'replace'] as const) {
    const { port, db, waitForLog } = await startServer(t);
    const c = await LineClient.login(port, 'bob');
    c.write('send t before');
    t.equal(await c.line(), 'ok send 1');
    if (harm === 'delete') {
      rmSync(db);
    } else {
      writeFileSync(`${db}.new`, '');
      renameSync(`${db}.new`, db);
    }
    c.write('send t after', 'stats');
    t.equal(await c.line(), 'err internal the journal could not store the message; nothing was sent, try again', harm);
    const stats = await c.until('ok stats');
    t.equal(stats.at(-1), `ok stats ${stats.length - 1}`, 'stats answers, every figure');
    t.ok(stats.includes('stat messages_in 1') && stats.includes('stat journal_last_id 1'), `${harm}: the refused send is not counted`);
    t.match(await waitForLog(/^error journal append failed/), /was deleted or replaced while the daemon ran/);
    c.close();
  }
});

t.test('a new journal is readable by its owner only', { timeout: 10000 }, async (t) => {
  const { port, db } = await startServer(t);
  const c = await LineClient.login(port, 'bob');
  c.write('send t x');
  await c.line();
  for (const file of [db, `${db}-wal`, `${db}-shm`, `${db}.lock`]) t.equal(statSync(file).mode & 0o777, 0o600, file);
  c.close();
});

t.test('stats shows the limits in force', { timeout: 10000 }, async (t) => {
  const { server } = await startServer(t, { maxSubscriptions: 7 });
  t.equal(stat(server.stats(), 'max_subscriptions'), 7);
  t.equal(stat(server.stats(), 'max_line'), 65536);
  server.reconfigure({ maxPending: 1 << 20 });
  t.equal(stat(server.stats(), 'max_pending'), 1 << 20, 'as SIGHUP leaves them');
  t.equal(stat(server.stats(), 'max_connections'), 10000);
});
