/**
 * The schema and its migrations: a journal of every earlier version opens,
 * migrates and keeps every message and user.
 */
import t from 'tap';
import Database from 'better-sqlite3';
import { copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { migrate, MIGRATIONS, SCHEMA_VERSION } from '../src/store/schema.js';
import { Store } from '../src/store/store.js';
import { LineClient, startServer, tempDir } from './helpers.js';

const V1 = join(process.cwd(), 'test/fixtures/journal-v1.db');

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
  t.equal(store.reader.lastIdOf('rare'), 39007);
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
