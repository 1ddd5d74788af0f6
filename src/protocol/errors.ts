/**
 * The stable error codes of the wire protocol (PROTOCOL.md, "Replies"), in
 * one table, as nats-server's errors catalogue and ws's WS_ERR_* do. A
 * client may branch on the code; the text after it is for people and says
 * what to do next.
 */
export const ERROR_CODES = {
  syntax: 'unknown verb, or missing or malformed arguments',
  auth: 'bad user or password, or the command needs a login first',
  denied: 'the user may not send to or receive from that topic',
  toolong: 'the line is over the length limit',
  encoding: 'the line is not UTF-8',
  notfound: 'the thing named is not there',
  busy: 'a limit of the server or of a queue group is reached for now (connections, subscriptions, cursors, groups), or the cluster cannot be reached; retry later',
  timeout: 'a request got no reply in time',
  slow: 'the client fell too far behind; the connection is closed',
  shutdown: 'the server is stopping; the connection is closed',
  internal: 'the server could not do it (the journal failed); nothing was stored, try again',
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

/**
 * A refusal thrown or returned (a Refusal of events.ts: the line protocol
 * writes it as one `err <code> <text>` line).
 */
export class ProtocolError extends Error {
  readonly code: ErrorCode;

  constructor(code: ErrorCode, text: string) {
    super(text);
    this.name = 'ProtocolError';
    this.code = code;
  }

  /** What to do next, for the client. */
  get text(): string {
    return this.message;
  }
}

/**
 * A line that shows the peer is not a linebus client but speaks another
 * protocol (HTTP: a web page can make a browser send a request to any
 * port, and its body would run as commands). The connection is closed
 * after this line, and nothing after it is handled.
 */
export class ForeignProtocolError extends ProtocolError {
  /** Why the connection closed, as logged and counted. */
  readonly reason: string;

  constructor(reason: string, text: string) {
    super('syntax', text);
    this.name = 'ForeignProtocolError';
    this.reason = reason;
  }
}

/**
 * A problem that stops the daemon or a CLI command before it does anything
 * (an unreadable database, a bad option). The CLI prints its message as one
 * line, without a stack trace, and exits non-zero.
 */
export class FatalError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'FatalError';
  }
}
