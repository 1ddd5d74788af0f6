/** `replay <pattern> since|last ...`: journaled messages only. */
import type { CommandOf } from '../protocol/commands.js';
import type { Conn, Services } from './context.js';

export function replay(conn: Conn, { pattern, start }: CommandOf<'replay'>, services: Services): void {
  const refusal = services.policy.receive(conn.user as string, pattern);
  if (refusal) {
    conn.reply(refusal);
    return;
  }
  conn.hold(() => services.feed.replay(conn, pattern, start));
}
