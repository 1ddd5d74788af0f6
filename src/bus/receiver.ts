/**
 * What the bus delivers to: a line session, a web stream, a queue group.
 * The bus defines the interface; the layers above implement it, so nothing
 * in bus/ imports them.
 */
import type { Message, Qos } from '../protocol/events.js';

/**
 * One committed message on its way to receivers, typed. The broker makes
 * one per message that has receivers. Its `msg` line is the one its page
 * of the journal holds, as UTF-8 (data, from start to end): formatted and
 * encoded once, for the journal and every line receiver alike; receivers
 * of consecutive lines of a page write them as one piece of it. A door
 * that is not lines (MQTT) reads the fields and never the line.
 */
export class Delivery implements Message {
  readonly id: number;
  readonly ts: number;
  readonly topic: string;
  readonly sender: string;
  readonly body: string;
  /** The page's bytes, shared: never written to. */
  readonly data: Buffer;
  readonly start: number;
  readonly end: number;
  /** The MQTT publish QoS when not 1. */
  readonly qos: Qos | undefined;

  constructor(id: number, ts: number, topic: string, sender: string, body: string, data: Buffer, start: number, end: number, qos?: Qos) {
    this.id = id;
    this.ts = ts;
    this.topic = topic;
    this.sender = sender;
    this.body = body;
    this.data = data;
    this.start = start;
    this.end = end;
    this.qos = qos;
  }

  /** The size of the `msg` line in bytes. */
  get bytes(): number {
    return this.end - this.start;
  }

  /** The `msg` line with its LF, as text. */
  get text(): string {
    return this.data.toString('utf8', this.start, this.end);
  }
}

export interface Receiver {
  /** The login name (`who`). */
  readonly user: string | undefined;
  /** A live message of a pattern this receiver subscribed to. */
  deliver(message: Delivery): void;
}
