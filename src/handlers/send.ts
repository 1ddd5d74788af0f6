/** `send <topic> <message>`: acknowledged once journaled. */
import { sent } from '../protocol/events.js';
import type { CommandOf } from '../protocol/commands.js';
import type { Conn, Services } from './context.js';

export function send(conn: Conn, { topic, body }: CommandOf<'send'>, services: Services): void {
  const refusal = services.policy.send(conn.user as string, topic);
  if (refusal) {
    conn.reply(refusal);
    return;
  }
  const reply = conn.later();
  services.broker.publish({
    origin: conn,
    topic,
    sender: conn.user as string,
    body,
    done: (result) => reply(typeof result === 'number' ? sent(result) : result),
  });
}
