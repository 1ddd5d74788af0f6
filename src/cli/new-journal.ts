/**
 * A `serve` that fails to start (a port in use, a bad certificate) should
 * leave the directory as it found it: no new `./linebus.db` nor its
 * `.lock`. What the start made is removed, and only that, and only while
 * it holds nothing: an existing journal is never touched.
 */
import { existsSync, rmSync } from 'node:fs';
import { JournalLock } from '../store/lock.js';
import { Store } from '../store/store.js';

/** The files of the journal at `db` that do not exist yet. */
export function missingFiles(db: string): string[] {
  return [db, `${db}-wal`, `${db}-shm`, `${db}-journal`, `${db}.lock`].filter((file) => !existsSync(file));
}

/**
 * Removes those of `made` that exist now, under the journal's lock: if a
 * daemon holds it, they are that daemon's. A new journal goes only while
 * it holds no message and no user.
 */
export function removeMade(db: string, made: readonly string[]): void {
  const lockFile = `${db}.lock`;
  let lock: JournalLock;
  try {
    lock = JournalLock.take(db);
  } catch {
    return;
  }
  try {
    if (made.includes(db) && isEmpty(db)) for (const file of made) if (file !== lockFile) rmSync(file, { force: true });
    if (made.includes(lockFile)) rmSync(lockFile, { force: true });
  } finally {
    lock.release();
  }
}

/**
 * Whether the journal holds no message and no user; one that cannot be
 * read is kept. Opened for writing (no daemon holds it: the caller has its
 * lock), since a read-only connection would leave -wal and -shm behind.
 */
function isEmpty(db: string): boolean {
  let store: Store;
  try {
    store = Store.open(db, { mustExist: true });
  } catch {
    return false;
  }
  try {
    return store.reader.lastId() === 0 && store.users.list().length === 0;
  } finally {
    store.close();
  }
}
