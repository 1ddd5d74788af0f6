/**
 * One connection of the line protocol: who it is, what it receives, the
 * order of its replies and why it closed. Frames come from its Input;
 * commands are handled strictly in order through the handler table; a
 * command that holds (a login, a catch-up) makes the ones after it wait.
 * The bus's typed events become lines here (wire.ts) and go out through
 * its Outlet.
 */
import type { Delivery } from '../bus/receiver.js';
import type { Stats } from '../bus/stats.js';
import type { Turn } from '../bus/turn.js';
import { handleLine } from '../handlers/index.js';
import type { Conn, HandlerLimits, ReplySlot, Services } from '../handlers/context.js';
import type { Logger } from '../log.js';
import { err, ok } from '../protocol/events.js';
import type { Message, Refusal, Reply } from '../protocol/events.js';
import type { Frame } from '../protocol/framing.js';
import { WILL_TIMING_MARK } from '../protocol/telnet.js';
import { hello, jobText, msgText, replyText, SentLines, stampedText } from '../protocol/wire.js';
import type { LineReply } from '../protocol/wire.js';
import { Attachments } from '../queue/attachments.js';
import type { Link } from '../transport/link.js';
import type { Connection } from './connection.js';
import { Input } from './input.js';
import type { Slot } from './outbox.js';
import { Outlet } from './outlet.js';

/** What a session needs beyond the handlers' services. */
export interface SessionServices extends Services {
  readonly turn: Turn;
  readonly counters: Stats;
  readonly logger: Logger;
  /** The limits as they are now (SIGHUP may change them). */
  readonly limits: HandlerLimits & { readonly maxLine: number; readonly maxPending: number; readonly maxInput: number };
  /** The connection has closed, for `reason`. */
  closed(connection: Connection, reason: string): void;
}

export class Session implements Conn, Connection {
  readonly id: number;
  readonly remote: string;
  readonly remoteAddress: string | undefined;
  readonly listener: string;
  readonly #services: SessionServices;
  readonly #outlet: Outlet;
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
  /** `tags ts`: its msg and job lines start with their commit time. */
  #stamped = false;
  /** Where its `ok send <id>` lines are written, once it sends. */
  #sentLines: SentLines | undefined;

  constructor(link: Link, services: SessionServices, id: number) {
    this.id = id;
    this.#services = services;
    this.remote = link.remote;
    this.remoteAddress = link.remoteAddress;
    this.listener = link.listener;
    this.#maxLine = services.limits.maxLine;
    this.#user = link.user;
    this.#outlet = new Outlet(link, services, this, {
      lastWords: replyText,
      left: () => {
        this.#input.stop();
        this.attachments.release();
      },
    });
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
    return this.#outlet.outbox.pendingBytes();
  }

  /** A command is still being answered. */
  get busy(): boolean {
    return this.#input.busy || this.#outlet.outbox.waiting();
  }

  /** Closes for `reason` (a timeout, a foreign protocol) after what was written so far, `last` last. */
  close(reason: string, last: Refusal): void {
    this.#outlet.leave(reason, last, false);
  }

  /** Patterns received and groups taken: what --max-subscriptions counts. */
  get subscriptionCount(): number {
    return this.#patterns.size + this.attachments.size;
  }

  // --- Receiver, Worker ----------------------------------------------------

  deliver(message: Delivery): void {
    // The outlet drops it if the session is closing.
    if (this.#liveSkipped || !this.#services.policy.mayReadMessage(this.#user, message.topic, message.body)) return;
    if (!this.#stamped) return this.#outlet.pushLine(message.data, message.start, message.end, message.id);
    const text = stampedText(message.ts, message.text);
    this.#outlet.push(text, Buffer.byteLength(text), message.id);
  }

  mayTake(job: Message): boolean {
    return this.#services.policy.mayReadMessage(this.#user, job.topic, job.body);
  }

  pushJob(job: Message): boolean {
    const line = jobText(job.topic, job.id, job.sender, job.body);
    const text = this.#stamped ? stampedText(job.ts, line) : line;
    this.#outlet.push(text, Buffer.byteLength(text), 0);
    return !this.#outlet.closing;
  }

  // --- Conn ----------------------------------------------------------------

  loggedIn(user: string): void {
    this.#user = user;
  }

  reply(reply: LineReply): void {
    const text = replyText(reply);
    this.#outlet.push(text, Buffer.byteLength(text), 0);
  }

  later(): (reply: Reply) => void {
    const slot = this.#outlet.outbox.reserve();
    return (reply) => this.answer(slot, reply);
  }

  reserve(): ReplySlot {
    return this.#outlet.outbox.reserve();
  }

  sent(slot: ReplySlot, id: number): void {
    const sentLines = (this.#sentLines ??= new SentLines());
    const end = sentLines.write(id);
    this.#outlet.fillLine(slot as Slot, sentLines.data, sentLines.start, end);
    this.#maybeFinish();
  }

  answer(slot: ReplySlot, reply: Reply): void {
    const text = replyText(reply);
    this.#outlet.fill(slot as Slot, text, Buffer.byteLength(text));
    this.#maybeFinish();
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

  stamp(on: boolean): void {
    this.#stamped = on;
  }

  logoff(): void {
    this.reply(ok('logoff'));
    this.#input.stop();
    this.#outlet.finish('logoff');
    this.attachments.release();
  }

  // --- EitherTarget --------------------------------------------------------

  /** The journal's lines as they are stored, or, stamped, messages to stamp. */
  get takes(): 'lines' | 'messages' {
    return this.#stamped ? 'messages' : 'lines';
  }

  get pageBytes(): number {
    return this.#outlet.pageBytes;
  }

  pushJournaled(pieces: readonly Buffer[], lastId: number): void {
    this.#outlet.pushPieces(pieces, lastId);
  }

  pushMessages(messages: readonly Message[]): void {
    let text = '';
    for (const m of messages) text += stampedText(m.ts, msgText(m.topic, m.id, m.sender, m.body));
    this.#outlet.pushPage(text, Buffer.byteLength(text), (messages[messages.length - 1] as Message).id);
  }

  room(): Promise<boolean> {
    return this.#outlet.room();
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
    if (this.#outlet.closing) return;
    this.#outlet.leave('shutdown', err('shutdown', 'the server is stopping; reconnect later'));
    this.#outlet.outbox.flush();
  }

  // --- input ---------------------------------------------------------------

  /**
   * PROTOCOL.md: after a half-close the server closes once its replies are
   * written, unless the connection is receiving.
   */
  #maybeFinish(): void {
    if (!this.#input.ended || this.#outlet.closing || this.#input.busy) return;
    // Every command read before the half-close is handled: the client can
    // still read, but never ack again, so its groups get its jobs back at
    // once and hand it no more.
    this.attachments.stopWorking();
    if (this.#outlet.outbox.waiting() || this.subscriptionCount > 0) return;
    this.#outlet.finish('client closed');
  }

  #onClose(error: string | undefined): void {
    this.#outlet.closed(error === undefined ? 'client closed' : `socket error ${error}`);
    this.#input.stop();
    for (const pattern of this.#patterns) this.#services.broker.unsubscribe(this, pattern);
    this.#patterns.clear();
    this.attachments.release();
    this.#services.closed(this, this.#outlet.closeReason as string);
  }

  #handleFrame(frame: Frame): void {
    if (this.#outlet.closing) return;
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
        this.#outlet.outbox.pushBytes(WILL_TIMING_MARK);
        return;
      case 'line':
        this.linesIn++;
        handleLine(this, frame.text, this.#services);
    }
  }
}
