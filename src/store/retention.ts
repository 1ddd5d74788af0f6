/**
 * Retention (--retain-days, --retain-messages): deletes the oldest pages
 * whose messages the limits no longer keep, a chunk per turn so traffic
 * goes on meanwhile. A page (one commit's messages) goes whole, once every
 * message in it is past the limits.
 */
import type { Logger } from '../log.js';
import type { Journal } from './journal.js';
import type { JournalReader } from './reader.js';
import type { JournalStarts } from './starts.js';

/** Retention deletes about this many messages per step, then yields. */
const CHUNK = 2000;

export interface RetentionLimits {
  /** Delete messages older than this many days; 0 keeps them. */
  readonly retainDays: number;
  /** Keep at most this many of the newest messages; 0 keeps all. */
  readonly retainMessages: number;
}

export interface RetentionCounts {
  retentionDeleted: number;
  retentionFailures: number;
}

export class Retention {
  readonly #journal: Journal;
  readonly #reader: JournalReader;
  readonly #starts: JournalStarts;
  readonly #limits: RetentionLimits;
  readonly #counts: RetentionCounts;
  readonly #logger: Logger;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<number> | undefined;
  #stopped = false;

  /** Told where the journal now starts, after a pass that deleted some. */
  readonly #deleted: (first: number) => void;

  constructor(journal: Journal, reader: JournalReader, starts: JournalStarts, limits: RetentionLimits, counts: RetentionCounts, logger: Logger, deleted: (first: number) => void) {
    this.#journal = journal;
    this.#reader = reader;
    this.#starts = starts;
    this.#limits = limits;
    this.#counts = counts;
    this.#logger = logger;
    this.#deleted = deleted;
  }

  /** Runs a pass every `intervalMs`. */
  start(intervalMs: number): void {
    this.#timer = setInterval(() => void this.run(), intervalMs).unref();
  }

  /** Stops the timer and waits for a pass under way. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearInterval(this.#timer);
    await this.#running;
  }

  /** One pass (or the one under way); resolves to the number deleted. */
  run(): Promise<number> {
    this.#running ??= this.#pass().finally(() => {
      this.#running = undefined;
    });
    return this.#running;
  }

  async #pass(): Promise<number> {
    let deleted = 0;
    try {
      for (;;) {
        const cutoff = this.#cutoff();
        if (cutoff === 0 || this.#stopped) break;
        const count = this.#journal.deleteOldest(cutoff, CHUNK);
        deleted += count;
        this.#counts.retentionDeleted += count;
        if (count === 0) break;
        await new Promise((resolve) => setImmediate(resolve));
      }
    } catch (error) {
      // A writer elsewhere holding the lock, a full disk: the next pass
      // tries again; nothing is lost by waiting.
      this.#counts.retentionFailures++;
      this.#logger.log('error', 'retention failed; will retry', { error: (error as Error).message, deleted });
    }
    if (deleted > 0) {
      const first = this.#reader.firstId();
      this.#logger.log('info', 'retention deleted old messages', { deleted, first_id: first });
      this.#deleted(first);
    }
    return deleted;
  }

  /** The last id retention may delete now, or 0 for none. */
  #cutoff(): number {
    const first = this.#reader.firstId();
    if (first === 0) return 0;
    const last = this.#reader.lastId();
    const { retainDays, retainMessages } = this.#limits;
    let cutoff = 0;
    if (retainMessages > 0) cutoff = Math.max(cutoff, last - retainMessages);
    if (retainDays > 0) cutoff = Math.max(cutoff, this.#starts.afterTime(Date.now() - retainDays * 86_400_000, first, last));
    return cutoff >= first ? cutoff : 0;
  }
}
