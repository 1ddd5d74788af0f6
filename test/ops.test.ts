/** What an operator relies on: introspection, limits, retention. */
import t from 'tap';
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { Store } from '../src/store/store.js';
import { LineClient, readUntil, startServer, tempDir } from './helpers.js';
import { version } from '../src/version.js';

t.test('topics, who and stats from telnet', { timeout: 20000 }, async (t) => {
  const began = Date.now();
  const { port, waitForLog } = await startServer(t);
  const alice = await LineClient.login(port, 'alice');
  const alice2 = await LineClient.login(port, 'alice');
  const bob = await LineClient.login(port, 'bob');
  alice.write('recv news.eu', 'recv orders.>');
  alice2.write('recv news.eu');
  bob.write('recv news.*', 'send news.eu hi', 'send quiet x', 'send quiet y');
  await alice.lines(2);
  await alice2.line();
  t.same(await bob.lines(4), ['ok recv news.*', 'ok send 1', 'ok send 2', 'ok send 3']);
  await alice.line();
  await alice2.line();

  bob.write('topics');
  t.same(await bob.lines(5), [
    'topic news.* 1 -',
    'topic news.eu 3 1',
    'topic orders.> 1 -',
    'topic quiet 0 3',
    'ok topics 4',
  ]);
  bob.write('who news.eu', 'who nobody.here');
  t.same(await bob.lines(4), ['user alice 2', 'user bob 1', 'ok who news.eu 2', 'ok who nobody.here 0']);
  bob.write('stats');
  const stats = await bob.until('ok stats');
  t.equal(stats.pop(), `ok stats ${stats.length}`);
  const value = (name: string): string | undefined => stats.find((l) => l.startsWith(`stat ${name} `))?.split(' ')[2];
  t.equal(value('version'), version(), 'stats, the greeting and --version agree');
  t.equal(value('connections'), '3');
  t.equal(value('messages_in'), '3');
  t.equal(value('messages_out'), '2', 'alice twice; bob sent it');
  t.equal(value('journal_first_id'), '1');
  t.equal(value('journal_last_id'), '3');
  t.equal(value('slow_disconnects'), '0');
  t.ok(Number(value('journal_bytes')) > 0);
  const uptime = Number(value('uptime_s'));
  t.ok(Number.isInteger(uptime) && uptime >= 0 && uptime <= (Date.now() - began) / 1000, `uptime_s ${uptime}: whole seconds since the start`);
  t.match(value('in_per_s'), /^\d+$/);
  t.match(value('event_loop_delay_max_ms'), /^\d+(\.\d+)?$/);
  t.match(value('event_loop_delay_p99_ms'), /^\d+(\.\d+)?$/);
  alice2.write('logoff');
  await waitForLog(/^debug closed .*"reason":"logoff"/);
  bob.write('stats');
  const after = await bob.until('ok stats');
  t.ok(after.includes('stat closed.logoff 1'), 'close reasons are counted');
  for (const c of [alice, bob]) c.close();
});

t.test('topics takes the last id of a received topic from the journal', { timeout: 20000 }, async (t) => {
  const db = join(tempDir(t), 'old.db');
  const journal = Store.open(db);
  journal.journal.append([{ topic: 'old', sender: 's', body: 'a' }, { topic: 'old', sender: 's', body: 'b' }], Date.now());
  journal.close();
  const { port } = await startServer(t, { db });
  const c = await LineClient.login(port, 'c');
  c.write('recv old', 'recv never', 'topics');
  t.same(await c.lines(5), ['ok recv old', 'ok recv never', 'topic never 1 0', 'topic old 1 2', 'ok topics 2']);
  c.close();
});

t.test('topics remembers the 10,000 most recently used topics', { timeout: 30000 }, async (t) => {
  const { port } = await startServer(t);
  const c = await LineClient.login(port, 'c');
  for (let start = 0; start < 10050; start += 1000) {
    const lines = Array.from({ length: Math.min(1000, 10050 - start) }, (_, i) => `send t${start + i} x`);
    c.write(...lines);
    await c.lines(lines.length);
  }
  c.write('topics');
  const lines = await c.until('ok topics');
  t.equal(lines[lines.length - 1], 'ok topics 10000');
  t.notOk(lines.includes('topic t49 0 50'), 'the oldest went');
  t.ok(lines.includes('topic t50 0 51'));
  t.ok(lines.includes('topic t10049 0 10050'));
  c.close();
});

t.test('--max-connections refuses the next client with a clear line', { timeout: 20000 }, async (t) => {
  const { port, logs, waitForLog } = await startServer(t, { maxConnections: 2 });
  const a = await LineClient.connect(port);
  const b = await LineClient.connect(port);
  await a.line();
  await b.line();
  const c = await LineClient.connect(port);
  t.same(await c.rest(), ['err busy the server is full (2 connections); try again later']);
  t.ok(logs.some((l) => l.startsWith('warn connection refused: server full')));
  a.close();
  await waitForLog(/^debug closed .*"reason":"client closed"/);
  // The refused one never counted and the closed one has gone: room again.
  const d = await LineClient.connect(port);
  t.match(await d.line(), /^hello linebus /);
  b.close();
  d.close();
});

t.test('retention deletes the oldest pages in chunks; catch-up says where the journal starts', { timeout: 30000 }, async (t) => {
  const { server, port, db, logs } = await startServer(t, { retainMessages: 2500, retentionIntervalMs: 3600_000, http: { port: 0 } });
  const tx = await LineClient.login(port, 'tx');
  // A write at a time, each of its own commit, so of its own pages.
  for (let i = 0; i < 30; i++) {
    tx.write(...Array.from({ length: 200 }, (_, j) => `send r m${i * 200 + j + 1}`));
    await tx.lines(200);
  }
  // Pages go whole: the one that holds id 3501 stays, and the journal
  // starts with it.
  const pages = server.store.db.prepare<[], { first_id: number; last_id: number }>('SELECT first_id, last_id FROM pages ORDER BY last_id').all();
  t.ok(pages.length >= 30, `a commit of 200 is a page: ${pages.length} pages`);
  const start = (pages.find((page) => page.last_id > 3500) as { first_id: number }).first_id;
  t.ok(start <= 3501 && start > 3501 - 200, `the page holding 3501 starts at ${start}`);
  t.equal(await server.runRetention(), start - 1);
  t.equal(server.store.reader.firstId(), start);
  t.equal(server.store.reader.lastId(), 6000);
  t.ok(logs.some((l) => l.startsWith('info retention deleted old messages') && l.includes(`"deleted":${start - 1}`)));
  t.equal(await server.runRetention(), 0, 'nothing more to do');

  const other = new Database(db);
  t.teardown(() => other.close());
  t.throws(() => other.prepare('DELETE FROM pages WHERE last_id = 6000').run(), /append-only/, 'the guard is back for everyone else');

  const rx = await LineClient.login(port, 'rx');
  rx.write('recv r since 10');
  t.equal(await rx.line(), `ok recv r journal starts at ${start}`);
  t.equal(await rx.line(), `msg r ${start} tx m${start}`);
  rx.write('replay r since 5990');
  const lines = await rx.lines(6000 - start + 11);
  t.equal(lines[lines.length - 1], 'ok replay r 10', 'no note when nothing asked for is gone');
  rx.write('replay r since 0');
  const all = await rx.lines(6000 - start + 2);
  t.equal(all[6000 - start + 1], `ok replay r ${6000 - start + 1} journal starts at ${start}`);
  // The web's streams are told too, each in its format, before the first message.
  const base = `http://127.0.0.1:${(server.httpAddress() as { port: number }).port}`;
  const opening = async (path: string, upTo: string, headers: Record<string, string> = {}): Promise<string> => {
    const text = await readUntil(await fetch(`${base}${path}`, { headers }), (read) => read.includes(upTo));
    return text.slice(0, text.indexOf(upTo) + upTo.length);
  };
  t.equal(await opening('/t/r?since=10', `m${start}\n`), `ok recv r journal starts at ${start}\nmsg r ${start} tx m${start}\n`);
  t.equal(await opening('/t/r?since=10', '\n\nid:', { Accept: 'text/event-stream' }), `event: gone\ndata: journal starts at ${start}\n\nid:`);
  t.equal(await opening('/t/r?since=10&format=json', '\n'), `{"journal_starts_at":${start}}\n`);

  server.reconfigure({ retainMessages: 0, retainDays: 1 });
  t.equal(await server.runRetention(), 0, 'nothing is a day old');
  t.equal(server.store.journal.deleteOldest(6000, 10000), 6000 - start + 1, 'retention can empty the journal');
  t.equal(server.store.reader.firstId(), 6001, 'an empty page holds the last id');
  tx.write('send r after');
  t.equal(await tx.line(), 'ok send 6001', 'and ids go on');
  t.same(server.reconfigure({ retainDays: 1, maxPending: 1 << 20 }), [`maxPending ${8 << 20} -> ${1 << 20}`]);
  tx.close();
  rx.close();
});

t.test('retention runs by itself on its interval', { timeout: 20000 }, async (t) => {
  let deleted: () => void = () => {};
  const done = new Promise<void>((resolve) => (deleted = resolve));
  // Retention may run between the sends: done once it kept only the last.
  const logger = { log: (level: string, message: string, fields?: Record<string, unknown>) => message.startsWith('retention deleted') && fields?.first_id === 3 && deleted() };
  const { server, port } = await startServer(t, { retainMessages: 1, retentionIntervalMs: 20, logger });
  const tx = await LineClient.login(port, 'tx');
  // One commit, one page, each: retention deletes whole pages.
  for (let i = 1; i <= 3; i++) {
    tx.write(`send a ${i}`);
    await tx.line();
  }
  await done;
  t.equal(server.store.reader.firstId(), 3);
  tx.close();
});
