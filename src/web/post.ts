/**
 * `POST /t/<topic>` (WEB.md) as a connection of the web door. The body is
 * read as it comes, with backpressure, framed as the line protocol frames
 * lines, and checked whole before any of it is sent: at most
 * --max-post-bytes and --max-post-lines, every line within --max-line (as
 * `send <topic> <line>` counts) and UTF-8, a topic the user may send to. A
 * body refused is answered with one `err` line, and nothing of it was
 * journaled. Its lines are then sent as the `send` handler sends them
 * (Policy, then Broker), one batch (a transaction's worth) a turn of the
 * event loop, so that a long body never holds the loop; the answer is an
 * `ok send <id>` line each (or a JSON array of the ids). Cut short (the
 * server stops, the journal fails), the answer holds the outcome of each
 * line sent, then why; the lines after them were not sent.
 */
import { BATCH_MAX } from '../bus/broker.js';
import type { Broker } from '../bus/broker.js';
import type { Policy } from '../bus/policy.js';
import type { Turn } from '../bus/turn.js';
import type { Logger } from '../log.js';
import { err, sent } from '../protocol/events.js';
import type { Refusal } from '../protocol/events.js';
import { LineFramer } from '../protocol/framing.js';
import type { Frame } from '../protocol/framing.js';
import { usageError } from '../protocol/parser.js';
import { topicProblem } from '../protocol/topic.js';
import { replyText } from '../protocol/wire.js';
import type { Admission, Connection } from '../session/connection.js';
import { GUARD_HEADERS } from '../transport/http-guard.js';
import type { PostRequest } from '../transport/http.js';
import { drained } from '../transport/tcp.js';
import { HTTP_STATUS } from './status.js';
import { yieldToLoop } from '../util/yield.js';

/** Outcomes written a turn, at most, in an answer. */
const ANSWER_SLICE = 4096;

export interface PostParts {
  readonly policy: Policy;
  readonly broker: Broker;
  readonly turn: Turn;
  readonly logger: Logger;
  /** As they are now (SIGHUP may change them). */
  readonly limits: { readonly maxLine: number; readonly maxPostBytes: number; readonly maxPostLines: number };
}

export class WebPost implements Connection {
  readonly listener = 'http';
  readonly id: number;
  readonly remote: string;
  readonly remoteAddress: string | undefined;
  readonly user: string;
  readonly patterns: ReadonlySet<string> = new Set();
  readonly subscriptionCount = 0;
  readonly #request: PostRequest;
  readonly #parts: PostParts;
  /** The body's lines, once read whole. */
  readonly #lines: string[] = [];
  /** Each line's outcome: its id, or the refusal; undefined until known. */
  readonly #results: (number | Refusal | undefined)[] = [];
  /** Lines of the batch under way still waiting for their outcome. */
  #waiting = 0;
  /** Why the post ends before all its lines are sent, once it must. */
  #cutShort: Refusal | undefined;
  /** The body was read to its end. */
  #bodyRead = false;
  #answered = false;
  #closeReason = 'client closed';

  constructor(id: number, request: PostRequest, parts: PostParts, admission: Admission) {
    this.id = id;
    ({ remote: this.remote, remoteAddress: this.remoteAddress, user: this.user } = request);
    this.#request = request;
    this.#parts = parts;
    request.res.on('close', () => {
      // A client gone is told nothing more; its lines not sent yet are not.
      this.#answered = true;
      admission.closed(this, this.#closeReason);
    });
  }

  /** Lines read so far: the watchdog's sign of life. */
  get linesIn(): number {
    return this.#lines.length;
  }

  /** Reading or sending: the watchdog leaves it be (--http-body-timeout bounds the reading). */
  get busy(): boolean {
    return !this.#answered;
  }

  pendingBytes(): number {
    return this.#request.res.writableLength;
  }

  /** Reads the body, then sends its lines; answers once each has its outcome. */
  run(): void {
    this.#read()
      .then((refusal) => {
        if (this.#answered) return;
        if (refusal !== undefined) this.#answer(refusal);
        else this.#send(0);
      })
      .catch((error: unknown) => {
        // A client that goes away mid-body is no failure of the server's.
        if (this.#answered) return;
        this.#parts.logger.log('error', 'post failed', { conn: this.id, error: (error as Error).message });
        this.#answer(err('internal', 'the server could not read that body; nothing was sent, try again'));
      });
  }

  close(reason: string, last: Refusal): void {
    if (this.#answered || this.#cutShort !== undefined) return;
    this.#closeReason = reason;
    this.#cutShort = last;
    // Lines handed to the broker are committed by the end of this turn:
    // the answer waits for their outcomes, so that it says what was journaled.
    if (this.#waiting === 0) this.#answer(last);
  }

  shutdown(): void {
    this.close('shutdown', err('shutdown', 'the server is stopping; reconnect later'));
  }

  /** The body's lines, or why it is refused; undefined too if the post ended meanwhile. */
  async #read(): Promise<Refusal | undefined> {
    const { topic, declaredBytes, body } = this.#request;
    const { policy, limits } = this.#parts;
    const problem = topicProblem(topic);
    const denied = problem === undefined ? policy.send(this.user, topic) : usageError('send', problem);
    if (denied !== undefined) return denied;
    const tooBig = err('toolong', `a body is at most ${limits.maxPostBytes} bytes (--max-post-bytes); nothing was sent; post fewer lines at a time`);
    if (declaredBytes !== undefined && declaredBytes > limits.maxPostBytes) return tooBig;
    let refusal: Refusal | undefined;
    let line = 0;
    // --max-line as the line protocol counts it: `send <topic> <line>`.
    const prefix = `send ${topic} `;
    const framer = new LineFramer(Math.max(0, limits.maxLine - Buffer.byteLength(prefix)), (frame: Frame) => {
      line++;
      refusal ??= this.#take(frame, line, prefix);
    }, () => {}, false);
    // Read step by step, never with `for await`: leaving that loop early
    // would destroy the socket before the refusal is written.
    const chunks = body[Symbol.asyncIterator]();
    let bytes = 0;
    for (let next = await chunks.next(); !next.done; next = await chunks.next()) {
      if (this.#answered || this.#cutShort !== undefined) return undefined;
      bytes += next.value.length;
      if (bytes > limits.maxPostBytes) return tooBig;
      framer.write(next.value);
      if (refusal !== undefined) return refusal;
    }
    framer.end();
    this.#bodyRead = true;
    if (refusal === undefined && this.#lines.length === 0) return err('syntax', 'the body holds no line to send; post one message a line');
    return refusal;
  }

  /** A frame of the body: its line kept, or the refusal of the body. */
  #take(frame: Frame, line: number, prefix: string): Refusal | undefined {
    const { maxLine, maxPostLines } = this.#parts.limits;
    if (frame.kind === 'toolong') return err('toolong', `line ${line} of the body is over the ${maxLine}-byte limit (--max-line, counted with '${prefix}' before it); nothing was sent; send shorter lines`);
    if (frame.kind === 'encoding') return err('encoding', `line ${line} of the body is not valid UTF-8; nothing was sent; send UTF-8 text`);
    if (frame.kind !== 'line' || frame.text === '') return undefined;
    if (this.#lines.length === maxPostLines) return err('toolong', `a body holds at most ${maxPostLines} lines (--max-post-lines); nothing was sent; post fewer lines at a time`);
    this.#lines.push(frame.text);
    return undefined;
  }

  /** Sends a batch from line `from`; the next waits for its outcomes and for the next turn. */
  #send(from: number): void {
    // Cut short between batches, the post was answered then.
    if (this.#answered) return;
    const { broker, turn } = this.#parts;
    const lines = this.#lines;
    const to = Math.min(from + BATCH_MAX, lines.length);
    let refused = false;
    this.#waiting = to - from;
    for (let index = from; index < to; index++) {
      broker.publish({
        origin: undefined,
        topic: this.#request.topic,
        sender: this.user,
        body: lines[index] as string,
        done: (result) => {
          this.#results[index] = result;
          refused ||= typeof result !== 'number';
          if (--this.#waiting > 0) return;
          if (this.#cutShort !== undefined || refused || to === lines.length) this.#answer(this.#cutShort);
          else turn.defer(() => this.#send(to));
        },
      });
    }
  }

  /**
   * The outcomes known, in order, then `last` if the post is cut short. A
   * body not read to its end is not read further: the connection closes
   * after the answer. The status is known at once; the text goes out
   * ANSWER_SLICE outcomes a turn, each slice once the last has drained, so
   * that the ids of a million lines neither hold the event loop nor wait
   * in memory for a slow reader.
   */
  #answer(last: Refusal | undefined): void {
    if (this.#answered) return;
    this.#answered = true;
    const results = this.#results;
    let known = 0;
    let refused: Refusal | undefined;
    for (let outcome = results[0]; outcome !== undefined && known < results.length; outcome = results[++known]) {
      if (refused === undefined && typeof outcome !== 'number') refused = outcome;
    }
    refused ??= last;
    const status = refused === undefined ? 200 : HTTP_STATUS[refused.code];
    // With Accept: application/json, the ids of a post that went through.
    const json = this.#request.json && refused === undefined;
    const { res } = this.#request;
    res.writeHead(status, { ...GUARD_HEADERS, 'Content-Type': json ? 'application/json' : 'text/plain; charset=utf-8', ...(this.#bodyRead ? {} : { Connection: 'close' }) });
    this.#write(known, json, last).catch(() => res.destroy());
  }

  async #write(known: number, json: boolean, last: Refusal | undefined): Promise<void> {
    const { res } = this.#request;
    const results = this.#results;
    for (let from = 0; from < known; from += ANSWER_SLICE) {
      if (from > 0) await yieldToLoop();
      const slice = results.slice(from, Math.min(from + ANSWER_SLICE, known)) as (number | Refusal)[];
      const text = json ? `${from === 0 ? '[' : ','}${slice.join(',')}` : slice.map((outcome) => replyText(typeof outcome === 'number' ? sent(outcome) : outcome)).join('');
      if (!res.write(text)) await drained(res);
      if (res.destroyed) return;
    }
    res.end(json ? (known === 0 ? '[]' : ']') : last === undefined ? '' : replyText(last));
  }
}
