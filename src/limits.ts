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
  maxInput: 64 * 1024,
  maxPostBytes: 8 * 1024 * 1024,
  maxPostLines: 100_000,
  loginTimeout: 10,
  httpBodyTimeout: 60,
  idleTimeout: 3600,
  tcpKeepalive: 60,
  retainDays: 0,
  retainMessages: 0,
  mqttInflight: 100,
  replayMemory: 0,
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
  /** Input bytes waiting behind a command before the connection stops being read. */
  maxInput: number;
  /** Bytes of one POST's body. */
  maxPostBytes: number;
  /** Lines (messages) of one POST's body. */
  maxPostLines: number;
  /** Seconds a connection has to log in; a web connection, to send a request's headers. */
  loginTimeout: number;
  /** Seconds a web request has to arrive whole, its body included. */
  httpBodyTimeout: number;
  /** Seconds a logged-in connection that receives nothing may stay silent; 0: for ever. */
  idleTimeout: number;
  /** Seconds of quiet before TCP keepalive probes a connection; 0: never (and no probing of half-closed ones). */
  tcpKeepalive: number;
  /** Delete messages older than this many days; 0 keeps them. */
  retainDays: number;
  /** Keep at most this many of the newest messages; 0 keeps all. */
  retainMessages: number;
  /** MQTT messages (QoS 1 and 2) unacknowledged on their way to one session's client (1 to 65535); a session made after a change has the new one. */
  mqttInflight: number;
}

/** `options` with the defaults filled in. */
export function limitsFrom(options: Partial<Limits>): Limits {
  const pick = <K extends keyof Limits>(key: K): number => options[key] ?? DEFAULTS[key];
  return {
    maxLine: pick('maxLine'),
    maxPending: pick('maxPending'),
    maxConnections: pick('maxConnections'),
    maxSubscriptions: pick('maxSubscriptions'),
    maxAckPending: pick('maxAckPending'),
    maxCursors: pick('maxCursors'),
    maxGroups: pick('maxGroups'),
    maxInput: pick('maxInput'),
    maxPostBytes: pick('maxPostBytes'),
    maxPostLines: pick('maxPostLines'),
    loginTimeout: pick('loginTimeout'),
    httpBodyTimeout: pick('httpBodyTimeout'),
    idleTimeout: pick('idleTimeout'),
    tcpKeepalive: pick('tcpKeepalive'),
    retainDays: pick('retainDays'),
    retainMessages: pick('retainMessages'),
    mqttInflight: pick('mqttInflight'),
  };
}

/** The limits in force, as `stats` names them. */
export function limitStats(limits: Limits): [string, number][] {
  return [
    ['max_line', limits.maxLine],
    ['max_pending', limits.maxPending],
    ['max_connections', limits.maxConnections],
    ['max_subscriptions', limits.maxSubscriptions],
    ['max_ack_pending', limits.maxAckPending],
    ['max_cursors', limits.maxCursors],
    ['max_groups', limits.maxGroups],
    ['max_input', limits.maxInput],
    ['max_post_bytes', limits.maxPostBytes],
    ['max_post_lines', limits.maxPostLines],
    ['login_timeout_s', limits.loginTimeout],
    ['http_body_timeout_s', limits.httpBodyTimeout],
    ['idle_timeout_s', limits.idleTimeout],
    ['tcp_keepalive_s', limits.tcpKeepalive],
    ['mqtt_inflight', limits.mqttInflight],
  ];
}
