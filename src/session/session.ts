/**
 * One client connection: who it is, what it receives, the order of its
 * replies and why it closed. Frames come from its Input; commands are
 * handled strictly in order through the handler table; a command that
 * holds (a login, a catch-up) makes the ones after it wait. Lines go out
 * through its Outbox.
 */
import type { Delivery } from '../bus/receiver.js';
import type { Stats } from '../bus/stats.js';
import type { Turn } from '../bus/turn.js';
import { handleLine } from '../handlers/index.js';
import type { Conn, HandlerLimits, Services } from '../handlers/context.js';
import type { Logger } from '../log.js';
import type { Frame } from '../protocol/framing.js';
import { WILL_TIMING_MARK } from '../protocol/telnet.js';
import { err, hello, ok } from '../protocol/wire.js';
import type { Link } from '../transport/link.js';
import { Attachments } from '../queue/attachments.js';
import { Input } from './input.js';
import { Outbox } from './outbox.js';

/** What a session needs beyond the handlers' services. */
export interface SessionServices extends Services {
  readonly turn: Turn;
  readonly counters: Stats;
  readonly logger: Logger;
  /** The limits as they are now (SIGHUP may change them). */
  readonly limits: HandlerLimits & { readonly maxLine: number; readonly maxPending: number; readonly maxInput: number };
  /** The session has closed, for `reason`. */
  closed(session: Session, reason: string): void;
}

/** Pages of a catch-up never hold less than this (see room()). */
const MIN_PAGE_BYTES = 16 * 1024;
const MAX_PAGE_BYTES = 1 << 20;

export class Session implements Conn {
  readonly id: number;
  readonly remote: string;
  readonly remoteAddress: string | undefined;
  readonly listener: string;
  readonly #services: SessionServices;
  readonly #outbox: Outbox;
  readonly #input: Input;
  /** --max-line as it was when this connection came. */
  readonly #maxLine: number;
  readonly #patterns = new Set<string>();
  /** Groups taken, and what to undo when the connection goes. */
  readonly attachments = new Attachments();
  #user: string | undefined;
  /** Lines read: the watchdog's sign of life (--idle-timeout). */
  linesIn = 0;
  /** A feed reads live messages from the journal for now. */
  #liveSkipped = false;
  /** Set once the session is on its way out: no more input or deliveries. */
  #closeReason: string | undefined;

  constructor(link: Link, services: SessionServices, id: number) {
    this.id = id;
    this.#services = services;
    this.remote = link.remote;
    this.remoteAddress = link.remoteAddress;
    this.listener = link.listener;
    this.#maxLine = services.limits.maxLine;
    this.#user = link.user;
    this.#outbox = new Outbox(link, services.turn);
    this.#input = new Input(link, this.#maxLine, services.limits.maxInput, services.counters, (frame) => this.#handleFrame(frame), () => this.#maybeFinish());
    link.open({
      data: (chunk) => this.#input.write(chunk),
      end: () => this.#input.end(),
      close: (error) => this.#onClose(error),
    });
    this.reply(hello(services.version));
  }

  get user(): string | undefined {
    return this.#user;
  }

  get patterns(): ReadonlySet<string> {
    return this.#patterns;
  }

  pendingBytes(): number {
    return this.#outbox.pendingBytes();
  }

  /** A command is still being answered. */
  get busy(): boolean {
    return this.#input.busy || this.#outbox.waiting();
  }

  /** Closes for `reason` (a timeout), `line` the last thing written. */
  expire(reason: string, line: string): void {
    if (this.#closeReason === undefined) this.#leaveWith(reason, line);
  }

  /** Patterns received and groups taken: what --max-subscriptions counts. */
  get subscriptionCount(): number {
    return this.#patterns.size + this.attachments.size;
  }

  // --- Receiver, Worker ----------------------------------------------------

  deliver(message: Delivery): void {
    if (this.#closeReason !== undefined || this.#liveSkipped || !this.#services.policy.mayRead(this.user, message.topic)) return;
    this.#push(message.text, message.bytes, message.id);
  }

  pushJob(text: string, bytes: number): boolean {
    this.#push(text, bytes, 0);
    return this.#closeReason === undefined;
  }

  // --- Conn ----------------------------------------------------------------

  loggedIn(user: string): void {
    this.#user = user;
  }

  reply(line: string): void {
    const text = `${line}\n`;
    this.#push(text, Buffer.byteLength(text), 0);
  }

  later(): (line: string) => void {
    const slot = this.#outbox.reserve();
    return (line) => {
      const text = `${line}\n`;
      const bytes = Buffer.byteLength(text);
      // A reply that was waiting counts like any other line: a client that
      // pipelines sends and never reads their acknowledgements is cut off.
      // (After a logoff the replies before it are still written.)
      if (this.#closeReason === undefined && this.#outbox.pendingBytes() + bytes > this.#services.limits.maxPending) {
        this.#slow();
        return;
      }
      this.#outbox.fill(slot, text, bytes);
      this.#maybeFinish();
    };
  }

  hold(work: () => Promise<void>): void {
    this.#input.hold();
    work()
      .catch((error: unknown) => {
        this.#services.logger.log('error', 'command failed', { conn: this.id, error: (error as Error).message });
        this.reply(err('internal', 'the server could not finish that command; try again'));
      })
      .finally(() => {
        this.#input.release();
        this.#maybeFinish();
      });
  }

  subscribe(pattern: string): void {
    if (this.#patterns.has(pattern)) return;
    this.#patterns.add(pattern);
    this.#services.broker.subscribe(this, pattern);
  }

  unsubscribe(pattern: string): boolean {
    const received = this.#patterns.delete(pattern);
    if (received) this.#services.broker.unsubscribe(this, pattern);
    return this.attachments.leave(pattern) || received;
  }

  logoff(): void {
    this.reply(ok('logoff'));
    this.#closeReason = 'logoff';
    this.attachments.release();
    this.#input.stop();
    this.#outbox.endWhenFlushed();
  }

  // --- FeedTarget ----------------------------------------------------------

  get pageBytes(): number {
    return Math.max(MIN_PAGE_BYTES, Math.min(MAX_PAGE_BYTES, Math.floor(this.#services.limits.maxPending / 4)));
  }

  pushJournaled(text: string, bytes: number, lastId: number): void {
    if (this.#closeReason === undefined) this.#outbox.push(text, bytes, lastId);
  }

  /** Resolves once this turn's output is in the link and it holds at most a page; false once closed. */
  async room(): Promise<boolean> {
    await this.#outbox.room(this.pageBytes, () => this.#closeReason === undefined, this.#services.counters);
    return this.#closeReason === undefined;
  }

  pauseLive(): void {
    this.#liveSkipped = true;
  }

  resumeLive(): void {
    this.#liveSkipped = false;
  }

  // --- for the server ------------------------------------------------------

  /** The server is stopping: say so, then close. */
  shutdown(): void {
    if (this.#closeReason !== undefined) return;
    this.#leaveWith('shutdown', err('shutdown', 'the server is stopping; reconnect later'));
    this.#outbox.flush();
  }

  // --- output --------------------------------------------------------------

  /** A line in order, unless the client is --max-pending bytes behind. */
  #push(text: string, bytes: number, id: number): void {
    if (this.#closeReason !== undefined) return;
    if (this.#outbox.pendingBytes() + bytes > this.#services.limits.maxPending) {
      this.#slow();
      return;
    }
    this.#outbox.push(text, bytes, id);
  }

  /**
   * PROTOCOL.md: `err slow` when --max-pending bytes are waiting, then
   * close. What was not yet handed to the link is dropped, so the id in the
   * line is the last one the client can have received: it comes back with
   * `recv <pattern> since <id>` and loses nothing.
   */
  #slow(): void {
    const { counters, logger, limits } = this.#services;
    const last = this.#outbox.lastWrittenId;
    counters.slowDisconnects++;
    logger.log('warn', 'slow consumer cut off', {
      conn: this.id,
      remote: this.remote,
      user: this.#user,
      pending: this.#outbox.pendingBytes(),
      limit: limits.maxPending,
      last_id: last,
    });
    this.#leaveWith('slow', err('slow', `you fell over ${limits.maxPending} bytes behind; last id sent ${last}; reconnect and recv <pattern> since ${last}`));
  }

  /**
   * On the way out for `reason`, dropping what was not handed to the link:
   * `last` is the last line; groups get this worker's jobs back at once.
   */
  #leaveWith(reason: string, last: string): void {
    this.#outbox.dropUnsent();
    this.#closeReason = reason;
    this.#input.stop();
    this.attachments.release();
    const text = `${last}\n`;
    this.#outbox.push(text, Buffer.byteLength(text), 0);
    this.#outbox.endWhenFlushed();
  }

  // --- input ---------------------------------------------------------------

  /**
   * PROTOCOL.md: after a half-close the server closes once its replies are
   * written, unless the connection is receiving.
   */
  #maybeFinish(): void {
    if (!this.#input.ended || this.#closeReason !== undefined) return;
    if (this.#input.busy || this.#outbox.waiting() || this.subscriptionCount > 0) return;
    this.#closeReason = 'client closed';
    this.#outbox.endWhenFlushed();
  }

  #onClose(error: string | undefined): void {
    this.#closeReason ??= error === undefined ? 'client closed' : `socket error ${error}`;
    this.#input.stop();
    this.#outbox.dropUnsent();
    this.#services.turn.forget(this.#outbox);
    for (const pattern of this.#patterns) this.#services.broker.unsubscribe(this, pattern);
    this.#patterns.clear();
    this.attachments.release();
    this.#services.closed(this, this.#closeReason);
  }

  #handleFrame(frame: Frame): void {
    if (this.#closeReason !== undefined) return;
    switch (frame.kind) {
      case 'toolong':
        this.reply(err('toolong', `line is over the ${this.#maxLine}-byte limit and was dropped; send shorter lines`));
        return;
      case 'encoding':
        this.reply(err('encoding', 'line is not valid UTF-8 and was dropped; send UTF-8 text'));
        return;
      case 'timing-mark':
        // Telnet's Ctrl-C: it waits for this answer before it shows output
        // again. The IAC IP before it means nothing here.
        this.#outbox.pushBytes(WILL_TIMING_MARK);
        return;
      case 'line':
        this.linesIn++;
        handleLine(this, frame.text, this.#services);
    }
  }
}
