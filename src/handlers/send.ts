/** `send <topic> <message>`: acknowledged once journaled. */
import type { Publication } from '../bus/upstream.js';
import type { ProtocolError } from '../protocol/errors.js';
import type { CommandOf } from '../protocol/commands.js';
import type { Conn, ReplySlot, Services } from './context.js';

/** A send on its way to the journal: one object per send, its reply's place reserved. */
class Send implements Publication {
  readonly origin: Conn;
  readonly topic: string;
  readonly sender: string;
  readonly body: string;
  readonly #slot: ReplySlot;

  constructor(conn: Conn, topic: string, body: string) {
    this.origin = conn;
    this.topic = topic;
    this.sender = conn.user as string;
    this.body = body;
    this.#slot = conn.reserve();
  }

  done(result: number | ProtocolError): void {
    if (typeof result === 'number') this.origin.sent(this.#slot, result);
    else this.origin.answer(this.#slot, result);
  }
}

export function send(conn: Conn, { topic, body }: CommandOf<'send'>, services: Services): void {
  const refusal = services.policy.send(conn.user as string, topic);
  if (refusal) {
    conn.reply(refusal);
    return;
  }
  services.broker.publish(new Send(conn, topic, body));
}
