/**
 * A connection's way out, whatever its door (a line session, a web
 * stream): its output in order through an Outbox, the --max-pending rule,
 * and its last words when it closes. The door formats; the outlet decides
 * what may still go out.
 */
import type { Stats } from '../bus/stats.js';
import type { Turn } from '../bus/turn.js';
import type { Logger } from '../log.js';
import { err } from '../protocol/events.js';
import type { Refusal } from '../protocol/events.js';
import type { Sink } from '../transport/link.js';
import { Outbox } from './outbox.js';
import type { Slot } from './outbox.js';

export interface OutletParts {
  readonly turn: Turn;
  readonly counters: Stats;
  readonly logger: Logger;
  /** As they are now (SIGHUP may change them). */
  readonly limits: { readonly maxPending: number };
}

/** The connection, for the log. */
export interface Named {
  readonly id: number;
  readonly remote: string;
  readonly user: string | undefined;
}

/** What the door does when its connection leaves. */
export interface Leaving {
  /**
   * The refusal as the last thing written: `err slow ...` on the line
   * protocol. A door may answer it otherwise (an HTTP status) and return ''.
   */
  lastWords(refusal: Refusal): string;
  /** It is on its way out: stop reading, let go of what it holds. */
  left?(): void;
}

/** Pages of a catch-up never hold less than this (see room()). */
const MIN_PAGE_BYTES = 16 * 1024;
const MAX_PAGE_BYTES = 1 << 20;

export class Outlet {
  readonly outbox: Outbox;
  readonly #parts: OutletParts;
  readonly #conn: Named;
  readonly #leaving: Leaving;
  #closeReason: string | undefined;

  constructor(sink: Sink, parts: OutletParts, conn: Named, leaving: Leaving) {
    this.outbox = new Outbox(sink, parts.turn);
    this.#parts = parts;
    this.#conn = conn;
    this.#leaving = leaving;
  }

  /** Why the connection is on its way out, once it is: nothing more is pushed. */
  get closeReason(): string | undefined {
    return this.#closeReason;
  }

  get closing(): boolean {
    return this.#closeReason !== undefined;
  }

  /** The most bytes of a page of the journal for this connection. */
  get pageBytes(): number {
    return Math.max(MIN_PAGE_BYTES, Math.min(MAX_PAGE_BYTES, Math.floor(this.#parts.limits.maxPending / 4)));
  }

  /** Output in order, unless the client is over --max-pending bytes behind: then `err slow`. */
  push(text: string, bytes: number, id: number): void {
    if (this.#closeReason !== undefined) return;
    if (this.#behind()) return;
    this.outbox.push(text, bytes, id);
  }

  /** Raw bytes (a door that is not lines: MQTT's packets), in order, under the same rule. */
  pushBytes(data: Buffer): void {
    if (this.#closeReason !== undefined) return;
    if (this.#behind()) return;
    this.outbox.pushBytes(data);
  }

  /**
   * Whether `bytes` more may wait for the connection besides its output
   * (messages an MQTT window holds for want of acknowledgements), counted
   * with what it is behind by; if not, it is cut off as slow.
   */
  admit(bytes: number): boolean {
    if (this.#closeReason !== undefined) return false;
    if (this.outbox.behindBytes() + bytes <= this.#parts.limits.maxPending) return true;
    this.#slow();
    return false;
  }

  /** A line of a page of the journal (its bytes from start to end), under the --max-pending rule. */
  pushLine(data: Buffer, start: number, end: number, id: number): void {
    if (this.#closeReason !== undefined) return;
    if (this.#behind()) return;
    this.outbox.pushLine(data, start, end, id);
  }

  /** Pages of the journal, in pieces: room() made room for them. */
  pushPieces(pieces: readonly Buffer[], lastId: number): void {
    if (this.#closeReason === undefined) this.outbox.pushPieces(pieces, lastId);
  }

  /** A page of the journal: room() made room for it. */
  pushPage(text: string, bytes: number, lastId: number): void {
    if (this.#closeReason === undefined) this.outbox.push(text, bytes, lastId);
  }

  /**
   * Output whose place was reserved (Outbox.reserve), now known. It counts
   * like any other: a client that pipelines sends and never reads their
   * acknowledgements is cut off. (After a logoff the replies before it are
   * still written.)
   */
  fill(slot: Slot, text: string | Buffer, bytes: number): void {
    if (this.#closeReason === undefined && this.#behind()) return;
    this.outbox.fill(slot, text, bytes);
  }

  /** As fill(), with the bytes of `data` from `start` to `end`. */
  fillLine(slot: Slot, data: Buffer, start: number, end: number): void {
    if (this.#closeReason === undefined && this.#behind()) return;
    this.outbox.fillLine(slot, data, start, end);
  }

  /** Resolves once this turn's output is in the sink and it holds at most a page; false once closing. */
  async room(): Promise<boolean> {
    await this.outbox.room(this.pageBytes, () => this.#closeReason === undefined, this.#parts.counters);
    return this.#closeReason === undefined;
  }

  /** Ends once what was pushed so far is written (however slowly its reader reads it), for `reason`. */
  finish(reason: string): void {
    this.#closeReason = reason;
    this.outbox.endWhenFlushed(true);
  }

  /**
   * On the way out for `reason`: `last` goes after what was handed to the
   * sink, and what was not is dropped (`dropUnsent`: slow, shutdown) or
   * goes first (a timeout, a foreign protocol); the reader gets a moment
   * to read it, not more.
   */
  leave(reason: string, last: Refusal, dropUnsent = true): void {
    if (this.#closeReason !== undefined) return;
    if (dropUnsent) this.outbox.dropUnsent();
    this.#closeReason = reason;
    this.#leaving.left?.();
    const text = this.#leaving.lastWords(last);
    this.outbox.push(text, Buffer.byteLength(text), 0);
    this.outbox.endWhenFlushed(false);
  }

  /** The sink closed: nothing more goes out. */
  closed(reason: string): void {
    this.#closeReason ??= reason;
    this.outbox.dropUnsent();
    this.#parts.turn.forget(this.outbox);
  }

  /**
   * Whether the client is over --max-pending behind (Outbox.behindBytes);
   * if so it is cut off as slow. A client that reads takes the messages of
   * any one turn, a burst of large ones included; one that does not falls
   * behind by the next.
   */
  #behind(): boolean {
    if (this.outbox.behindBytes() <= this.#parts.limits.maxPending) return false;
    this.#slow();
    return true;
  }

  /**
   * PROTOCOL.md: `err slow` when the client is over --max-pending bytes behind, then
   * close. What was not yet handed to the sink is dropped, so the id in the
   * line is the last one the client can have received: it comes back with
   * `recv <pattern> since <id>` and loses nothing.
   */
  #slow(): void {
    const { counters, logger, limits } = this.#parts;
    const last = this.outbox.lastWrittenId;
    counters.slowDisconnects++;
    logger.log('warn', 'slow consumer cut off', {
      conn: this.#conn.id,
      remote: this.#conn.remote,
      user: this.#conn.user,
      behind: this.outbox.behindBytes(),
      pending: this.outbox.pendingBytes(),
      limit: limits.maxPending,
      last_id: last,
    });
    this.leave('slow', err('slow', `you fell over ${limits.maxPending} bytes behind; last id sent ${last}; reconnect and recv <pattern> since ${last}`));
  }
}
