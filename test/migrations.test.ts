/**
 * The schema and its migrations: a journal of every earlier version opens,
 * migrates and keeps every message and user.
 */
import t from 'tap';
import Database from 'better-sqlite3';
import { copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { migrate, MIGRATIONS, SCHEMA_VERSION } from '../src/store/schema.js';
import { pageBytes } from '../src/store/page.js';
import { Store } from '../src/store/store.js';
import { LineClient, startServer, tempDir } from './helpers.js';

const V1 = join(process.cwd(), 'test/fixtures/journal-v1.db');
const V4 = join(process.cwd(), 'test/fixtures/journal-v4.db');

type Row = { id: number; ts: number; topic: string; sender: string; body: string };
const ROWS = 'SELECT id, ts, topic, sender, body FROM messages ORDER BY id';

t.test('a version-1 journal made by linebus 1.0.0 opens, migrates and keeps everything', { timeout: 20000 }, async (t) => {
  const db = join(tempDir(t), 'old.db');
  copyFileSync(V1, db);
  const { port } = await startServer(t, { db });
  const raw = new Database(db, { readonly: true });
  t.teardown(() => raw.close());
  t.equal(raw.pragma('user_version', { simple: true }), SCHEMA_VERSION, 'migrated to the current version');

  const c = await LineClient.connect(port);
  await c.line();
  c.write('login alice wrong', 'login alice right', 'replay > since 0');
  t.same(await c.lines(7), [
    'err auth bad user or password',
    'ok login alice',
    'msg deploys 1 ci web-3 done',
    'msg orders.eu 2 shop paid 17',
    'msg orders.us 3 shop paid  4 ',
    'msg news.europe.sport 4 bob café ✓',
    'ok replay > 4',
  ], 'the messages and the password hashes of 1.0.0');
  c.write('send deploys web-4 done');
  t.equal(await c.line(), 'ok send 5', 'ids go on from where 1.0.0 left them');
  c.close();
});

t.test('a version-1 journal of several blocks gets its summaries, and loses its per-message index', { timeout: 30000 }, async (t) => {
  const path = join(tempDir(t), 'v1-big.db');
  const v1 = new Database(path);
  v1.exec(`${(MIGRATIONS[0] as { sql: string }).sql}; PRAGMA user_version = 1;`);
  v1.exec(`WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 40000)
    INSERT INTO messages (ts, topic, sender, body) SELECT x, CASE WHEN x % 1000 = 7 THEN 'rare' ELSE 'busy.' || (x % 3) END, 'seed', x FROM n`);
  v1.close();
  const store = Store.open(path);
  t.teardown(() => store.close());
  t.equal(store.db.pragma('user_version', { simple: true }), SCHEMA_VERSION);
  const summary = store.db.prepare("SELECT block, first_id, last_id, count FROM topic_blocks WHERE topic = 'rare' ORDER BY block").all();
  t.same(summary, [{ block: 0, first_id: 7, last_id: 16007, count: 17 }, { block: 1, first_id: 17007, last_id: 32007, count: 16 }], 'blocks 0 and 1 summarized; 2, the last, not');
  t.same(store.db.prepare("SELECT name FROM sqlite_schema WHERE name = 'messages_topic_id'").all(), []);
  t.equal(store.db.prepare('SELECT count(*) FROM messages').pluck().get(), 40000, 'every message kept');
  t.equal(store.starts.lastIdOf('rare'), 39007);
});

t.test('a version-4 journal made by linebus 2 moves into pages in place: messages, users, cursors, groups and jobs', { timeout: 20000 }, async (t) => {
  const db = join(tempDir(t), 'v4.db');
  copyFileSync(V4, db);
  const old = new Database(db, { readonly: true });
  const rows = old.prepare<[], Row>(ROWS).all();
  old.close();
  t.equal(rows.length, 12, 'the fixture: ids 3 to 14, retention took 1 and 2');
  const { port } = await startServer(t, { db });
  const raw = new Database(db, { readonly: true });
  t.teardown(() => raw.close());
  t.equal(raw.pragma('user_version', { simple: true }), SCHEMA_VERSION);
  t.same(raw.prepare("SELECT type, name FROM sqlite_schema WHERE name IN ('messages', 'pages') ORDER BY name").all(), [{ type: 'view', name: 'messages' }, { type: 'table', name: 'pages' }], 'messages is a view over pages');
  t.same(raw.prepare<[], Row>(ROWS).all(), rows, 'every message, with every column, as it was');
  t.same(
    raw.prepare('SELECT first_id, last_id, count, topic FROM pages ORDER BY last_id').all(),
    [
      { first_id: 3, last_id: 5, count: 3, topic: null },
      { first_id: 6, last_id: 6, count: 1, topic: 'jobs.img' },
      { first_id: 7, last_id: 7, count: 1, topic: 'jobs.img' },
      { first_id: 8, last_id: 8, count: 1, topic: 'questions' },
      { first_id: 9, last_id: 11, count: 3, topic: null },
      { first_id: 12, last_id: 14, count: 3, topic: 'chatter' },
    ],
    'a page per run of rows of one time',
  );

  const bob = await LineClient.connect(port);
  await bob.line();
  bob.write('login bob bob-pw', 'cursors', 'recv deploys as deploys-bot', 'take jobs.* as resize');
  t.same(await bob.lines(6), [
    'ok login bob',
    'cursor deploys-bot deploys 3 0',
    'ok cursors 1',
    'ok recv deploys as deploys-bot after 3',
    'ok take jobs.* as resize',
    'job jobs.img 7 alice b.png',
  ], 'the user, the cursor and its mark, the group and its un-acked job');
  bob.write('ack 7', 'pending resize');
  t.same(await bob.lines(2), ['ok ack 7', 'ok pending resize 0']);
  const alice = await LineClient.connect(port);
  await alice.line();
  alice.write('login alice alice-pw', 'replay > since 0', 'send deploys web-3 done');
  const replayed = await alice.lines(15);
  t.same(replayed.slice(1, 14), [
    'msg deploys 3 alice web-2 done',
    'msg orders.us 4 alice paid  4 ',
    'msg news.europe.sport 5 alice café ✓ — naïve',
    'msg jobs.img 6 alice a.png',
    'msg jobs.img 7 alice b.png',
    'msg questions 8 alice what time is it',
    'msg $reply.8 9 bob noon',
    'msg chatter 10 alice 0 tab\there',
    'msg chatter 11 alice 1 tab\there',
    'msg chatter 12 alice 2 tab\there',
    'msg chatter 13 alice 3 tab\there',
    'msg chatter 14 alice 4 tab\there',
    'ok replay > 12 journal starts at 3',
  ]);
  t.equal(replayed[14], 'ok send 15', 'ids go on');
  t.equal(await bob.line(), 'msg deploys 15 alice web-3 done', 'the cursor follows');
  alice.close();
  bob.close();
});

t.test('a version-4 journal opened to read only (tail beside a daemon not upgraded) is refused with what to do', async (t) => {
  const db = join(tempDir(t), 'v4.db');
  copyFileSync(V4, db);
  t.throws(() => Store.open(db, { readonly: true }), { message: `${db}: journal schema version 4 predates this linebus's pages (5); start this linebus's daemon on it once (it migrates it in place), or read it with the linebus that wrote it` });
});

t.test('the move into pages keeps the highest id of an emptied table, any body, and pages within a database page', { timeout: 20000 }, async (t) => {
  const dir = tempDir(t);
  const v4 = (path: string): Database.Database => {
    const db = new Database(path);
    migrate(db, MIGRATIONS.slice(0, 4));
    return db;
  };
  const emptied = join(dir, 'emptied.db');
  const e = v4(emptied);
  e.exec("INSERT INTO messages (ts, topic, sender, body) VALUES (1, 'a', 's', 'x'), (1, 'a', 's', 'y'); DROP TRIGGER messages_no_delete; DELETE FROM messages;");
  e.close();
  const store = Store.open(emptied);
  t.equal(store.reader.lastId(), 2, 'retention had taken every message: the last id stays');
  t.equal(store.reader.firstId(), 3, 'in an empty page');
  t.equal(store.journal.append([{ topic: 'b', sender: 's', body: 'z' }], 2), 3, 'and ids go on from it');
  store.close();

  const odd = join(dir, 'odd.db');
  const o = v4(odd);
  const insert = o.prepare('INSERT INTO messages (id, ts, topic, sender, body) VALUES (?, ?, ?, ?, ?)');
  const bodies = ['', ' ', 'nul \u0000 inside', 'cr \r and tab \t', 'ünïcödé ✓ 🎉', 'x'.repeat(70000)];
  const expected: Row[] = [];
  let id = 0;
  for (const [i, body] of bodies.entries()) expected.push({ id: (id += 1 + i), ts: 7, topic: i % 2 ? 'tópic.ü' : 't', sender: 'ß', body });
  for (let i = 0; i < 600; i++) expected.push({ id: ++id, ts: 8, topic: `n.${i % 3}`, sender: 's', body: `${i}` });
  o.transaction(() => {
    for (const row of expected) insert.run(row.id, row.ts, row.topic, row.sender, row.body);
  })();
  o.close();
  const moved = Store.open(odd);
  t.teardown(() => moved.close());
  t.same(moved.db.prepare<[], Row>(ROWS).all(), expected, 'the view gives back every row: gaps in ids, NUL, CR, tabs, emoji, a 70 kB body');
  const pages = moved.db.prepare<[], { count: number; ts: number; bytes: number }>('SELECT count, ts, length(data) + length(spans) AS bytes FROM pages ORDER BY last_id').all();
  t.same(pages.slice(0, 2).map((page) => [page.count, page.ts]), [[5, 7], [1, 7]], 'the times pages of their own; the 70 kB body a page alone');
  t.equal(pages.slice(2).reduce((sum, page) => sum + page.count, 0), 600);
  t.ok(pages.slice(2).every((page) => page.ts === 8 && page.bytes <= pageBytes(4096)), `the 600 short ones in ${pages.length - 2} pages that fit a database page`);
  t.same(moved.reader.message(expected[2]?.id as number), expected[2], 'read back by the daemon too');
});

t.test('an empty file gets every migration, in order', { timeout: 10000 }, async (t) => {
  const path = join(tempDir(t), 'new.db');
  const store = Store.open(path);
  t.equal(store.db.pragma('user_version', { simple: true }), SCHEMA_VERSION);
  t.equal(SCHEMA_VERSION, MIGRATIONS[MIGRATIONS.length - 1]?.version);
  t.same(MIGRATIONS.map((m) => m.version), MIGRATIONS.map((_, i) => i + 1), 'numbered 1, 2, 3, ... with no gap');
  store.close();
  Store.open(path).close();
  t.pass('opening a current journal again changes nothing');
});

t.test('a migration that fails leaves the journal as it was', { timeout: 10000 }, async (t) => {
  const path = join(tempDir(t), 'j.db');
  Store.open(path).close();
  const db = new Database(path);
  t.teardown(() => db.close());
  const broken = [
    ...MIGRATIONS,
    { version: SCHEMA_VERSION + 1, sql: 'CREATE TABLE scratch (name TEXT)' },
    { version: SCHEMA_VERSION + 2, sql: 'CREATE TABLE scratch (again TEXT)' },
  ];
  t.throws(() => migrate(db, broken), /table scratch already exists/);
  t.equal(db.pragma('user_version', { simple: true }), SCHEMA_VERSION, 'the version is unchanged');
  t.same(db.prepare("SELECT count(*) AS n FROM sqlite_schema WHERE name = 'scratch'").get(), { n: 0 }, 'nothing of the first step stays');
  t.equal(db.inTransaction, false);
  migrate(db, broken.slice(0, -1));
  t.equal(db.pragma('user_version', { simple: true }), SCHEMA_VERSION + 1, 'a good list applies');
});
