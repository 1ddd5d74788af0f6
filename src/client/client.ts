/**
 * A typed client for Node (CLI.md, "Client commands"): one connection,
 * commands pipelined (each reply answers the oldest command waiting, as
 * the protocol orders them), deliveries to the iterators of `recv` and
 * `take`. When the connection drops it connects again, logs in, and asks
 * every `recv` for what came after the last id it saw, so nothing is lost.
 */
import { connect as connectTcp } from 'node:net';
import type { Socket } from 'node:net';
import { connect as connectTls } from 'node:tls';
import type { ConnectionOptions as TlsOptions } from 'node:tls';
import { matches } from '../protocol/topic.js';
import { LineReader } from './lines.js';

export interface ConnectOptions {
  host?: string;
  port?: number;
  user?: string;
  password?: string;
  /** TLS, with node:tls options (a `ca`, say) or just `true`. */
  tls?: boolean | TlsOptions;
  /** `linebus://user:password@host:port`, or `linebuss://` for TLS. */
  url?: string;
  /** Connect again after a drop (default true); waits this long first, doubling to 10 s. */
  retryMs?: number;
}

/** A `msg` line. */
export interface Message {
  readonly topic: string;
  readonly id: number;
  readonly sender: string;
  readonly body: string;
}

/** A `job` line of a queue group. */
export interface Job extends Message {
  /** Done: the group never gives it out again. */
  ack(): Promise<void>;
  /** Give it back, at once or after `delay` (`30s`, `5m`). */
  nack(delay?: string): Promise<void>;
}

export interface RecvOptions {
  /** An id, a duration (`15m`) or a time, as `recv ... since` takes them. */
  since?: number | string;
  last?: number;
  /** A durable cursor: the server keeps the place; `mark()` it. */
  as?: string;
}

/** An `err` reply, with the protocol's code (`denied`, `timeout`, ...). */
export class LinebusError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'LinebusError';
  }

  static fromLine(line: string): LinebusError {
    const [, code = 'internal'] = line.split(' ', 2);
    return new LinebusError(code, line.slice(5 + code.length));
  }
}

interface Waiting {
  resolve(line: string): void;
  reject(error: Error): void;
}

/** A `recv` or `take` kept across reconnects. */
interface Stream {
  readonly kind: 'msg' | 'job';
  readonly pattern: string;
  readonly command: (last: number) => string;
  last: number;
  push(message: Message): void;
  fail(error: Error): void;
}

function parseUrl(url: string): ConnectOptions {
  const parsed = new URL(url);
  if (parsed.protocol !== 'linebus:' && parsed.protocol !== 'linebuss:') throw new LinebusError('syntax', `${url}: use linebus://user:password@host:port (linebuss:// for TLS)`);
  return {
    host: parsed.hostname || undefined,
    port: parsed.port ? Number(parsed.port) : undefined,
    user: parsed.username ? decodeURIComponent(parsed.username) : undefined,
    password: parsed.password ? decodeURIComponent(parsed.password) : undefined,
    tls: parsed.protocol === 'linebuss:' ? true : undefined,
  } as ConnectOptions;
}

function fields(line: string): Message {
  const [, topic = '', id = '0', sender = ''] = line.split(' ', 4);
  return { topic, id: Number(id), sender, body: line.slice(5 + topic.length + id.length + sender.length + 2) };
}

export class Client {
  readonly #options: ConnectOptions;
  #socket: Socket | undefined;
  #waiting: Waiting[] = [];
  readonly #streams = new Set<Stream>();
  #closed = false;
  #connected: Promise<void> | undefined;
  /** The socket logged in; a drop before that is #open's to retry. */
  #ready = false;

  private constructor(options: ConnectOptions) {
    this.#options = options.url ? { ...options, ...parseUrl(options.url) } : options;
  }

  /** Connects and logs in; rejects with the server's refusal or the socket's error. */
  static async connect(options: ConnectOptions = {}): Promise<Client> {
    const client = new Client(options);
    await client.#open();
    return client;
  }

  #open(): Promise<void> {
    const { host = '127.0.0.1', port = 7667, tls } = this.#options;
    const socket = tls ? connectTls({ host, port, servername: host, ...(tls === true ? {} : tls) }) : connectTcp(port, host);
    this.#socket = socket;
    this.#ready = false;
    const reader = new LineReader((line) => this.#line(line));
    socket.on('data', (chunk: Buffer) => reader.push(chunk));
    const opened = new Promise<void>((resolve, reject) => {
      socket.once(tls ? 'secureConnect' : 'connect', () => resolve());
      socket.once('error', reject);
    });
    socket.on('error', () => {});
    socket.on('close', () => this.#dropped(socket));
    // The greeting is the first line: a reply to nothing.
    const greeted = new Promise<string>((resolve, reject) => this.#waiting.push({ resolve, reject }));
    // Awaited below unless the connection fails first.
    greeted.catch(() => {});
    const user = this.#options.user ?? process.env.USER ?? 'linebus';
    this.#connected = (async () => {
      await opened;
      await greeted;
      await this.#command(`login ${user} ${this.#options.password ?? '-'}`);
      this.#ready = true;
      for (const stream of this.#streams) this.#command(stream.command(stream.last)).catch((error: Error) => stream.fail(error));
    })();
    return this.#connected;
  }

  #dropped(socket: Socket): void {
    if (socket !== this.#socket) return;
    const waiting = this.#waiting;
    this.#waiting = [];
    const gone = new LinebusError('closed', 'the connection to the server was lost');
    for (const w of waiting) w.reject(gone);
    if (!this.#ready) return;
    if (this.#closed || this.#streams.size === 0 || this.#options.retryMs === -1) {
      for (const stream of this.#streams) stream.fail(gone);
      return;
    }
    this.#reconnect(this.#options.retryMs ?? 200);
  }

  #reconnect(delay: number): void {
    setTimeout(() => {
      if (this.#closed) return;
      this.#open().catch(() => this.#reconnect(Math.min(delay * 2, 10_000)));
    }, delay).unref();
  }

  #line(line: string): void {
    if (line.startsWith('msg ') || line.startsWith('job ')) {
      const message = fields(line);
      for (const stream of this.#streams) {
        if (stream.kind !== line.slice(0, 3) || !matches(stream.pattern, message.topic)) continue;
        // A message seen before a reconnect comes again: once is enough. A job may come again.
        if (stream.kind === 'msg' && message.id <= stream.last) continue;
        stream.last = Math.max(stream.last, message.id);
        stream.push(message);
      }
      return;
    }
    const waiting = this.#waiting.shift();
    if (line.startsWith('err ')) waiting?.reject(LinebusError.fromLine(line));
    else waiting?.resolve(line);
  }

  /** Sends one command line; resolves to its reply. */
  #command(line: string): Promise<string> {
    return new Promise((resolve, reject) => {
      const socket = this.#socket;
      if (socket === undefined || socket.destroyed) return reject(new LinebusError('closed', 'not connected to the server'));
      this.#waiting.push({ resolve, reject });
      socket.write(`${line}\n`);
    });
  }

  /** Resolves to the message's journal id once it is journaled. */
  async send(topic: string, body: string): Promise<number> {
    return Number((await this.#command(`send ${topic} ${body}`)).slice('ok send '.length));
  }

  /** Asks, and resolves to the first answer; rejects with code `timeout`. */
  async request(topic: string, body: string, options: { within?: string } = {}): Promise<{ id: number; responder: string; answer: string }> {
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
    const start = options.since !== undefined ? ` since ${options.since}` : options.last !== undefined ? ` last ${options.last}` : '';
    const as = options.as ? ` as ${options.as}` : '';
    // A cursor resumes from its mark; a plain recv from the last id seen.
    return this.#stream<Message>('msg', pattern, (last) => `recv ${pattern}${as}${last > 0 && !options.as ? ` since ${last}` : start}`, (message) => message);
  }

  /** Jobs of a queue group; each must be acked or nacked. */
  take(pattern: string, options: { as: string; max?: number; wait?: string }): AsyncIterable<Job> {
    const extra = `${options.max ? ` max ${options.max}` : ''}${options.wait ? ` wait ${options.wait}` : ''}`;
    return this.#stream<Job>('job', pattern, () => `take ${pattern} as ${options.as}${extra}`, (message) => ({
      ...message,
      ack: async () => void (await this.#command(`ack ${message.id}`)),
      nack: async (delay?: string) => void (await this.#command(`nack ${message.id}${delay ? ` ${delay}` : ''}`)),
    }));
  }

  #stream<T>(kind: 'msg' | 'job', pattern: string, command: (last: number) => string, make: (message: Message) => T): AsyncIterable<T> {
    const queue: T[] = [];
    let wake: (() => void) | undefined;
    let failure: Error | undefined;
    const stream: Stream = {
      kind,
      pattern,
      command,
      last: 0,
      push: (message) => {
        queue.push(make(message));
        wake?.();
      },
      fail: (error) => {
        failure = error;
        wake?.();
      },
    };
    return {
      [Symbol.asyncIterator]: () => {
        this.#streams.add(stream);
        const started = this.#connected?.then(() => this.#command(command(0))).catch((error: Error) => stream.fail(error));
        return {
          next: async (): Promise<IteratorResult<T>> => {
            await started;
            while (queue.length === 0 && failure === undefined) await new Promise<void>((resolve) => (wake = resolve));
            if (queue.length > 0) return { value: queue.shift() as T, done: false };
            this.#streams.delete(stream);
            throw failure;
          },
          return: async (): Promise<IteratorResult<T>> => {
            this.#streams.delete(stream);
            return { value: undefined, done: true };
          },
        };
      },
    };
  }

  /** Logs off and closes. */
  async close(): Promise<void> {
    this.#closed = true;
    const socket = this.#socket;
    if (socket === undefined || socket.destroyed) return;
    await this.#command('logoff').catch(() => {});
    socket.end();
  }
}

/** `import { connect } from 'linebus'`. */
export function connect(options: ConnectOptions = {}): Promise<Client> {
  return Client.connect(options);
}
