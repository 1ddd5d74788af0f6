/**
 * A typed client for Node (CLI.md, "Client commands"): one connection at a
 * time, commands pipelined, deliveries to the iterators of `recv` and
 * `take`. When the connection drops (the daemon restarts: `err shutdown`,
 * then a close) it connects again, logs in, and asks every `recv` for what
 * came after the last id it saw, so nothing is lost.
 */
import { matches } from '../protocol/topic.js';
import { Connection } from './connection.js';
import { endpoint } from './endpoint.js';
import type { ConnectOptions, Endpoint } from './endpoint.js';
import { LinebusError } from './errors.js';
import { startWords, Stream } from './stream.js';
import type { Job, Message, RecvOptions, StreamHooks, TakeOptions } from './stream.js';

const RETRY_MAX_MS = 10_000;

export class Client {
  readonly #endpoint: Endpoint;
  readonly #retryMs: number;
  readonly #timeoutMs: number;
  #connection: Connection | undefined;
  readonly #streams = new Set<Stream<unknown>>();
  #closed = false;
  /** Dropped, and connecting again: a stream started now waits for it. */
  #reconnecting = false;
  /** The next try; it keeps the process alive while a stream waits. */
  #retry: NodeJS.Timeout | undefined;
  readonly #hooks: StreamHooks = {
    start: (stream) => {
      this.#streams.add(stream);
      // Not connected now: the reconnect under way sends it.
      if (this.#connection?.open && !this.#closed) this.#send(stream);
      else if (this.#closed || !this.#reconnecting) stream.fail(new LinebusError('closed', 'not connected to the server'));
    },
    stop: (stream) => void this.#streams.delete(stream),
  };

  private constructor(options: ConnectOptions) {
    this.#endpoint = endpoint(options);
    this.#retryMs = options.retryMs ?? 200;
    this.#timeoutMs = options.connectTimeoutMs ?? 10_000;
  }

  /** Connects and logs in; rejects with the server's refusal or the socket's error. */
  static async connect(options: ConnectOptions = {}): Promise<Client> {
    const client = new Client(options);
    await client.#open();
    return client;
  }

  async #open(): Promise<void> {
    const connection = await Connection.open(
      this.#endpoint,
      { onDelivery: (kind, message) => this.#deliver(kind, message), onClose: (closed) => this.#dropped(closed) },
      this.#timeoutMs,
    );
    if (this.#closed) return void (await connection.close());
    this.#connection = connection;
    for (const stream of this.#streams) this.#send(stream);
  }

  #send(stream: Stream<unknown>): void {
    this.#command(stream.command(stream.last)).catch((error: Error) => {
      // A refusal ends the stream; a lost connection is the reconnect's.
      if (!(error instanceof LinebusError && error.code === 'closed')) stream.fail(error);
    });
  }

  #dropped(connection: Connection): void {
    if (connection !== this.#connection) return;
    this.#connection = undefined;
    if (this.#closed || this.#streams.size === 0 || this.#retryMs === -1) {
      const gone = new LinebusError('closed', 'the connection to the server was lost');
      for (const stream of this.#streams) stream.fail(gone);
      return;
    }
    this.#reconnecting = true;
    this.#reconnect(this.#retryMs);
  }

  #reconnect(delay: number): void {
    this.#retry = setTimeout(() => {
      this.#retry = undefined;
      if (this.#closed) return;
      this.#open().then(
        () => void (this.#reconnecting = false),
        () => this.#reconnect(Math.min(delay * 2, RETRY_MAX_MS)),
      );
    }, delay);
  }

  #deliver(kind: 'msg' | 'job', message: Message): void {
    for (const stream of this.#streams) {
      if (stream.kind !== kind || !matches(stream.pattern, message.topic)) continue;
      // A message seen before a reconnect comes again: once is enough. A job may come again.
      if (kind === 'msg' && message.id <= stream.last) continue;
      stream.last = Math.max(stream.last, message.id);
      stream.push(message);
    }
  }

  #command(line: string): Promise<string> {
    const connection = this.#closed ? undefined : this.#connection;
    return connection?.command(line) ?? Promise.reject(new LinebusError('closed', 'not connected to the server'));
  }

  /** Resolves to the message's journal id once it is journaled. */
  async send(topic: string, body: string): Promise<number> {
    checkTopic(topic);
    return Number((await this.#command(`send ${topic} ${body}`)).slice('ok send '.length));
  }

  /** Asks, and resolves to the first answer; rejects with code `timeout`. */
  async request(topic: string, body: string, options: { within?: string } = {}): Promise<{ id: number; responder: string; answer: string }> {
    checkTopic(topic);
    const reply = await this.#command(`request ${topic}${options.within ? ` within ${options.within}` : ''} ${body}`);
    const [, , id = '0', responder = ''] = reply.split(' ', 4);
    return { id: Number(id), responder, answer: reply.slice(`ok request ${id} ${responder} `.length) };
  }

  async reply(id: number, answer: string): Promise<void> {
    await this.#command(`reply ${id} ${answer}`);
  }

  async mark(cursor: string, id: number): Promise<void> {
    await this.#command(`mark ${cursor} ${id}`);
  }

  /** Messages of `pattern`, catch-up first, then live, across reconnects. */
  recv(pattern: string, options: RecvOptions = {}): AsyncIterable<Message> {
    const as = options.as ? ` as ${options.as}` : '';
    // A cursor resumes from its mark; a plain recv from the last id seen.
    const command = (last: number): string => `recv ${pattern}${as}${last > 0 && !options.as ? ` since ${last}` : startWords(options)}`;
    return new Stream<Message>('msg', pattern, command, (message) => message, this.#hooks);
  }

  /**
   * Jobs of a queue group; each must be acked or nacked. `since` or `last`
   * is where a new group starts (by default, at new messages).
   */
  take(pattern: string, options: TakeOptions): AsyncIterable<Job> {
    const extra = `${startWords(options)}${options.max ? ` max ${options.max}` : ''}${options.wait ? ` wait ${options.wait}` : ''}`;
    return new Stream<Job>('job', pattern, () => `take ${pattern} as ${options.as}${extra}`, (message) => ({
      ...message,
      ack: async () => void (await this.#command(`ack ${message.id}`)),
      nack: async (delay?: string) => void (await this.#command(`nack ${message.id}${delay ? ` ${delay}` : ''}`)),
    }), this.#hooks);
  }

  /** Logs off and closes; a reconnect under way is called off. */
  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#retry);
    this.#retry = undefined;
    await this.#connection?.close();
  }
}

/**
 * A topic is one word: with a blank in it, the rest would silently become
 * the start of the message (`send orders new x` sends `new x` to orders).
 */
function checkTopic(topic: string): void {
  if (/[\s\p{Cc}]/u.test(topic)) throw new LinebusError('syntax', `a topic has no blanks or control characters: '${topic.replace(/\p{Cc}/gu, '?')}'; use dots between its words`);
}

/** `import { connect } from 'linebus'`. */
export function connect(options: ConnectOptions = {}): Promise<Client> {
  return Client.connect(options);
}
