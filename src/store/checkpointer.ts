/**
 * WAL checkpoints off the event loop. SQLite's automatic checkpoint runs
 * inside whichever commit crosses 1000 WAL pages and waits for fsync there:
 * at a steady trickle of small commits that is a multi-millisecond stall
 * every second or so, felt by every message in flight. So the daemon's
 * connection turns automatic checkpoints off and a worker thread
 * (checkpoint-worker.js), with a connection of its own, runs passive
 * checkpoints every CHECKPOINT_MS.
 *
 * A checkpoint that fails (a full disk, an I/O error) is logged, counted
 * and tried again later by the thread; a thread that dies is started again
 * after a growing delay. Neither stops the daemon: its commits go on into
 * the WAL.
 */
import { Worker } from 'node:worker_threads';
import type { Logger } from '../log.js';
import { WAL_RESTART_BYTES } from './wal.js';

const CHECKPOINT_MS = 200;
const RESTART_MS = 1000;
const MAX_RESTART_MS = 60_000;

export interface CheckpointCounts {
  checkpoints: number;
  checkpointFailures: number;
}

type WorkerMessage = { kind: 'checkpointed' } | { kind: 'failed'; message: string; retryMs: number };

export interface CheckpointerOptions {
  /** The thread's code; tests give a failing one. */
  script?: URL;
  /** Past this many bytes of WAL, let it start over. */
  restartBytes?: number;
  /** Called after each checkpoint that copied pages. */
  onCheckpoint?: () => void;
}

export class Checkpointer {
  readonly #path: string;
  readonly #counts: CheckpointCounts;
  readonly #logger: Logger;
  readonly #options: Required<Omit<CheckpointerOptions, 'onCheckpoint'>> & CheckpointerOptions;
  /** The thread now, or the last one if it died. */
  #worker: Worker;
  #exited: Promise<void> = Promise.resolve();
  #restart: NodeJS.Timeout | undefined;
  #restartMs = RESTART_MS;
  #stopped = false;

  constructor(path: string, counts: CheckpointCounts, logger: Logger, options: CheckpointerOptions = {}) {
    this.#path = path;
    this.#counts = counts;
    this.#logger = logger;
    this.#options = { script: new URL('./checkpoint-worker.js', import.meta.url), restartBytes: WAL_RESTART_BYTES, ...options };
    this.#worker = this.#start();
  }

  #start(): Worker {
    // execArgv: [] so the thread does not inherit a loader of the parent's
    // (a test runner's TypeScript hooks): it is plain JavaScript.
    const worker = new Worker(this.#options.script, {
      workerData: { path: this.#path, intervalMs: CHECKPOINT_MS, restartBytes: this.#options.restartBytes },
      execArgv: [],
    });
    this.#exited = new Promise((resolve) => worker.once('exit', () => resolve()));
    worker.on('message', (message: WorkerMessage) => {
      if (message.kind === 'checkpointed') {
        this.#counts.checkpoints++;
        this.#restartMs = RESTART_MS;
        this.#options.onCheckpoint?.();
        return;
      }
      this.#counts.checkpointFailures++;
      this.#logger.log('error', 'WAL checkpoint failed; retrying', { error: message.message, retry_ms: message.retryMs });
    });
    worker.on('error', (error) => {
      this.#counts.checkpointFailures++;
      this.#logger.log('error', 'checkpoint thread failed; starting it again', { error: error.message, retry_ms: this.#restartMs });
      if (this.#stopped) return;
      this.#restart = setTimeout(() => (this.#worker = this.#start()), this.#restartMs).unref();
      this.#restartMs = Math.min(this.#restartMs * 2, MAX_RESTART_MS);
    });
    worker.unref();
    return worker;
  }

  /** Stops the thread after its current checkpoint. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#restart);
    // Unref'd so that it never keeps a process alive by itself; while it
    // stops, it must (a dead one's exit event may still be on its way).
    this.#worker.ref();
    this.#worker.postMessage('stop');
    await this.#exited;
  }
}
