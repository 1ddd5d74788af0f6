/**
 * `POST /t/<topic>` (WEB.md) as a connection of the web door: each line of
 * the body is sent as the `send` handler sends it (Policy, then Broker),
 * and the answer goes out once every line has its own, in their order: an
 * `ok send <id>` line each (or a JSON array of the ids), the status that
 * of the first refusal.
 */
import type { ServerResponse } from 'node:http';
import type { Broker } from '../bus/broker.js';
import type { Policy } from '../bus/policy.js';
import { err, sent } from '../protocol/events.js';
import type { Refusal } from '../protocol/events.js';
import { usageError } from '../protocol/parser.js';
import { topicProblem } from '../protocol/topic.js';
import { replyText } from '../protocol/wire.js';
import type { Admission, Connection } from '../session/connection.js';
import type { PostRequest } from '../transport/http.js';
import { HTTP_STATUS } from './status.js';

export interface PostParts {
  readonly policy: Policy;
  readonly broker: Broker;
  /** As they are now (SIGHUP may change them). */
  readonly limits: { readonly maxLine: number };
}

export class WebPost implements Connection {
  readonly listener = 'http';
  readonly id: number;
  readonly remote: string;
  readonly remoteAddress: string | undefined;
  readonly user: string;
  readonly patterns: ReadonlySet<string> = new Set();
  readonly subscriptionCount = 0;
  readonly linesIn: number;
  readonly #request: PostRequest;
  readonly #parts: PostParts;
  /** Each line's outcome: its id, or the refusal; undefined until known. */
  readonly #results: (number | Refusal | undefined)[];
  #waiting = 0;
  #answered = false;
  #closeReason = 'client closed';

  constructor(id: number, request: PostRequest, parts: PostParts, admission: Admission) {
    this.id = id;
    ({ remote: this.remote, remoteAddress: this.remoteAddress, user: this.user } = request);
    this.linesIn = request.lines.length;
    this.#request = request;
    this.#parts = parts;
    this.#results = new Array<number | Refusal | undefined>(request.lines.length);
    request.res.on('close', () => admission.closed(this, this.#closeReason));
  }

  /** The answer to a post refused before it was a connection (the server is full). */
  static refuse({ res }: PostRequest, refusal: Refusal): void {
    answer(res, HTTP_STATUS[refusal.code], 'text/plain; charset=utf-8', replyText(refusal));
  }

  get busy(): boolean {
    return this.#waiting > 0;
  }

  pendingBytes(): number {
    return this.#request.res.writableLength;
  }

  /** Sends every line; answers once each has its outcome. */
  run(): void {
    const { topic, lines } = this.#request;
    const { policy, broker, limits } = this.#parts;
    const problem = topicProblem(topic);
    const refusal = problem === undefined ? policy.send(this.user, topic) : usageError('send', problem);
    // --max-line as the line protocol counts it: `send <topic> <body>`.
    const overhead = Buffer.byteLength(`send ${topic} `);
    for (const [index, body] of lines.entries()) {
      if (overhead + Buffer.byteLength(body) > limits.maxLine) {
        this.#results[index] = err('toolong', `line is over the ${limits.maxLine}-byte limit and was dropped; send shorter lines`);
      } else if (refusal) {
        this.#results[index] = refusal;
      } else {
        this.#waiting++;
        broker.publish({
          origin: undefined,
          topic,
          sender: this.user,
          body,
          done: (result) => {
            this.#results[index] = result;
            if (--this.#waiting === 0) this.#answer();
          },
        });
      }
    }
    if (this.#waiting === 0) this.#answer();
  }

  close(reason: string, last: Refusal): void {
    if (this.#answered) return;
    this.#closeReason = reason;
    this.#answer(last);
  }

  shutdown(): void {
    this.close('shutdown', err('shutdown', 'the server is stopping; reconnect later'));
  }

  /** The outcomes known, in order (up to the first still unknown), and `last` if the post is cut short. */
  #answer(last?: Refusal): void {
    if (this.#answered) return;
    this.#answered = true;
    const outcomes: (number | Refusal)[] = [];
    for (const outcome of this.#results) {
      if (outcome === undefined) break;
      outcomes.push(outcome);
    }
    if (last !== undefined) outcomes.push(last);
    const refused = outcomes.find((outcome): outcome is Refusal => typeof outcome !== 'number');
    const status = refused === undefined ? 200 : HTTP_STATUS[refused.code];
    // With Accept: application/json, the ids of a post that went through.
    const json = this.#request.json && refused === undefined;
    const text = json ? JSON.stringify(outcomes) : outcomes.map((outcome) => replyText(typeof outcome === 'number' ? sent(outcome) : outcome)).join('');
    answer(this.#request.res, status, json ? 'application/json' : 'text/plain; charset=utf-8', text);
  }
}

function answer(res: ServerResponse, status: number, type: string, text: string): void {
  res.writeHead(status, { 'Content-Type': type, 'X-Content-Type-Options': 'nosniff' });
  res.end(text);
}
