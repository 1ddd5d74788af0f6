/**
 * A client of any door as the server sees it, on a socket counted against
 * --max-connections: listed by `who`, watched for --login-timeout and
 * --idle-timeout, told when the server stops. A line session is one; a
 * door that is not lines makes its own and has the server admit it.
 */
import type { ConnectionInfo } from '../handlers/context.js';
import type { Watched } from './watchdog.js';

export interface Connection extends ConnectionInfo, Watched {
  /** The server is stopping: say so, then close. */
  shutdown(): void;
}

/**
 * What a door asks of the server for the connections it makes, on sockets
 * that took their place (transport/link.ts, Seats) when they were accepted.
 */
export interface Admission {
  /** A new connection, made by `make` with its id. */
  admit<C extends Connection>(make: (id: number) => C): C;
  /** `connection` has closed, for `reason`. */
  closed(connection: Connection, reason: string): void;
}
