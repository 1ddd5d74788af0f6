/**
 * What the bus delivers to: a line session, a web stream, a queue group.
 * The bus defines the interface; the layers above implement it, so nothing
 * in bus/ imports them.
 */
import type { Message } from '../protocol/events.js';

/**
 * One committed message on its way to receivers, typed. The broker makes
 * one per message that has receivers, so its `msg` line is formatted
 * once, not once per receiver.
 */
export class Delivery implements Message {
  readonly id: number;
  readonly ts: number;
  readonly topic: string;
  readonly sender: string;
  readonly body: string;
  /** The `msg` line with its LF. */
  readonly text: string;
  /** The size of `text` in bytes. */
  readonly bytes: number;

  /** `text`: its msg line (wire.ts msgText), made once by the journal. */
  constructor(id: number, ts: number, topic: string, sender: string, body: string, text: string) {
    this.id = id;
    this.ts = ts;
    this.topic = topic;
    this.sender = sender;
    this.body = body;
    this.text = text;
    this.bytes = Buffer.byteLength(text);
  }
}

export interface Receiver {
  /** The login name (`who`). */
  readonly user: string | undefined;
  /** A live message of a pattern this receiver subscribed to. */
  deliver(message: Delivery): void;
}
