// @ts-check
/**
 * The checkpoint thread (checkpointer.ts starts it). Plain JavaScript, so
 * that the thread starts without a TypeScript loader, in tests too: it
 * runs passive WAL checkpoints, which never block the daemon's writer, on a
 * connection of its own. A failure (a full disk, an I/O error) is reported
 * to the main thread and the next try waits longer, up to MAX_BACKOFF_MS.
 */
import Database from 'better-sqlite3';
import { parentPort, workerData } from 'node:worker_threads';

const { path, intervalMs } = /** @type {{ path: string, intervalMs: number }} */ (workerData);
const MAX_BACKOFF_MS = 10_000;
const port = /** @type {import('node:worker_threads').MessagePort} */ (parentPort);

/** @type {Database.Database | undefined} */
let db;
let delay = intervalMs;
/** @type {NodeJS.Timeout | undefined} */
let timer;

function step() {
  try {
    db ??= new Database(path, { fileMustExist: true });
    db.pragma('busy_timeout = 500');
    const [result] = /** @type {{ checkpointed: number }[]} */ (db.pragma('wal_checkpoint(PASSIVE)'));
    if ((result?.checkpointed ?? 0) > 0) port.postMessage({ kind: 'checkpointed' });
    delay = intervalMs;
  } catch (error) {
    port.postMessage({ kind: 'failed', message: /** @type {Error} */ (error).message, retryMs: delay });
    // A connection in a bad state is opened again at the next try.
    db?.close();
    db = undefined;
    delay = Math.min(delay * 2, MAX_BACKOFF_MS);
  }
  timer = setTimeout(step, delay);
}

timer = setTimeout(step, delay);
port.on('message', () => {
  clearTimeout(timer);
  db?.close();
  port.close();
});
