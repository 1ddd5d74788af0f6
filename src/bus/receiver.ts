/**
 * What the bus delivers to: a line session, a web stream, a queue group.
 * The bus defines the interface; the layers above implement it, so nothing
 * in bus/ imports them.
 */
import type { Message } from '../protocol/events.js';
import { msgText } from '../protocol/wire.js';

/**
 * One committed message on its way to receivers, typed. The broker makes
 * one per message that has receivers; its `msg` line is made the first
 * time a line receiver asks, once, and shared by the others.
 */
export class Delivery implements Message {
  readonly id: number;
  readonly ts: number;
  readonly topic: string;
  readonly sender: string;
  readonly body: string;
  #text: string | undefined;
  #bytes = 0;

  constructor(id: number, ts: number, topic: string, sender: string, body: string) {
    this.id = id;
    this.ts = ts;
    this.topic = topic;
    this.sender = sender;
    this.body = body;
  }

  /** The `msg` line with its LF. */
  get text(): string {
    if (this.#text === undefined) {
      this.#text = msgText(this.topic, this.id, this.sender, this.body);
      this.#bytes = Buffer.byteLength(this.#text);
    }
    return this.#text;
  }

  /** The size of `text` in bytes. */
  get bytes(): number {
    if (this.#text === undefined) void this.text;
    return this.#bytes;
  }
}

export interface Receiver {
  /** The login name (`who`). */
  readonly user: string | undefined;
  /** A live message of a pattern this receiver subscribed to. */
  deliver(message: Delivery): void;
}
