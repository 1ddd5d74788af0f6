/**
 * One connection to a linebus daemon: the socket, its lines, the handshake
 * (greeting, login) and the replies of pipelined commands, each to the
 * oldest command waiting, as the protocol answers in order. Deliveries
 * (`msg`, `job` lines) go to `onDelivery`.
 */
import { connect as connectTcp } from 'node:net';
import type { Socket } from 'node:net';
import { connect as connectTls } from 'node:tls';
import type { Endpoint } from './endpoint.js';
import { LinebusError } from './errors.js';
import { LineReader } from './lines.js';
import type { Message } from './stream.js';

export interface ConnectionEvents {
  onDelivery(kind: 'msg' | 'job', message: Message): void;
  /** The connection is gone (after it was open). */
  onClose(connection: Connection): void;
}

interface Waiting {
  resolve(line: string): void;
  reject(error: Error): void;
}

/** A line as far as a message may quote it: short, controls made visible. */
function quote(line: string): string {
  const shown = JSON.stringify(line.length > 60 ? `${line.slice(0, 60)}...` : line);
  return shown.slice(1, -1);
}

/** A `msg` or `job` line's fields, and the time a `@ts=<ms> ` before it gives. */
function fields(line: string, ts: number | undefined): Message {
  const [, topic = '', id = '0', sender = ''] = line.split(' ', 4);
  const body = line.slice(5 + topic.length + id.length + sender.length + 2);
  return ts === undefined ? { topic, id: Number(id), sender, body } : { topic, id: Number(id), sender, body, ts };
}

/** `@ts=<ms> ` at the start of a line (`tags ts`): the time and where the line itself starts. */
const UNSTAMPED = { ts: undefined, at: 0 } as const;
const LINE_BREAK = 'a message or argument cannot hold a line break or end with a carriage return; send each message as one line (linebus send reads several from stdin, one per line)';

function stamp(line: string): { ts: number | undefined; at: number } {
  if (!line.startsWith('@ts=')) return UNSTAMPED;
  const space = line.indexOf(' ');
  return space === -1 ? UNSTAMPED : { ts: Number(line.slice(4, space)), at: space + 1 };
}

export class Connection {
  readonly #socket: Socket;
  readonly #events: ConnectionEvents;
  #waiting: Waiting[] = [];
  /** The socket's error, if any: it says more than the close that follows. */
  #error: Error | undefined;
  /** Lines read so far: none before a close means no greeting came. */
  #lines = 0;

  private constructor(socket: Socket, events: ConnectionEvents) {
    this.#socket = socket;
    this.#events = events;
    const reader = new LineReader((line) => this.#line(line));
    socket.on('data', (chunk: Buffer) => reader.push(chunk));
    socket.on('error', (error) => (this.#error ??= error));
    socket.on('close', () => this.#closed());
  }

  /**
   * Connects, checks the greeting and logs in. Rejects with the socket's
   * error (ECONNREFUSED, a certificate the CA does not sign), a
   * LinebusError from the server (`auth`, `busy`), or a LinebusError
   * `closed` saying what came instead of a linebus server.
   */
  static async open(endpoint: Endpoint, events: ConnectionEvents, timeoutMs: number): Promise<Connection> {
    const { host, port, tls } = endpoint;
    const socket = tls ? connectTls({ host, port, ...tls }) : connectTcp(port, host);
    const connection = new Connection(socket, events);
    const greeted = connection.#reply();
    const ponged = connection.#reply();
    const opened = new Promise<void>((resolve, reject) => {
      socket.once(tls ? 'secureConnect' : 'connect', () => {
        // Sent at once, without waiting for the greeting: a linebus server
        // answers `pong`; a server of another protocol answers or hangs up
        // at once (a TLS server reads it as a broken handshake) instead of
        // both sides waiting for the other to speak.
        socket.write('ping linebus\n');
        resolve();
      });
      socket.once('close', () => reject(connection.#error ?? new LinebusError('closed', `${endpoint.where} closed the connection`)));
    });
    // Each is awaited below, unless one before it fails first.
    for (const step of [opened, greeted, ponged]) step.catch(() => {});
    const timer = setTimeout(() => socket.destroy(new LinebusError('closed', `no greeting from ${endpoint.where} within ${timeoutMs / 1000}s; is it a linebus port?`)), timeoutMs);
    try {
      await opened;
      // A first line that is an `err` (`busy`) is the server's answer.
      const greeting = await greeted.catch((error: Error) => {
        throw connection.#lines > 0 ? error : connection.#noGreeting(endpoint);
      });
      if (!greeting.startsWith('hello linebus')) throw new LinebusError('closed', `${endpoint.where} is not a linebus server: it said '${quote(greeting)}'`);
      await ponged;
    } catch (error) {
      socket.destroy();
      throw error;
    } finally {
      clearTimeout(timer);
    }
    const login = connection.command(`login ${endpoint.user} ${endpoint.password || '-'}`);
    // Sent with the login, not after its answer (no round trip more); a
    // server before `tags` answers err syntax: its lines come without a time.
    const tagged = endpoint.stamped ? connection.command('tags ts').catch(() => {}) : undefined;
    await login.catch((error: Error) => {
      socket.destroy();
      throw error;
    });
    await tagged;
    return connection;
  }

  /** Why a connection closed before its first line. */
  #noGreeting(endpoint: Endpoint): Error {
    // Our own timeout, or a TLS alert (the server wants a client certificate, say).
    if (this.#error instanceof LinebusError || (endpoint.tls && this.#error)) return this.#error;
    return new LinebusError('closed', `${endpoint.where} closed the connection without a greeting; is this a TLS port? connect with TLS (linebuss://, --tls)`);
  }

  get open(): boolean {
    return !this.#socket.destroyed;
  }

  /** The next reply line, whatever command (or none: the greeting) it answers. */
  #reply(): Promise<string> {
    return new Promise((resolve, reject) => this.#waiting.push({ resolve, reject }));
  }

  #line(line: string): void {
    this.#lines++;
    const { ts, at } = stamp(line);
    if (line.startsWith('msg ', at) || line.startsWith('job ', at)) {
      this.#events.onDelivery(line.startsWith('msg ', at) ? 'msg' : 'job', fields(at === 0 ? line : line.slice(at), ts));
      return;
    }
    const waiting = this.#waiting.shift();
    if (line.startsWith('err ')) waiting?.reject(LinebusError.fromLine(line));
    else waiting?.resolve(line);
  }

  #closed(): void {
    const waiting = this.#waiting;
    this.#waiting = [];
    const gone = this.#error instanceof LinebusError ? this.#error : new LinebusError('closed', 'the connection to the server was lost');
    for (const w of waiting) w.reject(gone);
    this.#events.onClose(this);
  }

  /**
   * Sends one command line; resolves to its reply, rejects with its `err`.
   * A line feed in it would end the line early and make the rest a command
   * of its own (a message `x\nsend payments ...` from a script's input):
   * such a line is refused here, and nothing is sent.
   */
  command(line: string): Promise<string> {
    if (this.#socket.destroyed) return Promise.reject(new LinebusError('closed', 'not connected to the server'));
    // A CR at the end would be taken for the CR of a CR LF, and dropped.
    if (line.includes('\n') || line.endsWith('\r')) return Promise.reject(new LinebusError('syntax', LINE_BREAK));
    const reply = this.#reply();
    this.#socket.write(`${line}\n`);
    return reply;
  }

  /** Logs off and closes. */
  async close(): Promise<void> {
    if (this.#socket.destroyed) return;
    await this.command('logoff').catch(() => {});
    this.#socket.end();
  }
}
