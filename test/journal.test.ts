/** The journal file itself, as an operator with sqlite3 sees it. */
import t from 'tap';
import Database from 'better-sqlite3';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Store } from '../src/store/store.js';
import { SCHEMA_VERSION } from '../src/store/schema.js';
import { FatalError } from '../src/protocol/errors.js';
import { LineClient, startServer, tempDir } from './helpers.js';

t.test('a send is in the journal, with every column, before its ok', { timeout: 10000 }, async (t) => {
  const { port, db } = await startServer(t);
  const c = await LineClient.login(port, 'bob');
  const before = Date.now();
  c.write('send room1 hello  there ');
  t.equal(await c.line(), 'ok send 1');
  const reader = new Database(db, { readonly: true });
  t.teardown(() => reader.close());
  const row = reader.prepare('SELECT id, ts, topic, sender, body FROM messages').get() as Record<string, unknown>;
  t.match(row, { id: 1, topic: 'room1', sender: 'bob', body: 'hello  there ' });
  t.ok((row.ts as number) >= before && (row.ts as number) <= Date.now(), 'ts is milliseconds since the epoch');
  t.equal(reader.pragma('journal_mode', { simple: true }), 'wal');
  t.equal(reader.pragma('user_version', { simple: true }), SCHEMA_VERSION);
  const indexes = reader.prepare("SELECT name FROM sqlite_schema WHERE type = 'index' AND tbl_name = 'pages' AND sql IS NOT NULL").pluck().all();
  t.same(indexes, [], 'no index entry per message: appends stay appends');
  const plan = reader.prepare("EXPLAIN QUERY PLAN SELECT first_id, last_id FROM topic_blocks WHERE topic = 'room1' AND block >= 0 ORDER BY block LIMIT 1").all() as { detail: string }[];
  t.match(plan[0]?.detail, /USING (COVERING )?INDEX topic_blocks_topic/, 'finding the blocks of one topic uses the summary index');
  c.close();
});

t.test('the messages view answers the plain sqlite3 shell, pages of one topic or several alike', { timeout: 10000 }, async (t) => {
  const { port, db } = await startServer(t);
  const c = await LineClient.login(port, 'bob');
  // A commit of three topics, then one of a single topic.
  c.write('send x one | two', 'send y skipped', 'send x "three" \\ ünï ✓');
  await c.lines(3);
  c.write('send x four');
  t.equal(await c.line(), 'ok send 4');
  const query = "SELECT id, ts, topic, sender, body FROM messages WHERE topic = 'x' ORDER BY id";
  const reader = new Database(db, { readonly: true });
  t.teardown(() => reader.close());
  const rows = reader.prepare(query).all() as { id: number; topic: string; sender: string; body: string }[];
  t.same(rows.map(({ id, topic, sender, body }) => ({ id, topic, sender, body })), [
    { id: 1, topic: 'x', sender: 'bob', body: 'one | two' },
    { id: 3, topic: 'x', sender: 'bob', body: '"three" \\ ünï ✓' },
    { id: 4, topic: 'x', sender: 'bob', body: 'four' },
  ]);
  t.same(reader.prepare('SELECT count, topic FROM pages ORDER BY last_id').all(), [{ count: 3, topic: null }, { count: 1, topic: 'x' }], 'two pages');
  const shell = spawnSync('sqlite3', ['-json', db, query], { encoding: 'utf8' });
  if ((shell.error as NodeJS.ErrnoException | undefined)?.code === 'ENOENT') {
    t.comment('no sqlite3 shell on this machine: the view was read through better-sqlite3 only');
  } else {
    t.equal(shell.stderr, '');
    t.same(JSON.parse(shell.stdout), rows, 'the same rows from the sqlite3 shell, which has no function of ours');
  }
  c.close();
});

t.test('messages are append-only, enforced in the database', { timeout: 10000 }, async (t) => {
  const { port, db } = await startServer(t);
  const c = await LineClient.login(port, 'bob');
  c.write('send a one');
  await c.line();
  const other = new Database(db);
  t.teardown(() => other.close());
  t.throws(() => other.prepare("UPDATE messages SET body = 'x'").run(), /cannot modify messages because it is a view/);
  t.throws(() => other.prepare('DELETE FROM messages').run(), /cannot modify messages because it is a view/);
  t.throws(() => other.prepare("INSERT INTO messages (topic) VALUES ('x')").run(), /cannot modify messages because it is a view/);
  t.throws(() => other.prepare('UPDATE pages SET ts = 0').run(), /append-only; pages cannot be updated/);
  t.throws(() => other.prepare('DELETE FROM pages').run(), /append-only; pages cannot be deleted/);
  t.equal((other.prepare('SELECT body FROM messages').get() as { body: string }).body, 'one');
  c.close();
});

t.test('a journal that cannot be written refuses the send with err internal; nothing is lost', { timeout: 20000 }, async (t) => {
  const { port, db, logs, waitForLog } = await startServer(t);
  const rx = await LineClient.login(port, 'rx');
  rx.write('recv t');
  await rx.line();
  const c = await LineClient.login(port, 'bob');
  const locker = new Database(db);
  t.teardown(() => locker.close());
  locker.exec('BEGIN IMMEDIATE');
  c.write('send t lost?', 'ping');
  t.equal(await c.line(), 'err internal the journal could not store the message; nothing was sent, try again');
  t.equal(await c.line(), 'pong');
  t.match(await waitForLog(/^error journal append failed/), /"count":1,"error":"database is locked","commits_failed":1/);
  c.write('send t lost again?');
  t.equal(await c.line(), 'err internal the journal could not store the message; nothing was sent, try again');
  t.equal(logs.filter((l) => l.startsWith('error journal append failed')).length, 1, 'failures within ten seconds are counted, not logged again');
  locker.exec('ROLLBACK');
  c.write('send t again');
  t.equal(await c.line(), 'ok send 1');
  t.equal(await rx.line(), 'msg t 1 bob again', 'the refused one was never delivered');
  rx.close();
  c.close();
});

t.test('a send that finds the journal locked waits in later turns, not on the event loop, and is committed once the lock goes', { timeout: 20000 }, async (t) => {
  const { port, db } = await startServer(t);
  const c = await LineClient.login(port, 'bob');
  const other = await LineClient.login(port, 'carol');
  c.write('send t first', 'recv t as c');
  t.same(await c.lines(2), ['ok send 1', 'ok recv t as c after 1']);
  const locker = new Database(db);
  t.teardown(() => locker.close());
  locker.exec('BEGIN IMMEDIATE');
  // A mark is written first in the commit: a write that would wait for
  // the lock, not a read that SQLite refuses at once.
  c.write('mark c 1', 'send t waits');
  // Served while the send waits for the lock, tried again turn after turn.
  // (SQLite's busy handler would put the whole daemon, this test included,
  // to sleep at each try until the wait for the lock ran out: then the
  // send is refused.)
  for (let i = 0; i < 3; i++) {
    other.write(`ping ${i}`);
    t.equal(await other.line(), `pong ${i}`);
  }
  locker.exec('ROLLBACK');
  t.same(await c.lines(2), ['ok mark c 1', 'ok send 2'], 'committed after the lock went');
  c.close();
  other.close();
});

t.test('WAL checkpoints happen off the event loop, in a worker thread', { timeout: 20000 }, async (t) => {
  const { server, port } = await startServer(t);
  t.equal(server.store.db.pragma('wal_autocheckpoint', { simple: true }), 0, 'never inside a commit');
  const c = await LineClient.login(port, 'bob');
  const checkpoints = (): unknown => server.stats().find(([k]) => k === 'journal_checkpoints')?.[1];
  c.write(...Array.from({ length: 100 }, (_, i) => `send t ${i}`));
  await c.lines(100);
  // The worker looks every 200 ms and tells only the count, so the count is
  // looked at every 10 ms, for 10 s at most: ping round trips in a row spun
  // the CPU for those 200 ms, some 1,750 of them.
  for (let i = 0; i < 1000 && checkpoints() === 0; i++) await new Promise((resolve) => setTimeout(resolve, 10));
  t.ok((checkpoints() as number) > 0, 'the worker checkpointed');
  c.close();
});

t.test('--sync full makes every commit wait for the disk', { timeout: 10000 }, async (t) => {
  const { server, port, logs } = await startServer(t, { sync: 'full' });
  t.equal(server.store.db.pragma('synchronous', { simple: true }), 2, 'FULL');
  t.ok(logs.some((l) => l.startsWith('notice listening on') && l.includes('"sync":"full"')));
  const c = await LineClient.login(port, 'bob');
  c.write('send t durable');
  t.equal(await c.line(), 'ok send 1');
  c.close();
  const normal = Store.open(join(tempDir(t), 'n.db'));
  t.equal(normal.db.pragma('synchronous', { simple: true }), 1, 'NORMAL by default');
  normal.close();
});

t.test('ids are never reused', { timeout: 10000 }, async (t) => {
  const dir = tempDir(t);
  const path = join(dir, 'j.db');
  const journal = Store.open(path);
  const reader = journal.reader;
  t.equal(reader.lastId(), 0);
  t.equal(reader.firstId(), 0);
  t.equal(journal.journal.append([{ topic: 'a', sender: 's', body: '1' }, { topic: 'a', sender: 's', body: '2' }], 1), 2);
  t.equal(journal.journal.append([{ topic: 'b', sender: 's', body: '3' }], 2), 3);
  t.equal(reader.firstId(), 1);
  t.equal(reader.lastId(), 3);
  // Retention taking every message leaves an empty page with the last id.
  t.equal(journal.journal.deleteOldest(3, 100), 3);
  t.same(journal.db.prepare('SELECT first_id, last_id, count FROM pages').all(), [{ first_id: 4, last_id: 3, count: 0 }], 'an empty page');
  t.equal(reader.firstId(), 4, 'the next id to come');
  t.equal(reader.lastId(), 3, 'the last id given, though its message is gone');
  t.equal(journal.journal.deleteOldest(3, 100), 0, 'the empty page stays while it is the last');
  t.equal(journal.journal.append([{ topic: 'c', sender: 's', body: '4' }], 3), 4);
  t.equal(journal.journal.deleteOldest(3, 100), 0, 'then it goes, with no message');
  t.same(journal.db.prepare('SELECT first_id, last_id, count FROM pages').all(), [{ first_id: 4, last_id: 4, count: 1 }]);
  journal.close();
  journal.close();
});

t.test('files that are not a linebus journal stop with one line naming them', { timeout: 10000 }, async (t) => {
  const dir = tempDir(t);
  const text = join(dir, 'notes.txt');
  writeFileSync(text, 'these are not the bytes you are looking for\n'.repeat(100));
  t.throws(() => Store.open(text), new FatalError(`${text}: not a usable linebus database: file is not a database`));

  const foreign = join(dir, 'other.db');
  const other = new Database(foreign);
  other.exec('CREATE TABLE invoices (id INTEGER PRIMARY KEY)');
  other.close();
  t.throws(() => Store.open(foreign), { message: `${foreign}: an SQLite database of some other application (no linebus schema); point --db at a new file` });

  const newer = join(dir, 'newer.db');
  Store.open(newer).close();
  const bump = new Database(newer);
  bump.pragma(`user_version = ${SCHEMA_VERSION + 1}`);
  bump.close();
  t.throws(() => Store.open(newer), { message: new RegExp(`schema version ${SCHEMA_VERSION + 1} is newer than this linebus understands`) });

  const damaged = join(dir, 'damaged.db');
  const d = new Database(damaged);
  d.exec('CREATE TABLE messages (id INTEGER PRIMARY KEY); PRAGMA user_version = 1;');
  d.close();
  t.throws(() => Store.open(damaged), { message: /tables are missing/ });

  t.throws(() => Store.open(join(dir, 'missing.db'), { readonly: true }), { message: /no such database/ });
  t.throws(() => Store.open(join(dir, 'nodir', 'x.db')), { message: /cannot open database/ });

  const empty = join(dir, 'empty.db');
  new Database(empty).close();
  t.throws(() => Store.open(empty, { readonly: true }), { message: /empty database/ });
});

t.test('users in the journal file', { timeout: 10000 }, async (t) => {
  const journal = Store.open(join(tempDir(t), 'u.db'));
  t.equal(journal.users.any(), false);
  t.equal(journal.users.put('bob', 'h1'), true);
  t.equal(journal.users.put('bob', 'h2'), false);
  t.equal(journal.users.get('bob')?.hash, 'h2');
  t.same(journal.users.list().map((u) => u.name), ['bob']);
  t.equal(journal.users.delete('bob'), true);
  t.equal(journal.users.delete('bob'), false);
  journal.close();
});
