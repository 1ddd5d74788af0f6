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
import type { Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Refusal } from '../protocol/events.js';
import { replyLine } from '../protocol/wire.js';
import { HttpError } from './http-guard.js';
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

export class HttpSockets {
  readonly #server: Server;
  readonly #seats: Seats;
  readonly #limits: SocketLimits;
  readonly #tls: boolean;
  /** Sockets over --max-connections: each request gets the refusal. */
  readonly #refused = new WeakMap<Socket, Refusal>();
  /** Sockets with a request of /t/ under way. */
  readonly #busy = new WeakSet<Socket>();

  constructor(server: Server, seats: Seats, limits: SocketLimits, tls: boolean) {
    this.#server = server;
    this.#seats = seats;
    this.#limits = limits;
    this.#tls = tls;
    server.on('connection', (socket: Socket) => this.#accepted(socket));
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
