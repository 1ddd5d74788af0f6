/** What the client throws when the server refuses, or the connection is gone. */

/**
 * An `err` reply, with the protocol's code (`denied`, `timeout`, ...), or
 * the code `closed` when the connection was lost or never became a linebus
 * session (the message then says why and what to try).
 */
export class LinebusError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'LinebusError';
  }

  static fromLine(line: string): LinebusError {
    const [, code = 'internal'] = line.split(' ', 2);
    return new LinebusError(code, line.slice(5 + code.length));
  }
}
