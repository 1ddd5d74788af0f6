/**
 * The journal's schema and its migrations, in one place. `PRAGMA
 * user_version` is the number of the last migration applied; opening a
 * journal for writing applies the ones after it, all in one transaction
 * with the version bump, so a crash leaves a journal at the old version or
 * the new one, never between. A new table is a new migration at the
 * end of MIGRATIONS; a migration is never edited once released.
 */
import type Database from 'better-sqlite3';
import { FatalError } from '../protocol/errors.js';
import { movePages } from './to-pages.js';

export interface Migration {
  /** The user_version after it. */
  readonly version: number;
  readonly sql: string;
  /** What SQL alone cannot do, run after `sql` in the same transaction. */
  readonly run?: (db: Database.Database) => void;
}

/** The append-only guard of version 1 to 4's table of messages. */
const MESSAGES_NO_DELETE = `CREATE TRIGGER messages_no_delete BEFORE DELETE ON messages
BEGIN SELECT RAISE(ABORT, 'linebus: messages are append-only; rows cannot be deleted'); END`;

/** The append-only guard of the pages; retention drops and recreates it (journal.ts). */
export const NO_DELETE_TRIGGER = `CREATE TRIGGER pages_no_delete BEFORE DELETE ON pages
BEGIN SELECT RAISE(ABORT, 'linebus: messages are append-only; pages cannot be deleted'); END`;

/**
 * Messages are summarized per block of 2^BLOCK_BITS ids: for each topic in
 * the block, its first and last id and count (topic_blocks). A block is
 * summarized by the commit that completes it, so the blocks below the one
 * of the journal's last id are summarized and only the last block, at most
 * 16384 rows, is ever read without the summary.
 */
export const BLOCK_BITS = 14;
export const BLOCK_SIZE = 2 ** BLOCK_BITS;

/** The block of an id (ids go past 2^31: no bit shifts in JavaScript). */
export function blockOf(id: number): number {
  return Math.floor(id / BLOCK_SIZE);
}

export const MIGRATIONS: readonly Migration[] = [
  {
    // linebus 1.0: the messages, append-only, and the users.
    version: 1,
    sql: `
CREATE TABLE messages (
  id     INTEGER PRIMARY KEY AUTOINCREMENT,   -- the delivery id
  ts     INTEGER NOT NULL,                    -- ms since the Unix epoch, at commit
  topic  TEXT    NOT NULL,
  sender TEXT    NOT NULL,                    -- login name
  body   TEXT    NOT NULL
);
CREATE INDEX messages_topic_id ON messages (topic, id);
CREATE TRIGGER messages_no_update BEFORE UPDATE ON messages
BEGIN SELECT RAISE(ABORT, 'linebus: messages are append-only; rows cannot be updated'); END;
${MESSAGES_NO_DELETE};
CREATE TABLE users (
  name    TEXT PRIMARY KEY,
  hash    TEXT    NOT NULL,
  created INTEGER NOT NULL
);`,
  },
  {
    // linebus 2.0: an index entry per message of (topic, id) made every
    // insert land in the middle of a B-tree, one page write per topic per
    // commit; one summary row per topic per 16384-id block replaces it.
    // Measured inserting 500k rows in 256-row commits: 50 topics 46k ->
    // 288k rows/s, 1000 topics 16k -> 212k (notes in the commit).
    version: 2,
    sql: `
CREATE TABLE topic_blocks (
  block    INTEGER NOT NULL,   -- id >> ${BLOCK_BITS}
  topic    TEXT    NOT NULL,
  first_id INTEGER NOT NULL,
  last_id  INTEGER NOT NULL,
  count    INTEGER NOT NULL,
  PRIMARY KEY (block, topic)
) WITHOUT ROWID;
CREATE INDEX topic_blocks_topic ON topic_blocks (topic, block);
INSERT INTO topic_blocks (block, topic, first_id, last_id, count)
  SELECT id >> ${BLOCK_BITS}, topic, min(id), max(id), count(*) FROM messages
  WHERE id < ((SELECT coalesce(max(id), 0) FROM messages) >> ${BLOCK_BITS}) << ${BLOCK_BITS}
  GROUP BY id >> ${BLOCK_BITS}, topic;
DROP INDEX messages_topic_id;`,
  },
  {
    // linebus 2.0: durable cursors and work queues (PROTOCOL.md, version 2).
    // A group's jobs are the journal's messages after its position; a row
    // of jobs exists only for a message handed out and not yet acked.
    version: 3,
    sql: `
CREATE TABLE cursors (
  user    TEXT    NOT NULL,
  name    TEXT    NOT NULL,
  pattern TEXT    NOT NULL,
  mark    INTEGER NOT NULL,   -- every message up to this id is handled
  created INTEGER NOT NULL,   -- ms since the Unix epoch
  PRIMARY KEY (user, name)
) WITHOUT ROWID;
CREATE TABLE groups (
  name     TEXT    PRIMARY KEY,
  pattern  TEXT    NOT NULL,
  position INTEGER NOT NULL,  -- every matching message up to this id was handed out
  wait_ms  INTEGER NOT NULL,  -- how long a job may stay un-acked
  tries    INTEGER NOT NULL,  -- deliveries before a job is dead; 0: never
  creator  TEXT    NOT NULL,
  created  INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE jobs (
  grp   TEXT    NOT NULL,
  id    INTEGER NOT NULL,     -- the message's id
  tries INTEGER NOT NULL,     -- deliveries so far
  due   INTEGER NOT NULL,     -- delayed by a nack until this ms; 0: not delayed
  PRIMARY KEY (grp, id)
) WITHOUT ROWID;`,
  },
  {
    // linebus 2.0, --cluster: the JetStream stream this journal copies.
    // Its ids are that stream's sequence numbers, so a journal belongs to
    // one stream (identified by name and creation time) for good.
    version: 4,
    sql: `
CREATE TABLE cluster (
  stream  TEXT NOT NULL,      -- the stream's name
  created TEXT NOT NULL       -- the stream's creation time, as JetStream reports it
);`,
  },
  {
    // One row per commit instead of one per message. A
    // B-tree insert per message was the ceiling of the send rate; a page
    // is one insert per commit, and goes out to a reader as stored. The
    // rows move into pages (to-pages.ts); `messages` becomes a view.
    version: 5,
    sql: `
CREATE TABLE pages (
  last_id  INTEGER PRIMARY KEY,                -- the id of its last message
  first_id INTEGER NOT NULL,                   -- the id of its first message
  count    INTEGER NOT NULL,                   -- its messages (ids may skip in a cluster)
  ts       INTEGER NOT NULL,                   -- ms since the Unix epoch, at commit
  topic    TEXT,                               -- the topic of all its messages; NULL: several
  data     BLOB    NOT NULL,                   -- its msg lines, UTF-8, each with its LF
  spans    TEXT    NOT NULL                    -- JSON: each line's byte offset in data -> its length
);
CREATE TRIGGER pages_no_update BEFORE UPDATE ON pages
BEGIN SELECT RAISE(ABORT, 'linebus: messages are append-only; pages cannot be updated'); END;
${NO_DELETE_TRIGGER};`,
    run: movePages,
  },
  {
    // linebus 3.0, the MQTT door (MQTT.md): kept sessions (clean session 0)
    // with their subscriptions, messages in flight and QoS 2 identifiers
    // received; retained messages; the publish QoS of messages not sent at
    // QoS 1, one row per commit that has any (never one per message).
    version: 6,
    sql: `
CREATE TABLE mqtt_sessions (
  user         TEXT    NOT NULL,  -- owner: login name, or the client id in open mode
  client_id    TEXT    NOT NULL,
  sent_through INTEGER NOT NULL,  -- every message up to this id was sent or is in mqtt_inflight
  created      INTEGER NOT NULL,  -- ms since the Unix epoch
  PRIMARY KEY (user, client_id)
) WITHOUT ROWID;
CREATE TABLE mqtt_subscriptions (
  user      TEXT    NOT NULL,
  client_id TEXT    NOT NULL,
  filter    TEXT    NOT NULL,     -- as the client wrote it, '$share/<group>/...' included
  qos       INTEGER NOT NULL,     -- granted: 0, 1 or 2
  since     INTEGER NOT NULL,     -- the journal's last id when made
  PRIMARY KEY (user, client_id, filter)
) WITHOUT ROWID;
CREATE TABLE mqtt_inflight (
  user      TEXT    NOT NULL,
  client_id TEXT    NOT NULL,
  packet_id INTEGER NOT NULL,     -- 1 to 65535
  msg_id    INTEGER NOT NULL,     -- the message's id; 0 for a retained message sent on SUBSCRIBE
  topic     TEXT,                 -- that retained message's topic (its row in retained)
  qos       INTEGER NOT NULL,     -- 1 or 2
  released  INTEGER NOT NULL,     -- 1: PUBREC came, PUBREL sent; awaiting PUBCOMP
  PRIMARY KEY (user, client_id, packet_id)
) WITHOUT ROWID;
CREATE TABLE mqtt_received (
  user      TEXT    NOT NULL,
  client_id TEXT    NOT NULL,
  packet_id INTEGER NOT NULL,     -- a QoS 2 PUBLISH journaled, its PUBREL not yet come
  PRIMARY KEY (user, client_id, packet_id)
) WITHOUT ROWID;
CREATE TABLE retained (
  topic  TEXT    PRIMARY KEY,     -- linebus topic; retention never deletes a row
  ts     INTEGER NOT NULL,
  sender TEXT    NOT NULL,
  body   TEXT    NOT NULL,
  qos    INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE message_qos (
  first_id INTEGER PRIMARY KEY,   -- the id of a commit's first message
  qos      TEXT    NOT NULL       -- one digit per message of the commit, in id order
);`,
  },
];

/** Each table and the version that made it: a journal at a version has them all. */
const TABLES: readonly [version: number, name: string, until?: number][] = [
  [1, 'messages', 4],
  [1, 'users'],
  [2, 'topic_blocks'],
  [3, 'cursors'],
  [3, 'groups'],
  [3, 'jobs'],
  [4, 'cluster'],
  [5, 'pages'],
  [6, 'mqtt_sessions'],
  [6, 'mqtt_subscriptions'],
  [6, 'mqtt_inflight'],
  [6, 'mqtt_received'],
  [6, 'retained'],
  [6, 'message_qos'],
];

/** The version that keeps the messages in pages. */
const PAGES_VERSION = 5;

/** The schema version this code writes. */
export const SCHEMA_VERSION: number = (MIGRATIONS[MIGRATIONS.length - 1] as Migration).version;

/**
 * Makes sure `db` is a linebus journal this code can use: creates the
 * schema in an empty file, migrates an older one (unless `readonly`), and
 * refuses another application's file and a newer linebus's.
 */
export function prepareSchema(db: Database.Database, path: string, readonly: boolean): void {
  // Reading the schema is the first real read: a file that is not SQLite
  // fails here with "file is not a database".
  const tables = new Set(db.prepare<[], { name: string }>("SELECT name FROM sqlite_schema WHERE type = 'table'").all().map((t) => t.name));
  const version = db.pragma('user_version', { simple: true }) as number;
  if (version > SCHEMA_VERSION) {
    throw new FatalError(`${path}: journal schema version ${version} is newer than this linebus understands (${SCHEMA_VERSION}); upgrade linebus`);
  }
  if (version === 0 && tables.size > 0) {
    throw new FatalError(`${path}: an SQLite database of some other application (no linebus schema); point --db at a new file`);
  }
  if (version > 0 && TABLES.some(([since, name, until = SCHEMA_VERSION]) => version >= since && version <= until && !tables.has(name))) {
    throw new FatalError(`${path}: linebus schema version ${version} but tables are missing; the file is damaged or not linebus's`);
  }
  if (version === 0 && readonly) {
    throw new FatalError(`${path}: empty database (no linebus schema yet); start 'linebus serve' on it first`);
  }
  // Version 5 keeps the messages in pages: an older journal can only be
  // read by its own linebus until this one's daemon migrates it.
  if (version < PAGES_VERSION && readonly) {
    throw new FatalError(`${path}: journal schema version ${version} predates this linebus's pages (${PAGES_VERSION}); start this linebus's daemon on it once (it migrates it in place), or read it with the linebus that wrote it`);
  }
  if (version < SCHEMA_VERSION && !readonly) migrate(db);
}

/**
 * Applies the migrations after the journal's version in one write
 * transaction. The version is read again inside it: another process (a
 * `linebus user add` beside a starting daemon) may have migrated first.
 */
export function migrate(db: Database.Database, migrations: readonly Migration[] = MIGRATIONS): void {
  db.exec('BEGIN IMMEDIATE');
  try {
    const from = db.pragma('user_version', { simple: true }) as number;
    for (const migration of migrations) {
      if (migration.version <= from) continue;
      db.exec(migration.sql);
      migration.run?.(db);
      db.exec(`PRAGMA user_version = ${migration.version}`);
    }
    db.exec('COMMIT');
  } catch (error) {
    if (db.inTransaction) db.exec('ROLLBACK');
    throw error;
  }
}
