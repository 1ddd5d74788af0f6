/**
 * Every connection of the daemon, whatever its door. Each socket takes a
 * place (--max-connections) when it is accepted, on every listener, and
 * gives it back when it closes: sockets still in a TLS handshake or
 * between HTTP requests count too, so the count here is the number of
 * sockets the daemon holds. What they become is listed for `who` and told
 * when the server stops: a Link of the line protocol becomes a session
 * here; a door that is not lines makes its own connection and has it
 * admitted, on a socket that holds its place.
 */
import type { Stats } from '../bus/stats.js';
import type { Logger } from '../log.js';
import { err } from '../protocol/events.js';
import type { Refusal } from '../protocol/events.js';
import { replyLine } from '../protocol/wire.js';
import type { LineDoor, Link, Seat } from '../transport/link.js';
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

export class Registry implements Admission, LineDoor {
  readonly #parts: RegistryParts;
  readonly #all = new Set<Connection>();
  /** Sockets holding a place. */
  #seated = 0;
  readonly #refusals = new Refusals();
  #nextId = 1;
  /** Called when the last connection has closed, while stopping. */
  #onEmpty: (() => void) | undefined;

  constructor(parts: RegistryParts) {
    this.#parts = parts;
  }

  /** Sockets holding a place: what --max-connections counts. */
  get size(): number {
    return this.#seated;
  }

  /** Every connection, in the order they came. */
  all(): Iterable<Connection> {
    return this.#all;
  }

  take(remote: string): Seat | Refusal {
    const refusal = this.#full(remote);
    if (refusal !== undefined) return refusal;
    this.#seated++;
    let held = true;
    return {
      release: () => {
        if (held) this.#seated--;
        held = false;
      },
    };
  }

  /** A client of the line protocol, on a socket with its place: a session. */
  accept(link: Link): void {
    this.#add(this.#parts.session(link, this.#nextId++));
  }

  /** A client of the line protocol over the limit: one line saying the server is full. */
  refuse(link: Link, refusal: Refusal): void {
    this.#refusals.refuse(link, replyLine(refusal), () => this.#parts.logger.log('debug', 'refused connection closed', { remote: link.remote }));
  }

  admit<C extends Connection>(make: (id: number) => C): C {
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
    if (this.#seated < limits.maxConnections) return undefined;
    counters.closed('refused: server full');
    logger.log('warn', 'connection refused: server full', { remote, limit: limits.maxConnections });
    return err('busy', `the server is full (${limits.maxConnections} connections); try again later`);
  }
}
