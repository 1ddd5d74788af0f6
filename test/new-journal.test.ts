/**
 * What a failed `serve` removes (cli/new-journal.ts): only files its start
 * made, and a new journal only while no daemon holds it and it holds
 * nothing. Real SQLite files in a temp dir.
 */
import t from 'tap';
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { missingFiles, removeMade } from '../src/cli/new-journal.js';
import { JournalLock } from '../src/store/lock.js';
import { Store } from '../src/store/store.js';
import { tempDir } from './helpers.js';

/** Makes the journal at `db` and its lock file, as a start does, and lets go of both. */
function made(db: string, fill?: (store: Store) => void): string[] {
  const missing = missingFiles(db);
  const store = Store.open(db);
  fill?.(store);
  store.close();
  JournalLock.take(db).release();
  return missing;
}

t.test('a new, empty journal and its lock file go', async (t) => {
  const dir = tempDir(t);
  const db = join(dir, 'new.db');
  removeMade(db, made(db));
  t.same(readdirSync(dir), []);
});

t.test('a new journal that holds a message or a user stays, without its new lock file', async (t) => {
  const dir = tempDir(t);
  const withMessage = join(dir, 'message.db');
  removeMade(withMessage, made(withMessage, (store) => store.journal.append([{ topic: 't', sender: 'a', body: 'b' }], 1)));
  const withUser = join(dir, 'user.db');
  removeMade(withUser, made(withUser, (store) => store.users.put('alice', 'hash')));
  t.same(readdirSync(dir).sort(), ['message.db', 'user.db'], 'the journals stay; the lock files the start made go');
});

t.test('a journal a daemon holds stays, lock file and all', async (t) => {
  const dir = tempDir(t);
  const db = join(dir, 'held.db');
  const missing = made(db);
  const lock = JournalLock.take(db);
  removeMade(db, missing);
  t.ok(existsSync(db) && existsSync(`${db}.lock`));
  lock.release();
});

t.test('a journal that was there stays; only the new lock file goes, unless held', async (t) => {
  const dir = tempDir(t);
  const db = join(dir, 'old.db');
  Store.open(db).close();
  removeMade(db, made(db));
  t.same(readdirSync(dir), ['old.db']);
  const missing = made(db);
  const lock = JournalLock.take(db);
  removeMade(db, missing);
  t.same(readdirSync(dir).sort(), ['old.db', 'old.db.lock'], 'held: kept');
  lock.release();
});

t.test('a start that opened a journal removed meanwhile does not run on it', async (t) => {
  const dir = tempDir(t);
  const db = join(dir, 'gone.db');
  t.throws(() => JournalLock.take(db), { name: 'FatalError', message: `${db} was removed while this serve started; start it again` });
});

t.test('a new file that is not a journal it can read stays', async (t) => {
  const dir = tempDir(t);
  const db = join(dir, 'odd.db');
  const missing = missingFiles(db);
  writeFileSync(db, 'not sqlite\n'.repeat(100));
  removeMade(db, missing);
  t.same(readdirSync(dir).sort(), ['odd.db'], 'kept; the lock file the check made goes');
});
