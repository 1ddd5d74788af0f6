// @ts-check
/**
 * The checkpoint thread (checkpointer.ts starts it). Plain JavaScript, so
 * that the thread starts without a TypeScript loader, in tests too.
 *
 * Every tick it runs a passive WAL checkpoint, which never blocks the
 * daemon's writer, on a connection of its own, holding a read snapshot of
 * its own meanwhile. A writer that finds the whole WAL checkpointed starts
 * it over, and fsyncs the new WAL header first (SQLite's guard against
 * writes reordered by the disk), which on the event loop stalls every
 * message in flight (measured with perf sched: 82 ms on this machine's
 * disk). With the snapshot, the checkpoint stops short of the newest
 * frames and the WAL is never wholly checkpointed while messages flow;
 * once it has grown past restartBytes, this thread starts it over itself:
 * no snapshot, a checkpoint of every frame, then a write of its own (the
 * user_version, unchanged) that is the first of the new WAL, its fsync
 * here. The daemon's commits wait only for that write's lock.
 *
 * It runs at the lowest priority (Linux: nice 19 for this thread): when
 * the daemon has one core, its event loop comes first.
 *
 * A failure (a full disk, an I/O error) is reported to the main thread and
 * the next try waits longer, up to MAX_BACKOFF_MS.
 */
import Database from 'better-sqlite3';
import { readlinkSync } from 'node:fs';
import { setPriority } from 'node:os';
import { parentPort, workerData } from 'node:worker_threads';

const { path, intervalMs, restartBytes } = /** @type {{ path: string, intervalMs: number, restartBytes: number }} */ (workerData);
const MAX_BACKOFF_MS = 10_000;
const port = /** @type {import('node:worker_threads').MessagePort} */ (parentPort);

/** @type {Database.Database | undefined} */
let db;
/** A second connection whose open read transaction is the snapshot. */
/** @type {Database.Database | undefined} */
let snapshot;
let delay = intervalMs;
let pageSize = 4096;
/** The size of the WAL's frames at the last checkpoint. */
let walBytes = 0;
/** @type {NodeJS.Timeout | undefined} */
let timer;

try {
  // This thread's id: setpriority(2) of a thread id sets that thread's.
  setPriority(Number(readlinkSync('/proc/thread-self').split('/').pop()), 19);
} catch {
  // Not Linux: the scheduler treats the thread as any other.
}

/**
 * Ends the snapshot, and takes a new one at the end of the WAL, unless the
 * WAL holds more than restartBytes: then it may start over.
 * @param {number} bytes
 */
function renewSnapshot(bytes) {
  if (snapshot?.inTransaction) snapshot.exec('COMMIT');
  if (bytes >= restartBytes) return;
  snapshot ??= new Database(path, { fileMustExist: true, readonly: true });
  snapshot.exec('BEGIN');
  snapshot.prepare('SELECT 1 FROM pages LIMIT 1').get();
}

function step() {
  try {
    db ??= new Database(path, { fileMustExist: true });
    db.pragma('busy_timeout = 500');
    pageSize = /** @type {number} */ (db.pragma('page_size', { simple: true }));
    // The snapshot first: the checkpoint then stops at it, and a reader of
    // WAL frames keeps the writer from starting the WAL over.
    renewSnapshot(walBytes);
    const [result] = /** @type {{ log: number, checkpointed: number }[]} */ (db.pragma('wal_checkpoint(PASSIVE)'));
    const log = result?.log ?? 0;
    walBytes = log * (pageSize + 24);
    // Every frame copied, no commit since: a write now starts the WAL over.
    // (After a start over the WAL holds that one write's frame.)
    if (walBytes >= restartBytes && log > 1 && result?.checkpointed === log) {
      db.pragma(`user_version = ${db.pragma('user_version', { simple: true })}`);
      walBytes = 0;
    }
    if ((result?.checkpointed ?? 0) > 0) port.postMessage({ kind: 'checkpointed' });
    delay = intervalMs;
  } catch (error) {
    port.postMessage({ kind: 'failed', message: /** @type {Error} */ (error).message, retryMs: delay });
    // Connections in a bad state are opened again at the next try.
    db?.close();
    db = undefined;
    snapshot?.close();
    snapshot = undefined;
    delay = Math.min(delay * 2, MAX_BACKOFF_MS);
  }
  timer = setTimeout(step, delay);
}

timer = setTimeout(step, delay);
port.on('message', () => {
  clearTimeout(timer);
  snapshot?.close();
  db?.close();
  port.close();
});
