/**
 * A NATS connection of the cluster's own for its hot paths: sends
 * published (HPUB), their PubAcks and the copy's deliveries, framed by
 * nats-frames.ts. nats.js spends about three times the CPU per message on
 * these (its parser, its header objects, its delivery info), and the
 * daemon shares its core with nats-server. Everything else (streams,
 * consumers, buckets, requests) stays on nats.js's connection.
 *
 * It connects to the same URLs as nats.js, in turn, with their user and
 * password (or token) and TLS for tls:// or a server that requires it;
 * keeps alive with PING, and reconnects for ever until close(), each
 * time subscribing again to what was subscribed.
 */
import { connect as tcpConnect } from 'node:net';
import type { Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { isIP } from 'node:net';
import type { Logger } from '../log.js';
import { connect, FrameParser, FrameWriter, PING, PONG, sub, unsub } from './nats-frames.js';
import type { MsgFrame, ServerInfo } from './nats-frames.js';

/** How long one attempt may take, from the TCP connect to the PONG of the first PING. */
const HANDSHAKE_MS = 5000;
/** The wait before the same URL is tried again. */
const RETRY_SAME_URL_MS = 1000;
/** A PING this often; a connection with two unanswered is taken for dead. */
const PING_INTERVAL_MS = 20_000;
const MAX_PINGS_OUT = 2;
/** NATS's default max_payload, until the server's INFO says. */
const DEFAULT_MAX_PAYLOAD = 1024 * 1024;

export type MsgCallback = (frame: MsgFrame) => void;

export interface NatsSocketOptions {
  readonly urls: readonly string[];
  /** The connection's name, for the server's monitoring. */
  readonly name: string;
  readonly version: string;
  readonly logger: Logger;
  /** How often to PING (default 20 s); two unanswered and the connection is taken for dead. */
  readonly pingIntervalMs?: number;
  /** Connected (again): the subscriptions are in place. */
  readonly onConnected?: (server: string) => void;
  /** The connection went; what was written and not answered may be lost. */
  readonly onDisconnected?: (server: string) => void;
}

interface Target {
  readonly url: string;
  readonly host: string;
  readonly port: number;
  readonly tls: boolean;
  readonly user?: string;
  readonly pass?: string;
  readonly token?: string;
}

/** A URL of parseClusterUrls's form, as the socket dials it; user alone is a token, as for nats.js. */
export function targetOf(url: string): Target {
  const parsed = new URL(url);
  const user = decodeURIComponent(parsed.username);
  const pass = decodeURIComponent(parsed.password);
  const credentials = user === '' ? {} : pass === '' ? { token: user } : { user, pass };
  const host = parsed.hostname.replace(/^\[(.*)\]$/, '$1');
  return { url: `${parsed.protocol}//${parsed.host}`, host, port: Number(parsed.port || 4222), tls: parsed.protocol === 'tls:', ...credentials };
}

export class NatsSocket {
  readonly #options: NatsSocketOptions;
  readonly #targets: Target[];
  /** When each target was last tried (ms). */
  readonly #tried: number[];
  #turn = -1;
  readonly #subscriptions = new Map<number, { subject: string; callback: MsgCallback }>();
  #nextSid = 0;
  #socket: Socket | undefined;
  #server = '';
  #connected = false;
  #closed = false;
  #maxPayload = DEFAULT_MAX_PAYLOAD;
  /** Frames written in this turn, sent together at its end. */
  readonly #out = new FrameWriter();
  #flushing = false;
  #pingTimer: NodeJS.Timeout | undefined;
  #retryTimer: NodeJS.Timeout | undefined;
  #pingsOut = 0;
  /** Attempts that failed since the last connection. */
  #failures = 0;
  /** Who waits for the connection. */
  #waiting: (() => void)[] = [];

  constructor(options: NatsSocketOptions) {
    this.#options = options;
    this.#targets = options.urls.map(targetOf);
    this.#tried = this.#targets.map(() => 0);
  }

  get connected(): boolean {
    return this.#connected;
  }

  /** The URL connected to, without credentials ('' when none). */
  get server(): string {
    return this.#connected ? this.#server : '';
  }

  /** The largest message the server takes, from its INFO. */
  get maxPayload(): number {
    return this.#maxPayload;
  }

  /** Resolves once connected (at once if it is). */
  connection(): Promise<void> {
    if (this.#connected) return Promise.resolve();
    return new Promise((resolve) => this.#waiting.push(resolve));
  }

  /** Starts connecting, and reconnecting whenever the connection goes. */
  start(): void {
    this.#attempt();
  }

  /** Messages on `subject` go to `callback` from now on, across reconnects; returns the subscription's id. */
  subscribe(subject: string, callback: MsgCallback): number {
    const sid = ++this.#nextSid;
    this.#subscriptions.set(sid, { subject, callback });
    if (this.#connected) this.write(sub(subject, sid));
    return sid;
  }

  unsubscribe(sid: number): void {
    if (this.#subscriptions.delete(sid) && this.#connected) this.write(unsub(sid));
  }

  /** Queues a frame (of nats-frames.ts) for the end of this turn; false, and nothing queued, while not connected. */
  write(frame: string): boolean {
    if (!this.#connected) return false;
    this.#out.text(frame);
    this.#flushSoon();
    return true;
  }

  /** Queues an HPUB (FrameWriter.hpub) for the end of this turn; false, and nothing queued, while not connected. */
  hpub(subject: string, reply: string, fields: readonly string[], body: string, bodySize?: number): boolean {
    if (!this.#connected) return false;
    this.#out.hpub(subject, reply, fields, body, bodySize);
    this.#flushSoon();
    return true;
  }

  close(): void {
    this.#closed = true;
    clearTimeout(this.#retryTimer);
    this.#drop();
  }

  #flushSoon(): void {
    if (this.#flushing) return;
    this.#flushing = true;
    process.nextTick(() => this.#flush());
  }

  #flush(): void {
    this.#flushing = false;
    const out = this.#out.take();
    if (out.length > 0 && this.#connected) this.#socket?.write(out);
  }

  /** Dials the next target, waiting if it was tried less than a second ago. */
  #attempt(): void {
    if (this.#closed) return;
    this.#turn = (this.#turn + 1) % this.#targets.length;
    const index = this.#turn;
    const target = this.#targets[index] as Target;
    const wait = Math.max(0, (this.#tried[index] as number) + RETRY_SAME_URL_MS - Date.now());
    this.#retryTimer = setTimeout(() => {
      this.#tried[index] = Date.now();
      this.#dial(target);
    }, wait);
    this.#retryTimer.unref();
  }

  #dial(target: Target): void {
    if (this.#closed) return;
    let socket: Socket = tcpConnect({ host: target.host, port: target.port });
    socket.setNoDelay(true);
    this.#socket = socket;
    let greeted = false;
    const handshake = setTimeout(() => fail('no answer to the handshake'), HANDSHAKE_MS);
    handshake.unref();
    const fail = (why: string): void => {
      clearTimeout(handshake);
      if (this.#socket !== socket) return;
      const wasConnected = this.#connected;
      this.#drop();
      // The first attempt that fails in a row is worth a warning (a certificate refused says so nowhere else); the retries are not.
      const level = wasConnected || this.#failures++ > 0 ? 'debug' : 'warn';
      this.#options.logger.log(level, `cluster: NATS connection for sends ${wasConnected ? 'lost' : 'failed'} at ${target.url}: ${why}`);
      if (wasConnected) this.#options.onDisconnected?.(target.url);
      this.#attempt();
    };
    const parser = new FrameParser({
      info: (info) => {
        if (greeted) return;
        greeted = true;
        this.#maxPayload = info.max_payload ?? DEFAULT_MAX_PAYLOAD;
        if (target.tls || info.tls_required === true) socket = this.#upgrade(socket, target, fail, onData);
        this.#greet(socket, target, info);
      },
      msg: (frame) => this.#subscriptions.get(frame.sid)?.callback(frame),
      ping: () => socket.write(PONG),
      pong: () => {
        this.#pingsOut = 0;
        if (this.#connected || !greeted) return;
        clearTimeout(handshake);
        this.#connected = true;
        this.#failures = 0;
        this.#server = target.url;
        this.#keepAlive();
        this.#options.logger.log('debug', `cluster: NATS connection for sends up at ${target.url}`);
        this.#options.onConnected?.(target.url);
        const waiting = this.#waiting;
        this.#waiting = [];
        for (const resolve of waiting) resolve();
      },
      err: (message) => {
        this.#options.logger.log('warn', `cluster: NATS server ${target.url} said: ${message}`);
        // Only a few errors leave the connection open (a permission refused); the server closes it after the others.
        if (!this.#connected) fail(message);
      },
    });
    const onData = (chunk: Buffer): void => {
      try {
        parser.push(chunk);
      } catch (error) {
        fail(`not the NATS protocol: ${(error as Error).message}`);
      }
    };
    socket.on('data', onData);
    socket.on('error', (error) => fail(error.message));
    socket.on('close', () => fail('closed'));
  }

  /** TLS over the connection that brought the INFO, as NATS does it. */
  #upgrade(plain: Socket, target: Target, fail: (why: string) => void, onData: (chunk: Buffer) => void): Socket {
    plain.removeAllListeners('data');
    // host: what the certificate must name (an IP too); servername (SNI) only for a name.
    const secure = tlsConnect({ socket: plain, host: target.host, ...(isIP(target.host) === 0 ? { servername: target.host } : {}) });
    this.#socket = secure;
    secure.on('data', onData);
    secure.on('error', (error) => fail(error.message));
    secure.on('close', () => fail('closed'));
    return secure;
  }

  /** CONNECT, the subscriptions, and a PING whose PONG says it all took. */
  #greet(socket: Socket, target: Target, info: ServerInfo): void {
    let hello = connect({ name: this.#options.name, version: this.#options.version, tls: target.tls || info.tls_required === true, ...credentialsOf(target) });
    for (const [sid, { subject }] of this.#subscriptions) hello += sub(subject, sid);
    socket.write(hello + PING);
  }

  #keepAlive(): void {
    this.#pingsOut = 0;
    this.#pingTimer = setInterval(() => {
      if (this.#pingsOut >= MAX_PINGS_OUT) {
        this.#socket?.destroy(new Error(`${MAX_PINGS_OUT} PINGs unanswered`));
        return;
      }
      this.#pingsOut++;
      this.#socket?.write(PING);
    }, this.#options.pingIntervalMs ?? PING_INTERVAL_MS);
    this.#pingTimer.unref();
  }

  /** Forgets the connection, and what was queued for it. */
  #drop(): void {
    clearInterval(this.#pingTimer);
    const socket = this.#socket;
    this.#socket = undefined;
    this.#connected = false;
    this.#out.clear();
    socket?.destroy();
  }
}

function credentialsOf(target: Target): { user?: string; pass?: string; token?: string } {
  if (target.token !== undefined) return { token: target.token };
  if (target.user !== undefined) return { user: target.user, pass: target.pass ?? '' };
  return {};
}
