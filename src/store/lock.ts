/**
 * One daemon per journal. A second `linebus serve` on the same file would
 * start and journal, but its messages would never reach the first one's
 * receivers. The daemon holds an exclusive SQLite lock on `<db>.lock` for
 * as long as it runs: the kernel drops it when the process ends, however it
 * ends, so there is never a stale lock to clean up.
 */
import Database from 'better-sqlite3';
import { closeSync, existsSync, openSync } from 'node:fs';
import { FatalError } from '../protocol/errors.js';

export class JournalLock {
  readonly #db: Database.Database;

  private constructor(db: Database.Database) {
    this.#db = db;
  }

  /** Takes the lock of the journal at `path`, or throws a FatalError saying who has it. */
  static take(path: string): JournalLock {
    const file = `${path}.lock`;
    if (!existsSync(file)) closeSync(openSync(file, 'a', 0o600));
    const db = new Database(file);
    try {
      db.pragma('busy_timeout = 0');
      // In exclusive locking mode the lock taken by the first write
      // transaction is kept until the connection closes.
      db.pragma('locking_mode = EXCLUSIVE');
      db.exec('BEGIN EXCLUSIVE; COMMIT');
    } catch (error) {
      db.close();
      if ((error as { code?: string }).code !== 'SQLITE_BUSY') throw error;
      throw new FatalError(`${path} is in use by another linebus serve (it holds ${file}); stop that one, or give another --db`);
    }
    // A serve that failed to start removes the new journal it made, under
    // this lock (cli/new-journal.ts); a start that opened that journal
    // meanwhile must not run on a deleted file.
    if (!existsSync(path) || !existsSync(file)) {
      db.close();
      throw new FatalError(`${path} was removed while this serve started; start it again`);
    }
    return new JournalLock(db);
  }

  release(): void {
    if (this.#db.open) this.#db.close();
  }
}
