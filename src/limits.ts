/**
 * The daemon's defaults and the limits it enforces (documented in
 * linebus(1), LIMITS), in one place for the server, the CLI and `stats`.
 */

export const DEFAULTS = {
  host: '127.0.0.1',
  port: 7667,
  db: './linebus.db',
  maxLine: 65536,
  maxPending: 8 * 1024 * 1024,
  maxConnections: 10000,
  maxSubscriptions: 1000,
  maxAckPending: 1000,
  maxCursors: 100,
  maxGroups: 100,
} as const;

/** What can change while the daemon runs (SIGHUP, `reconfigure`). */
export interface Limits {
  maxLine: number;
  maxPending: number;
  maxConnections: number;
  /** Patterns one connection may receive or take at once. */
  maxSubscriptions: number;
  /** Un-acked jobs one queue group may have out. */
  maxAckPending: number;
  /** Cursors one user may have. */
  maxCursors: number;
  /** Queue groups one user may make. */
  maxGroups: number;
  /** Delete messages older than this many days; 0 keeps them. */
  retainDays: number;
  /** Keep at most this many of the newest messages; 0 keeps all. */
  retainMessages: number;
}
