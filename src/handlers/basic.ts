/** `ping`, `help`, `logoff`: the verbs that need nothing but the connection. */
import { HELP_VERBS } from '../protocol/commands.js';
import type { CommandOf } from '../protocol/commands.js';
import { ok, pong } from '../protocol/wire.js';
import type { Conn } from './context.js';

export function ping(conn: Conn, { text }: CommandOf<'ping'>): void {
  conn.reply(pong(text));
}

export function help(conn: Conn): void {
  conn.reply(ok('help', HELP_VERBS.join(' ')));
}

export function logoff(conn: Conn): void {
  conn.logoff();
}
