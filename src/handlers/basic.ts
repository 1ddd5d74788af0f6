/** `ping`, `tags`, `help`, `logoff`: the verbs that need nothing but the connection. */
import { HELP_VERBS, VERB_NAMES, VERBS } from '../protocol/commands.js';
import type { CommandOf } from '../protocol/commands.js';
import { err, ok } from '../protocol/events.js';
import { pong } from '../protocol/wire.js';
import type { Conn } from './context.js';

export function ping(conn: Conn, { text }: CommandOf<'ping'>): void {
  conn.reply(pong(text));
}

export function help(conn: Conn, { about }: CommandOf<'help'>): void {
  if (about === undefined) {
    conn.reply(ok('help', HELP_VERBS.join(' ')));
    return;
  }
  const verb = VERB_NAMES.get(about);
  if (verb === undefined) {
    conn.reply(err('notfound', `no verb '${about}'; help lists them`));
    return;
  }
  conn.reply(ok('help', VERBS[verb].usage, '--', VERBS[verb].summary));
}

export function tags(conn: Conn, { tag }: CommandOf<'tags'>): void {
  conn.stamp(tag === 'ts');
  conn.reply(ok('tags', tag));
}

export function logoff(conn: Conn): void {
  conn.logoff();
}
