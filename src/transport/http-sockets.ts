/**
 * The web listener's sockets. Each takes its place among the daemon's
 * connections when it is accepted; over the limit, a plain HTTP one gets
 * the refusal for whatever it asks and is closed, an HTTPS one is closed
 * before its handshake (a full daemon spends none on it). Node's timeouts
 * follow the limits as they are at each accept: a request's headers within
 * --login-timeout of the connection or of the last answer, all of it
 * within --http-body-timeout. A connection has one request of /t/ under
 * way at a time.
 */
import { maxHeaderSize } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Refusal } from '../protocol/events.js';
import { replyLine } from '../protocol/wire.js';
import { HttpError, rawRefusal } from './http-guard.js';
import type { Seats } from './link.js';
import { seat } from './tcp.js';

/** The limits the timeouts come from, in seconds, as they are now. */
export interface SocketLimits {
  readonly loginTimeout: number;
  readonly httpBodyTimeout: number;
}

/** How often Node looks for requests past their time. */
const TIMEOUT_CHECK_MS = 1000;
/** How long a socket refused for a full server has to read why. */
const REFUSED_GRACE_MS = 2000;

/** Node's timeouts, in ms; a request's whole time is never less than its headers'. */
export function timeouts({ loginTimeout, httpBodyTimeout }: SocketLimits): { headersTimeout: number; requestTimeout: number; keepAliveTimeout: number; connectionsCheckingInterval: number } {
  const headers = loginTimeout * 1000;
  return { headersTimeout: headers, keepAliveTimeout: headers, requestTimeout: Math.max(headers, httpBodyTimeout * 1000), connectionsCheckingInterval: TIMEOUT_CHECK_MS };
}

/** The answer to a request Node's parser refused, by its error code. */
export function unreadableAnswer(code: string | undefined, { loginTimeout, httpBodyTimeout }: SocketLimits): [status: number, line: string] {
  switch (code) {
    case 'HPE_HEADER_OVERFLOW':
      return [431, `the request's headers are over ${maxHeaderSize} bytes: send fewer or shorter ones`];
    case 'HPE_CHUNK_EXTENSIONS_OVERFLOW':
      return [413, 'the chunk extensions of the body are too long: send the body without them'];
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return [408, `the request did not arrive whole in time (its headers within ${loginTimeout} s, all of it within ${httpBodyTimeout} s): send it at once`];
    default:
      return [400, `not an HTTP/1.1 request this server can read (${code ?? 'malformed'}): check the request line, the headers and how the body is framed`];
  }
}

export class HttpSockets {
  readonly #server: Server;
  readonly #seats: Seats;
  readonly #limits: SocketLimits;
  readonly #tls: boolean;
  /** Sockets over --max-connections: each request gets the refusal. */
  readonly #refused = new WeakMap<Socket, Refusal>();
  /** Sockets with a request of /t/ under way. */
  readonly #busy = new WeakSet<Socket>();
  /** Each socket's last request and its response: one under way is not cut into by a refusal. */
  readonly #responses = new WeakMap<Duplex, { req: IncomingMessage; res: ServerResponse }>();
  /** Sockets to close once their response under way has gone out. */
  readonly #closing = new WeakSet<Duplex>();

  constructor(server: Server, seats: Seats, limits: SocketLimits, tls: boolean) {
    this.#server = server;
    this.#seats = seats;
    this.#limits = limits;
    this.#tls = tls;
    server.on('connection', (socket: Socket) => this.#accepted(socket));
    const track = (req: IncomingMessage, res: ServerResponse): void => void this.#responses.set(req.socket, { req, res });
    server.on('request', track);
    server.on('checkContinue', track);
    server.on('clientError', (error: Error & { code?: string }, socket: Duplex) => this.#unreadable(error, socket));
  }

  /**
   * A request Node could not read (malformed, headers too large, not
   * whole in time) gets its status with one line saying what to do, as
   * every refusal does (Node's own answer has no body), and is closed.
   * Behind a request still being answered (its answer may say what was
   * journaled) nothing is written: that answer goes out whole, then the
   * connection closes.
   */
  #unreadable(error: Error & { code?: string }, socket: Duplex): void {
    if (!socket.writable || error.code === 'ECONNRESET') {
      socket.destroy();
      return;
    }
    const under = this.#responses.get(socket);
    if (under !== undefined && !under.res.writableFinished && (under.req.complete || under.res.headersSent)) {
      // A request not read whole (its body late) has journaled nothing: its refusal is below.
      if (!under.req.complete) socket.destroy();
      else if (!this.#closing.has(socket)) {
        this.#closing.add(socket);
        socket.pause();
        const close = (): void => void socket.destroy();
        under.res.once('finish', close);
        under.res.once('close', close);
      }
      return;
    }
    const [status, line] = unreadableAnswer(error.code, this.#limits);
    // Closed once the answer is out, so its place is free at once (and at
    // the latest after the grace, for a peer that reads nothing).
    socket.end(rawRefusal(status, line), () => socket.destroy());
    setTimeout(() => socket.destroy(), REFUSED_GRACE_MS).unref();
  }

  #accepted(socket: Socket): void {
    // The timeouts as the limits are now: a reload applies to what comes next.
    const { headersTimeout, requestTimeout, keepAliveTimeout } = timeouts(this.#limits);
    Object.assign(this.#server, { headersTimeout, requestTimeout, keepAliveTimeout });
    const refusal = seat(socket, this.#seats);
    if (refusal === undefined) return;
    if (this.#tls) {
      socket.destroy();
      return;
    }
    this.#refused.set(socket, refusal);
    setTimeout(() => socket.destroy(), REFUSED_GRACE_MS).unref();
  }

  /** A socket over --max-connections gets the refusal (503), and is closed after it. */
  checkRefused(socket: Socket): void {
    const refusal = this.#refused.get(socket);
    if (refusal !== undefined) throw new HttpError(503, replyLine(refusal), true);
  }

  /**
   * Node reads pipelined requests while the first is answered: each of
   * /t/ would be a connection of its own on one place. The first is
   * served; one that comes while it is under way is refused, and the
   * connection closed after it.
   */
  oneAtATime(socket: Socket, res: ServerResponse): void {
    if (this.#busy.has(socket)) throw new HttpError(503, 'one request at a time on a connection: wait for the answer, or open another connection', true);
    this.#busy.add(socket);
    const done = (): void => {
      this.#busy.delete(socket);
    };
    res.once('finish', done);
    res.once('close', done);
  }
}
