/**
 * A client of any door as the server sees it: counted against
 * --max-connections, listed by `who`, watched for --login-timeout and
 * --idle-timeout, told when the server stops. A line session is one; a
 * door that is not lines makes its own and has the server admit it.
 */
import type { ConnectionInfo } from '../handlers/context.js';
import type { Refusal } from '../protocol/events.js';
import type { Watched } from './watchdog.js';

export interface Connection extends ConnectionInfo, Watched {
  /** The server is stopping: say so, then close. */
  shutdown(): void;
}

/** What a door asks of the server for the connections it makes. */
export interface Admission {
  /** A new connection from `remote`, made by `make` with its id; the refusal when the server is full. */
  admit<C extends Connection>(remote: string, make: (id: number) => C): C | Refusal;
  /** `connection` has closed, for `reason`. */
  closed(connection: Connection, reason: string): void;
}
