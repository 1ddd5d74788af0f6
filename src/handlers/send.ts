/** `send <topic> <message>`: acknowledged once journaled. */
import type { Publication } from '../bus/broker.js';
import { sent } from '../protocol/events.js';
import type { Reply } from '../protocol/events.js';
import type { ProtocolError } from '../protocol/errors.js';
import type { CommandOf } from '../protocol/commands.js';
import type { Conn, Services } from './context.js';

/** A send on its way to the journal: one object per send, its reply's place reserved. */
class Send implements Publication {
  readonly origin: Conn;
  readonly topic: string;
  readonly sender: string;
  readonly body: string;
  readonly #reply: (reply: Reply) => void;

  constructor(conn: Conn, topic: string, body: string) {
    this.origin = conn;
    this.topic = topic;
    this.sender = conn.user as string;
    this.body = body;
    this.#reply = conn.later();
  }

  done(result: number | ProtocolError): void {
    this.#reply(typeof result === 'number' ? sent(result) : result);
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
