/**
 * The SQLite journal (PROTOCOL.md, "Journal"): every accepted send is a row
 * of `messages`, committed before it is acknowledged or delivered. Rows are
 * append-only, enforced by triggers in the database itself. The same file
 * holds the users table, so one path is all an operator manages.
 */
import Database from 'better-sqlite3';
import { existsSync } from 'node:fs';
import { FatalError } from './errors.js';

/** Rows per multi-row INSERT statement when a batch is large enough. */
const INSERT_ROWS = 16;

/** The schema version this code writes (PRAGMA user_version). */
export const SCHEMA_VERSION = 1;

const NO_DELETE_TRIGGER = `CREATE TRIGGER messages_no_delete BEFORE DELETE ON messages
BEGIN SELECT RAISE(ABORT, 'linebus: messages are append-only; rows cannot be deleted'); END`;

const SCHEMA_V1 = `
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
);
`;

export interface StoredMessage {
  id: number;
  ts: number;
  topic: string;
  sender: string;
  body: string;
}

export interface UserRow {
  name: string;
  hash: string;
  created: number;
}

export interface PendingMessage {
  topic: string;
  sender: string;
  body: string;
}

/**
 * How hard a commit waits for the disk. `normal` (SQLite synchronous=NORMAL
 * in WAL mode): a committed message survives a crash of the daemon or of
 * the OS's processes, and a power loss may lose the last commits. `full`:
 * every commit is fsynced, so it survives a power loss too.
 */
export type SyncMode = 'normal' | 'full';

export interface OpenOptions {
  /** Durability of commits; default `normal`. */
  sync?: SyncMode;
  /** Open for reading only (`linebus tail`, `user list`); never writes. */
  readonly?: boolean;
  /** Fail if the file does not exist instead of creating it. */
  mustExist?: boolean;
  /** Leave WAL checkpoints to a Checkpointer instead of the commits. */
  checkpointInBackground?: boolean;
}

/** better-sqlite3 throws Error objects (SqliteError, TypeError). */
function describe(error: unknown): string {
  return (error as Error).message;
}

export class Journal {
  readonly path: string;
  readonly sync: SyncMode;
  readonly db: Database.Database;
  readonly #insertOne: Database.Statement<unknown[]>;
  readonly #insertMany: Database.Statement<unknown[]>;
  readonly #appendBatch: (messages: readonly PendingMessage[], ts: number) => number;
  readonly #deleteThrough: (lastDeleted: number, limit: number) => number;

  private constructor(path: string, db: Database.Database, sync: SyncMode) {
    this.path = path;
    this.sync = sync;
    this.db = db;
    const insert = 'INSERT INTO messages (ts, topic, sender, body) VALUES ';
    this.#insertOne = db.prepare(`${insert}(?, ?, ?, ?)`);
    // One statement per INSERT_ROWS rows costs far less than one per row
    // (measured: 1.7x the rows per second); the rest go one by one.
    this.#insertMany = db.prepare(`${insert}${Array(INSERT_ROWS).fill('(?, ?, ?, ?)').join(', ')}`);
    const remove = db.prepare<[number, number]>('DELETE FROM messages WHERE id IN (SELECT id FROM messages WHERE id <= ? ORDER BY id LIMIT ?)');
    // Retention's narrow path past the append-only guard: within one
    // transaction of this connection, so no other connection ever sees
    // the trigger missing.
    this.#deleteThrough = db.transaction((lastDeleted: number, limit: number) => {
      db.exec('DROP TRIGGER messages_no_delete');
      const changes = remove.run(lastDeleted, limit).changes;
      db.exec(NO_DELETE_TRIGGER);
      return changes;
    });
    const params: unknown[] = [];
    this.#appendBatch = db.transaction((messages: readonly PendingMessage[], ts: number) => {
      let id = 0;
      let i = 0;
      for (; i + INSERT_ROWS <= messages.length; i += INSERT_ROWS) {
        params.length = 0;
        for (let j = i; j < i + INSERT_ROWS; j++) {
          const m = messages[j] as PendingMessage;
          params.push(ts, m.topic, m.sender, m.body);
        }
        id = Number(this.#insertMany.run(params).lastInsertRowid);
      }
      for (; i < messages.length; i++) {
        const m = messages[i] as PendingMessage;
        id = Number(this.#insertOne.run(ts, m.topic, m.sender, m.body).lastInsertRowid);
      }
      return id;
    });
  }

  /**
   * Opens (and, when writable and new, creates) a journal. Any problem is a
   * FatalError whose message names the file and says what to do.
   */
  static open(path: string, options: OpenOptions = {}): Journal {
    const readonly = options.readonly ?? false;
    if ((readonly || options.mustExist) && !existsSync(path)) {
      throw new FatalError(`${path}: no such database; start 'linebus serve --db ${path}' or add a user to create it`);
    }
    let db: Database.Database;
    try {
      db = new Database(path, { readonly, fileMustExist: readonly || options.mustExist === true });
    } catch (error) {
      throw new FatalError(`${path}: cannot open database: ${describe(error)}`, { cause: error });
    }
    try {
      // A writer elsewhere (`linebus user add`, sqlite3) holds the lock for
      // microseconds; wait that long, not so long that traffic stalls.
      db.pragma('busy_timeout = 500');
      checkOrCreateSchema(db, path, readonly);
      if (!readonly) {
        db.pragma('journal_mode = WAL');
        db.pragma(`synchronous = ${options.sync === 'full' ? 'FULL' : 'NORMAL'}`);
        // The daemon checkpoints from a worker thread (checkpointer.ts);
        // other writers (`linebus user add`) keep SQLite's default.
        if (options.checkpointInBackground) db.pragma('wal_autocheckpoint = 0');
      }
    } catch (error) {
      db.close();
      if (error instanceof FatalError) throw error;
      throw new FatalError(`${path}: not a usable linebus database: ${describe(error)}`, { cause: error });
    }
    return new Journal(path, db, options.sync ?? 'normal');
  }

  /**
   * Appends messages in one transaction, in order, all stamped `ts`.
   * Returns the id of the last one; ids are consecutive within a batch
   * because this connection is the only writer of `messages`.
   */
  append(messages: readonly PendingMessage[], ts: number): number {
    return this.#appendBatch(messages, ts);
  }

  /**
   * Retention: deletes at most `limit` of the oldest rows with id <=
   * `lastDeleted`; returns how many went.
   */
  deleteOldest(lastDeleted: number, limit: number): number {
    return this.#deleteThrough(lastDeleted, limit);
  }

  getUser(name: string): UserRow | undefined {
    return this.db.prepare<[string], UserRow>('SELECT name, hash, created FROM users WHERE name = ?').get(name);
  }

  hasUsers(): boolean {
    return this.db.prepare('SELECT 1 FROM users LIMIT 1').get() !== undefined;
  }

  /** Adds or replaces a user; returns true if the user is new. */
  putUser(name: string, hash: string): boolean {
    const existed = this.getUser(name) !== undefined;
    this.db
      .prepare('INSERT INTO users (name, hash, created) VALUES (?, ?, ?) ON CONFLICT (name) DO UPDATE SET hash = excluded.hash')
      .run(name, hash, Date.now());
    return !existed;
  }

  deleteUser(name: string): boolean {
    return this.db.prepare('DELETE FROM users WHERE name = ?').run(name).changes > 0;
  }

  listUsers(): UserRow[] {
    return this.db.prepare<[], UserRow>('SELECT name, hash, created FROM users ORDER BY name').all();
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}

/**
 * Makes sure `db` is a linebus journal of a version we can use: creates the
 * schema in an empty file, refuses another application's file and a newer
 * linebus's, and (later versions) migrates older ones.
 */
function checkOrCreateSchema(db: Database.Database, path: string, readonly: boolean): void {
  // Reading the schema is the first real read: a file that is not SQLite
  // fails here with "file is not a database".
  const tables = db.prepare<[], { name: string }>("SELECT name FROM sqlite_schema WHERE type = 'table'").all();
  const version = db.pragma('user_version', { simple: true }) as number;
  if (version > SCHEMA_VERSION) {
    throw new FatalError(`${path}: journal schema version ${version} is newer than this linebus understands (${SCHEMA_VERSION}); upgrade linebus`);
  }
  if (version === 0) {
    if (tables.length > 0) {
      throw new FatalError(`${path}: an SQLite database of some other application (no linebus schema); point --db at a new file`);
    }
    if (readonly) throw new FatalError(`${path}: empty database (no linebus schema yet); start 'linebus serve' on it first`);
    db.exec(`BEGIN; ${SCHEMA_V1} PRAGMA user_version = ${SCHEMA_VERSION}; COMMIT;`);
    return;
  }
  const names = new Set(tables.map((t) => t.name));
  if (!names.has('messages') || !names.has('users')) {
    throw new FatalError(`${path}: linebus schema version ${version} but tables are missing; the file is damaged or not linebus's`);
  }
}
