/** `recv` and `leave`: what a connection receives (PROTOCOL.md, "Commands"). */
import { err, ok } from '../protocol/wire.js';
import type { CommandOf } from '../protocol/commands.js';
import type { Conn, Services } from './context.js';

export function recv(conn: Conn, { pattern, start }: CommandOf<'recv'>, services: Services): void {
  const most = services.limits.maxSubscriptions;
  if (conn.patterns.size >= most && !conn.patterns.has(pattern)) {
    conn.reply(err('busy', `this connection receives ${conn.patterns.size} patterns, the most one may (--max-subscriptions); leave one first`));
    return;
  }
  if (start === undefined) {
    conn.subscribe(pattern);
    conn.reply(ok('recv', pattern));
    return;
  }
  conn.hold(() => services.feed.catchUp(conn, pattern, start));
}

export function leave(conn: Conn, { pattern }: CommandOf<'leave'>): void {
  if (!conn.unsubscribe(pattern)) {
    conn.reply(err('notfound', `not receiving ${pattern}; recv it first, or check the spelling`));
    return;
  }
  conn.reply(ok('leave', pattern));
}
