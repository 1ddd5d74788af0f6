/**
 * The handler table: one handler per verb of protocol/commands.ts. The
 * mapped type makes a verb without a handler a compile error.
 */
import type { CommandOf, Verb } from '../protocol/commands.js';
import { VERBS } from '../protocol/commands.js';
import { ForeignProtocolError, ProtocolError } from '../protocol/errors.js';
import { parse } from '../protocol/parser.js';
import { err } from '../protocol/events.js';
import { help, logoff, ping, tags } from './basic.js';
import type { Conn, Services } from './context.js';
import { cursors, forget, mark } from './cursor.js';
import { stats, topics, who } from './introspect.js';
import { login } from './login.js';
import { ack, nack, pending, take, touch } from './queue.js';
import { replay } from './replay.js';
import { reply, request } from './request.js';
import { send } from './send.js';
import { leave, recv } from './subscribe.js';

export type Handler<V extends Verb> = (conn: Conn, command: CommandOf<V>, services: Services) => void;

export const HANDLERS: { readonly [V in Verb]: Handler<V> } = {
  login,
  recv,
  replay,
  leave,
  send,
  request,
  reply,
  mark,
  cursors,
  forget,
  take,
  ack,
  nack,
  touch,
  pending,
  ping,
  tags,
  topics,
  who,
  stats,
  help,
  logoff,
};

/** One line of a client: parsed, checked for a login, handed to its handler. */
export function handleLine(conn: Conn, line: string, services: Services): void {
  const command = parse(line);
  if (command === undefined) return;
  if (command instanceof ForeignProtocolError) {
    services.logger.log('warn', `${command.reason} on a line-protocol listener: closed (a web page, or a client given the wrong port)`, { conn: conn.id, remote: conn.remote, listener: conn.listener });
    conn.close(command.reason, command);
    return;
  }
  if (command instanceof ProtocolError) {
    conn.reply(command);
    return;
  }
  if (conn.user === undefined && VERBS[command.verb].login) {
    conn.reply(err('auth', `log in first: ${VERBS.login.usage}`));
    return;
  }
  (HANDLERS[command.verb] as Handler<Verb>)(conn, command as never, services);
}
