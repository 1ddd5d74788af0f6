/**
 * Every connection of the daemon, whatever its door: admitted while there
 * is room (--max-connections), counted, listed for `who`, and told when
 * the server stops. A Link of the line protocol becomes a session here; a
 * door that is not lines makes its own connection and has it admitted.
 */
import type { Stats } from '../bus/stats.js';
import type { Logger } from '../log.js';
import { err } from '../protocol/events.js';
import type { Refusal } from '../protocol/events.js';
import { replyLine } from '../protocol/wire.js';
import type { Link } from '../transport/link.js';
import { Refusals } from '../transport/refusals.js';
import type { Admission, Connection } from './connection.js';

export interface RegistryParts {
  /** As they are now (SIGHUP may change them). */
  readonly limits: { readonly maxConnections: number };
  readonly counters: Stats;
  readonly logger: Logger;
  /** The line protocol's connection over `link`. */
  session(link: Link, id: number): Connection;
}

export class Registry implements Admission {
  readonly #parts: RegistryParts;
  readonly #all = new Set<Connection>();
  readonly #refusals = new Refusals();
  #nextId = 1;
  /** Called when the last connection has closed, while stopping. */
  #onEmpty: (() => void) | undefined;

  constructor(parts: RegistryParts) {
    this.#parts = parts;
  }

  get size(): number {
    return this.#all.size;
  }

  /** Every connection, in the order they came. */
  all(): Iterable<Connection> {
    return this.#all;
  }

  /** A client of the line protocol: a session, or one line saying the server is full. */
  accept(link: Link): void {
    const refusal = this.#full(link.remote);
    if (refusal === undefined) {
      this.#add(this.#parts.session(link, this.#nextId++));
      return;
    }
    this.#refusals.refuse(link, replyLine(refusal), () => this.#parts.logger.log('debug', 'refused connection closed', { remote: link.remote }));
  }

  admit<C extends Connection>(remote: string, make: (id: number) => C): C | Refusal {
    const refusal = this.#full(remote);
    if (refusal !== undefined) return refusal;
    const connection = make(this.#nextId++);
    this.#add(connection);
    return connection;
  }

  closed(connection: Connection, reason: string): void {
    const { counters, logger } = this.#parts;
    this.#all.delete(connection);
    counters.closed(reason);
    logger.log('debug', 'closed', { conn: connection.id, remote: connection.remote, user: connection.user, reason });
    if (this.#all.size === 0) this.#onEmpty?.();
  }

  /** Tells every connection the server stops; resolves once all have closed. */
  shutdown(): Promise<void> {
    this.#refusals.destroyAll();
    const drained = new Promise<void>((resolve) => {
      if (this.#all.size === 0) resolve();
      else this.#onEmpty = resolve;
    });
    for (const connection of this.#all) connection.shutdown();
    return drained;
  }

  #add(connection: Connection): void {
    this.#all.add(connection);
    this.#parts.counters.connectionsTotal++;
    this.#parts.logger.log('debug', 'connected', { conn: connection.id, remote: connection.remote });
  }

  /** The refusal, when the server is full. */
  #full(remote: string): Refusal | undefined {
    const { limits, counters, logger } = this.#parts;
    if (this.#all.size < limits.maxConnections) return undefined;
    counters.closed('refused: server full');
    logger.log('warn', 'connection refused: server full', { remote, limit: limits.maxConnections });
    return err('busy', `the server is full (${limits.maxConnections} connections); try again later`);
  }
}
