// @ts-check
/**
 * The checkpoint thread (checkpointer.ts starts it). Plain JavaScript, so
 * that the thread starts without a TypeScript loader, in tests too.
 *
 * Every tick it runs a passive WAL checkpoint, which never blocks the
 * daemon's writer, on a connection of its own, holding a read snapshot of
 * its own meanwhile. A writer that finds the whole WAL checkpointed starts
 * it over, and fsyncs it first, on the event loop (measured with strace:
 * 50 ms on this machine's disk); with the snapshot, the checkpoint stops
 * short of the newest frames and the WAL is never wholly checkpointed while
 * messages flow, except once it has grown past restartBytes, which bounds
 * its size.
 *
 * A failure (a full disk, an I/O error) is reported to the main thread and
 * the next try waits longer, up to MAX_BACKOFF_MS.
 */
import Database from 'better-sqlite3';
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
    if ((result?.checkpointed ?? 0) > 0) port.postMessage({ kind: 'checkpointed' });
    walBytes = (result?.log ?? 0) * (pageSize + 24);
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
