/** `recv` and `leave`: what a connection receives (PROTOCOL.md, "Commands", "Durable cursors"). */
import { err, ok } from '../protocol/events.js';
import type { Refusal } from '../protocol/events.js';
import type { CommandOf } from '../protocol/commands.js';
import type { Conn, Services } from './context.js';

/** `err busy` when the connection receives and takes all it may (--max-subscriptions). */
export function subscriptionRefused(conn: Conn, services: Services): Refusal | undefined {
  const most = services.limits.maxSubscriptions;
  if (conn.subscriptionCount < most) return undefined;
  return err('busy', `this connection receives or takes ${conn.subscriptionCount} patterns, the most one may (--max-subscriptions); leave one first`);
}

export function recv(conn: Conn, { pattern, cursor, start }: CommandOf<'recv'>, services: Services): void {
  const refusal = conn.patterns.has(pattern) ? undefined : subscriptionRefused(conn, services);
  if (refusal !== undefined) {
    conn.reply(refusal);
    return;
  }
  const denied = services.policy.receive(conn.user as string, pattern);
  if (denied) {
    conn.reply(denied);
    return;
  }
  if (cursor !== undefined) {
    conn.hold(() => services.feed.follow(conn, cursor, pattern, start, services.limits.maxCursors));
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
    conn.reply(err('notfound', `not receiving or taking ${pattern}; recv it first, or check the spelling`));
    return;
  }
  conn.reply(ok('leave', pattern));
}
