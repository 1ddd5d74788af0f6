/**
 * Opening the one SQLite file that holds everything: the journal, its
 * reader and the users. One path is all an operator manages.
 */
import Database from 'better-sqlite3';
import { closeSync, existsSync, fstatSync, openSync, statSync } from 'node:fs';
import { FatalError } from '../protocol/errors.js';
import { ClusterStore } from './cluster.js';
import { CursorStore } from './cursors.js';
import { GroupStore } from './groups.js';
import { Journal } from './journal.js';
import { LagCounter } from './lag.js';
import { MqttStore } from './mqtt.js';
import { JournalReader } from './reader.js';
import { RecentPages } from './recent.js';
import { JournalStarts } from './starts.js';
import { prepareSchema } from './schema.js';
import { preallocateWal } from './wal.js';
import { Users } from './users.js';

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
  /** With checkpointInBackground: the WAL's blocks made at open (default WAL_PREALLOCATE_BYTES, see wal.ts). */
  walBytes?: number;
  /**
   * Keep about this many bytes of the newest pages in memory for readers
   * (recent.ts); only for the one process that writes the journal.
   */
  recentBytes?: number;
}

export class Store {
  readonly path: string;
  readonly sync: SyncMode;
  readonly db: Database.Database;
  readonly reader: JournalReader;
  readonly users: Users;
  #journal: Journal | undefined;
  #cursors: CursorStore | undefined;
  #groups: GroupStore | undefined;
  #lag: LagCounter | undefined;
  #starts: JournalStarts | undefined;
  #cluster: ClusterStore | undefined;
  #mqtt: MqttStore | undefined;
  /** The journal file and its WAL, held open to tell if they are unlinked. */
  readonly #fd: number;
  #walFd: number | undefined;
  readonly #recent: RecentPages | undefined;

  private constructor(path: string, db: Database.Database, sync: SyncMode, recentBytes: number) {
    this.path = path;
    this.sync = sync;
    this.db = db;
    this.#recent = recentBytes > 0 ? new RecentPages(recentBytes) : undefined;
    this.reader = new JournalReader(db, this.#recent);
    this.users = new Users(db);
    this.#fd = openSync(path, 'r');
  }

  /** The writer of messages (made on first use: readers never need it). */
  get journal(): Journal {
    this.#journal ??= new Journal(this.db, () => this.#checkFiles(), this.#recent);
    return this.#journal;
  }

  /** The cursors (made on first use: a reader of an older journal has none). */
  get cursors(): CursorStore {
    this.#cursors ??= new CursorStore(this.db);
    return this.#cursors;
  }

  get groups(): GroupStore {
    this.#groups ??= new GroupStore(this.db);
    return this.#groups;
  }

  get lag(): LagCounter {
    this.#lag ??= new LagCounter(this.db);
    return this.#lag;
  }

  /** Where reads start: after the last n of a pattern, at a time; a topic's last id. */
  get starts(): JournalStarts {
    this.#starts ??= new JournalStarts(this.db);
    return this.#starts;
  }

  /** The stream a cluster daemon's journal copies. */
  get cluster(): ClusterStore {
    this.#cluster ??= new ClusterStore(this.db);
    return this.#cluster;
  }

  /** The MQTT door's sessions and retained messages. */
  get mqtt(): MqttStore {
    this.#mqtt ??= new MqttStore(this.db);
    return this.#mqtt;
  }

  /** The journal's size on disk: the database file and its WAL. */
  bytes(): number {
    const size = (path: string): number => statSync(path, { throwIfNoEntry: false })?.size ?? 0;
    return size(this.path) + size(`${this.path}-wal`);
  }

  /**
   * Throws if the journal or its WAL was deleted or replaced since it was
   * opened: commits would go on into the deleted files, be acknowledged,
   * and vanish at the next start, when ids would begin again at 1. An fstat
   * of files held open is cheap enough for every commit: a file unlinked
   * (deleted, or replaced by a rename) has no link left.
   */
  #checkFiles(): void {
    // The WAL appears with the first commit and stays while the daemon runs.
    this.#walFd ??= openIfThere(`${this.path}-wal`);
    if (fstatSync(this.#fd).nlink === 0 || (this.#walFd !== undefined && fstatSync(this.#walFd).nlink === 0)) {
      throw new Error(`${this.path} or its -wal was deleted or replaced while the daemon ran; sends are refused until it is restarted on a journal that is there`);
    }
  }

  /**
   * Opens (and, when writable and new, creates or migrates) a journal. Any
   * problem is a FatalError whose message names the file and says what to
   * do.
   */
  static open(path: string, options: OpenOptions = {}): Store {
    const readonly = options.readonly ?? false;
    if ((readonly || options.mustExist) && !existsSync(path)) {
      throw new FatalError(`${path}: no such database; give --db (or LINEBUS_DB) the daemon's journal, or start 'linebus serve --db ${path}' to create it`);
    }
    let db: Database.Database;
    try {
      // A new journal is readable by its owner only: it holds every
      // message and the password hashes. SQLite gives -wal and -shm the
      // same mode.
      if (!readonly && !existsSync(path)) closeSync(openSync(path, 'wx', 0o600));
      db = new Database(path, { readonly, fileMustExist: readonly || options.mustExist === true });
    } catch (error) {
      throw new FatalError(`${path}: cannot open database: ${(error as Error).message}`, { cause: error });
    }
    try {
      // A writer elsewhere (`linebus user add`, sqlite3) holds the lock for
      // microseconds; wait that long, not so long that traffic stalls.
      db.pragma('busy_timeout = 500');
      prepareSchema(db, path, readonly);
      if (!readonly) {
        db.pragma('journal_mode = WAL');
        db.pragma(`synchronous = ${options.sync === 'full' ? 'FULL' : 'NORMAL'}`);
        // The daemon checkpoints from a worker thread (checkpointer.ts),
        // and its WAL has its blocks before any commit (wal.ts); other
        // writers (`linebus user add`) keep SQLite's default.
        if (options.checkpointInBackground) {
          db.pragma('wal_autocheckpoint = 0');
          preallocateWal(db, path, options.walBytes);
        }
      }
      return new Store(path, db, options.sync ?? 'normal', readonly ? 0 : (options.recentBytes ?? 0));
    } catch (error) {
      db.close();
      if (error instanceof FatalError) throw error;
      throw new FatalError(`${path}: not a usable linebus database: ${(error as Error).message}`, { cause: error });
    }
  }

  close(): void {
    if (!this.db.open) return;
    this.db.close();
    closeSync(this.#fd);
    if (this.#walFd !== undefined) closeSync(this.#walFd);
  }
}

function openIfThere(path: string): number | undefined {
  return existsSync(path) ? openSync(path, 'r') : undefined;
}
