/**
 * `GET /t/<pattern>` (WEB.md) as a connection of the web door. It reaches
 * the bus as the `recv` and `replay` handlers do (Policy, Feed, Broker) and
 * writes the typed events that come back itself: plain `msg` lines,
 * server-sent events or JSON. A refusal before anything was written is the
 * response's status; one after it ends the stream.
 */
import type { Broker } from '../bus/broker.js';
import type { EitherTarget, Feed } from '../bus/feed.js';
import type { Policy } from '../bus/policy.js';
import type { Delivery, Receiver } from '../bus/receiver.js';
import { parseStart, Usage } from '../protocol/args.js';
import type { Start } from '../protocol/args.js';
import { err, ok } from '../protocol/events.js';
import type { Message, Refusal, Reply } from '../protocol/events.js';
import { usageError } from '../protocol/parser.js';
import { patternProblem } from '../protocol/topic.js';
import { replyText } from '../protocol/wire.js';
import type { Admission, Connection } from '../session/connection.js';
import { Outlet } from '../session/outlet.js';
import type { OutletParts } from '../session/outlet.js';
import type { Format, ReceiveRequest } from '../transport/http.js';
import { formatGone, formatMessage } from './formats.js';
import { ResponseSink } from './response.js';
import { HTTP_STATUS } from './status.js';

export interface StreamParts extends OutletParts {
  readonly policy: Policy;
  readonly broker: Broker;
  readonly feed: Feed;
}

const TYPES: { readonly [format in Format]: string } = {
  plain: 'text/plain; charset=utf-8',
  sse: 'text/event-stream; charset=utf-8',
  json: 'application/x-ndjson; charset=utf-8',
};

/** A poll that says neither since nor last: the last 100. */
const POLL_START: Start = { kind: 'last', count: 100 };

export class WebStream implements Receiver, Connection, EitherTarget {
  readonly listener = 'http';
  readonly id: number;
  readonly remote: string;
  readonly remoteAddress: string | undefined;
  readonly user: string;
  /** Plain streams are `msg` lines, as SQLite writes them; the others are made of messages. */
  readonly takes: 'lines' | 'messages';
  /** The request is its one command: the watchdog's sign of life. */
  readonly linesIn = 1;
  readonly #format: Format;
  readonly #parts: StreamParts;
  readonly #admission: Admission;
  readonly #sink: ResponseSink;
  readonly #outlet: Outlet;
  readonly #patterns = new Set<string>();
  #liveSkipped = false;
  /** The feed is at work for it. */
  #working = false;

  constructor(id: number, request: ReceiveRequest, parts: StreamParts, admission: Admission) {
    this.id = id;
    ({ remote: this.remote, remoteAddress: this.remoteAddress, user: this.user, format: this.#format } = request);
    this.takes = request.format === 'plain' ? 'lines' : 'messages';
    this.#parts = parts;
    this.#admission = admission;
    this.#sink = new ResponseSink(request.res, TYPES[request.format]);
    this.#outlet = new Outlet(this.#sink, parts, this, { lastWords: (refusal) => this.#lastWords(refusal) });
    request.res.on('close', () => this.#onClose());
  }

  get patterns(): ReadonlySet<string> {
    return this.#patterns;
  }

  get subscriptionCount(): number {
    return this.#patterns.size;
  }

  get busy(): boolean {
    return this.#working;
  }

  get pageBytes(): number {
    return this.#outlet.pageBytes;
  }

  pendingBytes(): number {
    return this.#outlet.outbox.pendingBytes();
  }

  /** `recv <pattern> [since|last]`, or with `poll`, `replay <pattern> <since|last>`. */
  run({ pattern, start: given, poll }: ReceiveRequest): void {
    const verb = poll ? 'replay' : 'recv';
    const problem = patternProblem(pattern);
    let start: Start | undefined;
    try {
      if (problem !== undefined) throw new Usage(problem);
      start = given && parseStart(...given);
    } catch (error) {
      if (!(error instanceof Usage)) throw error;
      this.#fail(usageError(verb, error.problem));
      return;
    }
    const { policy, feed } = this.#parts;
    const denied = policy.receive(this.user, pattern);
    if (denied) this.#fail(denied);
    else if (poll) this.#work(() => feed.replay(this, pattern, start ?? POLL_START));
    else if (start) this.#work(() => feed.catchUp(this, pattern, start));
    else {
      this.subscribe(pattern);
      this.reply(ok('recv', pattern));
    }
  }

  // --- what the bus writes to it ------------------------------------------

  deliver(message: Delivery): void {
    if (this.#outlet.closing || this.#liveSkipped || !this.#parts.policy.mayRead(this.user, message.topic)) return;
    if (this.#format === 'plain') this.#outlet.pushLine(message.data, message.start, message.end, message.id);
    else {
      const text = formatMessage(this.#format, message);
      this.#outlet.push(text, Buffer.byteLength(text), message.id);
    }
  }

  reply(reply: Reply): void {
    if (reply.code !== 'ok') {
      this.#fail(reply);
      return;
    }
    this.#sink.start();
    // A poll's count, in plain text only: a browser's stream has no place
    // for it. A stream is told where the journal starts when retention took
    // some of what it asked for: in its own format.
    const gone = reply.verb === 'recv' ? reply.journalStartsAt : undefined;
    let text: string | undefined;
    if (this.#format === 'plain') text = reply.verb === 'replay' || gone !== undefined ? replyText(reply) : undefined;
    else if (gone !== undefined) text = formatGone(this.#format, gone);
    if (text !== undefined) this.#outlet.push(text, Buffer.byteLength(text), 0);
  }

  pushJournaled(pieces: readonly Buffer[], lastId: number): void {
    this.#outlet.pushPieces(pieces, lastId);
  }

  pushMessages(messages: readonly Message[]): void {
    // Plain streams take lines (pushJournaled).
    const format = this.#format as 'sse' | 'json';
    let text = '';
    for (const message of messages) text += formatMessage(format, message);
    this.#outlet.pushPage(text, Buffer.byteLength(text), (messages[messages.length - 1] as Message).id);
  }

  subscribe(pattern: string): void {
    if (this.#patterns.has(pattern)) return;
    this.#patterns.add(pattern);
    this.#parts.broker.subscribe(this, pattern);
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

  // --- for the server -------------------------------------------------------

  close(reason: string, last: Refusal): void {
    this.#outlet.leave(reason, last);
  }

  shutdown(): void {
    if (this.#outlet.closing) return;
    this.#outlet.leave('shutdown', err('shutdown', 'the server is stopping; reconnect later'));
    this.#outlet.outbox.flush();
  }

  // --- the end of the response ----------------------------------------------

  #work(task: () => Promise<void>): void {
    this.#working = true;
    task()
      .catch((error: unknown) => {
        this.#parts.logger.log('error', 'command failed', { conn: this.id, error: (error as Error).message });
        this.reply(err('internal', 'the server could not finish that command; try again'));
      })
      .finally(() => {
        this.#working = false;
        this.#maybeFinish();
      });
  }

  /** A poll, or a refused request, ends once its output is written; a stream when its client goes. */
  #maybeFinish(): void {
    if (this.#outlet.closing || this.#working || this.#patterns.size > 0) return;
    this.#outlet.finish('client closed');
  }

  /** A refusal: the response's status if nothing was written yet, else the end of the stream. */
  #fail(refusal: Refusal): void {
    if (this.#outlet.closing) return;
    const text = this.#outlet.outbox.pendingBytes() === 0 ? this.#lastWords(refusal) : this.#eventOf(refusal);
    this.#outlet.push(text, Buffer.byteLength(text), 0);
    this.#outlet.finish('client closed');
  }

  /** What ends the response: a refusal with its status, if nothing was written yet. */
  #lastWords(refusal: Refusal): string {
    if (this.#sink.started) return this.#eventOf(refusal);
    this.#sink.answer(HTTP_STATUS[refusal.code], replyText(refusal));
    return '';
  }

  /** A refusal in the stream: an event of its own, a line, or (JSON) nothing. */
  #eventOf(refusal: Refusal): string {
    if (this.#format === 'sse') return `event: ${refusal.code}\ndata: ${refusal.text}\n\n`;
    return this.#format === 'plain' ? replyText(refusal) : '';
  }

  #onClose(): void {
    this.#outlet.closed('client closed');
    for (const pattern of this.#patterns) this.#parts.broker.unsubscribe(this, pattern);
    this.#patterns.clear();
    this.#admission.closed(this, this.#outlet.closeReason as string);
  }
}
