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

export interface Migration {
  /** The user_version after it. */
  readonly version: number;
  readonly sql: string;
}

/** The append-only guard; retention drops and recreates it (journal.ts). */
export const NO_DELETE_TRIGGER = `CREATE TRIGGER messages_no_delete BEFORE DELETE ON messages
BEGIN SELECT RAISE(ABORT, 'linebus: messages are append-only; rows cannot be deleted'); END`;

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
${NO_DELETE_TRIGGER};
CREATE TABLE users (
  name    TEXT PRIMARY KEY,
  hash    TEXT    NOT NULL,
  created INTEGER NOT NULL
);`,
  },
];

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
  if (version > 0 && (!tables.has('messages') || !tables.has('users'))) {
    throw new FatalError(`${path}: linebus schema version ${version} but tables are missing; the file is damaged or not linebus's`);
  }
  if (version === 0 && readonly) {
    throw new FatalError(`${path}: empty database (no linebus schema yet); start 'linebus serve' on it first`);
  }
  // A reader of an older journal (tail beside a daemon not yet upgraded)
  // reads what it has.
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
      db.exec(`${migration.sql}; PRAGMA user_version = ${migration.version};`);
    }
    db.exec('COMMIT');
  } catch (error) {
    if (db.inTransaction) db.exec('ROLLBACK');
    throw error;
  }
}
