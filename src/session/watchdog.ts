/**
 * Connections that hold a place and do nothing: one that has not logged in
 * within --login-timeout, and a logged-in one that receives and takes
 * nothing and has sent no line for --idle-timeout. One sweep a second over
 * every connection, so the hot path only counts its lines.
 */
import type { Logger } from '../log.js';
import { err } from '../protocol/events.js';
import type { Refusal } from '../protocol/events.js';

export interface Watched {
  readonly id: number;
  readonly remote: string;
  readonly user: string | undefined;
  /** Lines read so far. */
  readonly linesIn: number;
  /** Patterns received and groups taken. */
  readonly subscriptionCount: number;
  /** A command is still being answered (a login, a request, a catch-up). */
  readonly busy: boolean;
  /** Closes with `last` as the last thing written, for `reason`. */
  close(reason: string, last: Refusal): void;
}

interface Seen {
  lines: number;
  since: number;
}

export class Watchdog {
  readonly #connections: () => Iterable<Watched>;
  readonly #limits: { readonly loginTimeout: number; readonly idleTimeout: number };
  readonly #logger: Logger;
  readonly #seen = new WeakMap<Watched, Seen>();
  #timer: NodeJS.Timeout | undefined;

  constructor(connections: () => Iterable<Watched>, limits: { readonly loginTimeout: number; readonly idleTimeout: number }, logger: Logger) {
    this.#connections = connections;
    this.#limits = limits;
    this.#logger = logger;
  }

  start(): void {
    this.#timer = setInterval(() => this.sweep(Date.now()), 1000).unref();
  }

  stop(): void {
    clearInterval(this.#timer);
  }

  /** Closes what has waited too long by `now` (ms). */
  sweep(now: number): void {
    const { loginTimeout, idleTimeout } = this.#limits;
    for (const conn of this.#connections()) {
      let seen = this.#seen.get(conn);
      if (seen === undefined || seen.lines !== conn.linesIn || conn.busy) {
        seen = { lines: conn.linesIn, since: seen === undefined || conn.user !== undefined ? now : seen.since };
        this.#seen.set(conn, seen);
      }
      const quiet = (now - seen.since) / 1000;
      if (conn.user === undefined && quiet >= loginTimeout) {
        this.#logger.log('info', 'closed: no login in time', { conn: conn.id, remote: conn.remote, limit_s: loginTimeout });
        conn.close('login timeout', err('auth', `no login within ${loginTimeout}s (--login-timeout); reconnect and log in`));
      } else if (conn.user !== undefined && idleTimeout > 0 && conn.subscriptionCount === 0 && quiet >= idleTimeout) {
        this.#logger.log('info', 'closed: idle', { conn: conn.id, remote: conn.remote, user: conn.user, limit_s: idleTimeout });
        conn.close('idle', err('timeout', `idle for ${idleTimeout}s, receiving nothing (--idle-timeout); reconnect when you need the bus`));
      }
    }
  }
}
