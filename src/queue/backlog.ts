/**
 * What a queue group hands out next: the messages of its pattern after its
 * position. A small buffer is filled by bounded reads of
 * the journal and, once a read reaches the journal's end, by the broker's
 * live deliveries, so a group that keeps up never reads the journal at
 * all, and one far behind reads it a page at a time.
 */
import type { Turn } from '../bus/turn.js';
import type { Logger } from '../log.js';
import type { Message } from '../protocol/events.js';
import { messageSize } from '../store/reader.js';
import type { JournalReader } from '../store/reader.js';
import { Wants } from '../store/wants.js';
import { Fifo } from '../util/fifo.js';

/** Journal rows read ahead of the position, at most. */
const BUFFER_ROWS = 1000;
const BUFFER_BYTES = 1 << 20;
/** Rows one synchronous read of the journal scans at most. */
const READ_ROWS = 2000;

interface Fetched {
  readonly message: Message;
  /** What it weighs in the buffer (messageSize). */
  readonly size: number;
}

export class Backlog {
  readonly #group: string;
  readonly #pattern: string;
  readonly #reader: JournalReader;
  readonly #logger: Logger;
  /** Where a read left for later waits: the end of the turn. */
  readonly #turn: Turn;
  /** Called when a read left for later is due. */
  readonly #readAgain: () => void;
  /** Every matching message up to this id is in the buffer or handed out. */
  #scanned: number;
  readonly #buffer = new Fifo<Fetched>();
  #bytes = 0;
  /** Read to the journal's end while live: new messages come to offer(). */
  #caughtUp = false;
  #live = false;
  #readScheduled = false;

  constructor(group: string, pattern: string, position: number, reader: JournalReader, logger: Logger, turn: Turn, readAgain: () => void) {
    this.#group = group;
    this.#pattern = pattern;
    this.#scanned = position;
    this.#reader = reader;
    this.#logger = logger;
    this.#turn = turn;
    this.#readAgain = readAgain;
  }

  /** Every matching message up to here was handed out. */
  get position(): number {
    const head = this.#buffer.peek();
    return head === undefined ? this.#scanned : head.message.id - 1;
  }

  /** Whether the group receives live messages (it has members). */
  set live(live: boolean) {
    this.#live = live;
    if (!live) this.#caughtUp = false;
  }

  /** The next job to hand out, reading the journal if need be. */
  peek(): Message | undefined {
    const head = this.#buffer.peek();
    if (head !== undefined || this.#caughtUp) return head?.message;
    this.#read();
    return this.#buffer.peek()?.message;
  }

  /** The job peek() gave was handed out. */
  take(): void {
    const head = this.#buffer.take();
    if (head !== undefined) this.#bytes -= head.size;
  }

  /**
   * Retention deleted the journal before `first`: messages read ahead of
   * it go too, as the ones not read yet do (#read), so a group never hands
   * out a message the journal no longer has.
   */
  dropBefore(first: number): void {
    let from: number | undefined;
    let to = 0;
    for (let next = this.#buffer.peek(); next !== undefined && next.message.id < first; next = this.#buffer.peek()) {
      from ??= next.message.id;
      to = next.message.id;
      this.take();
    }
    if (from !== undefined) this.#warnDeleted(from, to);
  }

  /** A live message of the pattern, committed just now; true if it is next in line. */
  offer(message: Message): boolean {
    if (!this.#caughtUp) return false;
    const size = messageSize(message);
    if (this.#buffer.length >= BUFFER_ROWS || this.#bytes + size > BUFFER_BYTES) {
      // It stays in the journal, to be read when the buffer has room.
      this.#caughtUp = false;
      return false;
    }
    this.#buffer.push({ message, size });
    this.#bytes += size;
    this.#scanned = message.id;
    return true;
  }

  #warnDeleted(from: number, to: number): void {
    this.#logger.log('warn', 'retention deleted messages before the group handed them out', { group: this.#group, from, to });
  }

  /**
   * One bounded read of the journal after what was scanned. A read that
   * finds nothing short of the end leaves the rest to a later turn.
   */
  #read(): void {
    const reader = this.#reader;
    const first = reader.firstId();
    if (first > this.#scanned + 1) {
      this.#warnDeleted(this.#scanned + 1, first - 1);
      this.#scanned = first - 1;
    }
    const wants = new Wants([{ pattern: this.#pattern, after: this.#scanned }]);
    const page = reader.pageMessages(wants, this.#scanned, reader.lastId(), { rows: READ_ROWS, bytes: BUFFER_BYTES - this.#bytes });
    for (const message of page.messages) {
      const size = messageSize(message);
      this.#buffer.push({ message, size });
      this.#bytes += size;
    }
    this.#scanned = page.next;
    // Commits come from this thread only: nothing slips in between the
    // read of the journal's end and the live deliveries after it.
    if (page.done) this.#caughtUp = this.#live;
    else if (page.messages.length === 0) this.#readLater();
  }

  #readLater(): void {
    if (this.#readScheduled) return;
    this.#readScheduled = true;
    this.#turn.defer(() => {
      this.#readScheduled = false;
      this.#readAgain();
    });
  }
}
