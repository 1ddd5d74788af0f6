/**
 * What the bus delivers to: a line session, a web stream, a queue group.
 * The bus defines the interface; the layers above implement it, so nothing
 * in bus/ imports them.
 */
import type { Message, Qos } from '../protocol/events.js';
import { msgText } from '../protocol/wire.js';

/**
 * One committed message on its way to receivers, typed. The broker makes
 * one per message that has receivers, so its `msg` line is formatted
 * once, not once per receiver, and only if a receiver of lines wants it.
 */
export class Delivery implements Message {
  readonly id: number;
  readonly ts: number;
  readonly topic: string;
  readonly sender: string;
  readonly body: string;
  /** The MQTT publish QoS when not 1. */
  readonly qos: Qos | undefined;
  #text: string | undefined;
  #bytes: number | undefined;

  constructor(id: number, ts: number, topic: string, sender: string, body: string, qos?: Qos) {
    this.id = id;
    this.ts = ts;
    this.topic = topic;
    this.sender = sender;
    this.body = body;
    this.qos = qos;
  }

  /** The `msg` line with its LF, made once, when a receiver of lines first asks (MQTT's never do). */
  get text(): string {
    this.#text ??= msgText(this.topic, this.id, this.sender, this.body);
    return this.#text;
  }

  /** The size of `text` in bytes. */
  get bytes(): number {
    this.#bytes ??= Buffer.byteLength(this.text);
    return this.#bytes;
  }
}

export interface Receiver {
  /** The login name (`who`). */
  readonly user: string | undefined;
  /** A live message of a pattern this receiver subscribed to. */
  deliver(message: Delivery): void;
}
