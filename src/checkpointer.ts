/**
 * WAL checkpoints off the event loop. SQLite's automatic checkpoint runs
 * inside whichever commit crosses 1000 WAL pages and waits for fsync there:
 * at a steady trickle of small commits that is a multi-millisecond stall
 * every second or so, felt by every message in flight. So the daemon's
 * connection turns automatic checkpoints off and this worker thread, with a
 * connection of its own, runs passive checkpoints (which never block the
 * writer) every CHECKPOINT_MS.
 */
import Database from 'better-sqlite3';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';

const CHECKPOINT_MS = 200;

export class Checkpointer {
  readonly #worker: Worker;
  /** Checkpoints that copied WAL pages into the database. */
  checkpoints = 0;

  constructor(path: string) {
    this.#worker = new Worker(new URL(import.meta.url), { workerData: { path } });
    this.#worker.on('message', () => this.checkpoints++);
    this.#worker.unref();
  }

  /** Stops the worker after its current checkpoint. */
  async stop(): Promise<void> {
    const exited = new Promise<void>((resolve) => this.#worker.once('exit', () => resolve()));
    // Unref'd so that it never keeps a process alive by itself; while it
    // stops, it must.
    this.#worker.ref();
    this.#worker.postMessage('stop');
    await exited;
  }
}

if (!isMainThread && parentPort) {
  const db = new Database((workerData as { path: string }).path);
  db.pragma('busy_timeout = 500');
  const timer = setInterval(() => {
    const [result] = db.pragma('wal_checkpoint(PASSIVE)') as { checkpointed: number }[];
    if ((result?.checkpointed ?? 0) > 0) parentPort?.postMessage('checkpointed');
  }, CHECKPOINT_MS);
  parentPort.on('message', () => {
    clearInterval(timer);
    db.close();
    parentPort?.close();
  });
}
