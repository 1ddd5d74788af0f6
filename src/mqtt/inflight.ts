/**
 * The outgoing side of one MQTT session's QoS flows (MQTT 3.1.1 section
 * 4.3): messages are offered in journal-id order; QoS 1 and 2 ones take a
 * packet identifier and stay in flight until PUBACK (QoS 1) or PUBREC,
 * PUBREL, PUBCOMP (QoS 2); at most `limit` (--mqtt-inflight) are in
 * flight, and what comes after waits, QoS 0 too, so that nothing overtakes
 * and a session's messages leave in id order. Nothing is sent again while
 * the connection lasts [MQTT-4.4.0-1]: on a resumed session, `resend`
 * gives every message in flight again with DUP set, and PUBREL for those
 * whose PUBREC had come, with their original identifiers.
 *
 * What a session kept across a restart must persist: the entries in
 * flight (packet identifier, message id, QoS, state) and `sentThrough`,
 * from where the journal is read again for what was waiting. A QoS 2
 * entry must be committed before its PUBLISH is written: resent with
 * another identifier after a crash, a message the client already has
 * would reach its application twice. The rest may follow with the next
 * commit (a QoS 1 message sent twice is at-least-once; a PUBREC or PUBCOMP
 * whose state change was lost is answered again by the client).
 *
 * Pure: the door turns the sends into packets and writes them.
 */
import { Fifo } from '../util/fifo.js';
import type { Qos } from './qos.js';

/** Awaiting PUBACK or PUBREC (`publish`), or PUBCOMP after PUBREL was sent (`pubrel`). */
export type InflightState = 'publish' | 'pubrel';

export interface InflightEntry<M> {
  readonly packetId: number;
  readonly qos: 1 | 2;
  readonly state: InflightState;
  readonly message: M;
}

export type OutboundSend<M> =
  | { readonly kind: 'publish'; readonly message: M; readonly qos: Qos; readonly packetId: number | undefined; readonly dup: boolean }
  | { readonly kind: 'pubrel'; readonly packetId: number };

export type AckOutcome<M> =
  /** PUBACK of a QoS 1 message or PUBCOMP of a QoS 2 one: done; `sends` are what the freed room lets out. */
  | { readonly outcome: 'done'; readonly message: M; readonly sends: OutboundSend<M>[] }
  /** PUBREC of a QoS 2 message: `sends` is its PUBREL. */
  | { readonly outcome: 'released'; readonly sends: OutboundSend<M>[] }
  /** No message in flight has this identifier (an acknowledgement sent twice): ignored. */
  | { readonly outcome: 'unknown' }
  /** The acknowledgement does not fit the message's flow (PUBACK for QoS 2, PUBCOMP before PUBREC): a protocol error. */
  | { readonly outcome: 'wrong-flow'; readonly detail: string };

const MAX_PACKET_ID = 65535;

export class OutboundWindow<M extends { readonly id: number }> {
  readonly #limit: number;
  /** In flight by packet identifier; a Map keeps the order they were sent in. */
  readonly #inflight = new Map<number, InflightEntry<M>>();
  readonly #waiting = new Fifo<{ message: M; qos: Qos }>();
  #nextPacketId = 1;
  #sentThrough = 0;

  /**
   * `limit`: messages in flight at most (1 to 65535); `restored`: a
   * persisted session's entries in flight, in the order they were sent,
   * and the id of the last message it sent.
   */
  constructor(limit: number, restored: { inflight: readonly InflightEntry<M>[]; sentThrough: number } = { inflight: [], sentThrough: 0 }) {
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_PACKET_ID) throw new RangeError(`the in-flight limit is 1 to ${MAX_PACKET_ID}, not ${limit}`);
    this.#limit = limit;
    for (const entry of restored.inflight) {
      this.#inflight.set(entry.packetId, entry);
      this.#nextPacketId = (entry.packetId % MAX_PACKET_ID) + 1;
    }
    this.#sentThrough = restored.sentThrough;
  }

  /** The highest id of a message sent (put in flight or sent at QoS 0): a resumed session reads the journal after it. */
  get sentThrough(): number {
    return this.#sentThrough;
  }

  /** The messages in flight, in the order they were sent. */
  get inflight(): readonly InflightEntry<M>[] {
    return [...this.#inflight.values()];
  }

  get inflightCount(): number {
    return this.#inflight.size;
  }

  /** Messages offered and not sent yet, waiting for room. */
  get waiting(): number {
    return this.#waiting.length;
  }

  /** A message for the client, at `qos` (deliveryQos): what to send now, perhaps nothing. */
  offer(message: M, qos: Qos): OutboundSend<M>[] {
    this.#waiting.push({ message, qos });
    return this.#release();
  }

  puback(packetId: number): AckOutcome<M> {
    const entry = this.#inflight.get(packetId);
    if (entry === undefined) return { outcome: 'unknown' };
    if (entry.qos !== 1) return { outcome: 'wrong-flow', detail: `PUBACK for QoS 2 packet ${packetId}` };
    return this.#done(entry);
  }

  pubrec(packetId: number): AckOutcome<M> {
    const entry = this.#inflight.get(packetId);
    if (entry === undefined) return { outcome: 'unknown' };
    if (entry.qos !== 2) return { outcome: 'wrong-flow', detail: `PUBREC for QoS 1 packet ${packetId}` };
    // A repeated PUBREC gets its PUBREL again.
    this.#inflight.set(packetId, { ...entry, state: 'pubrel' });
    return { outcome: 'released', sends: [{ kind: 'pubrel', packetId }] };
  }

  pubcomp(packetId: number): AckOutcome<M> {
    const entry = this.#inflight.get(packetId);
    if (entry === undefined) return { outcome: 'unknown' };
    if (entry.state !== 'pubrel') return { outcome: 'wrong-flow', detail: `PUBCOMP before PUBREC for packet ${packetId}` };
    return this.#done(entry);
  }

  /** A resumed session: everything in flight again, in the order first sent, then what room lets out. */
  resend(): OutboundSend<M>[] {
    const sends: OutboundSend<M>[] = [];
    for (const entry of this.#inflight.values()) {
      if (entry.state === 'pubrel') sends.push({ kind: 'pubrel', packetId: entry.packetId });
      else sends.push({ kind: 'publish', message: entry.message, qos: entry.qos, packetId: entry.packetId, dup: true });
    }
    return sends.concat(this.#release());
  }

  /**
   * The connection ended: what waited is forgotten (a kept session reads
   * it from the journal again, after `sentThrough`); what is in flight
   * stays, but for the messages `given back` says went back elsewhere (a
   * shared subscription's jobs return to their queue group).
   */
  disconnected(givenBack: (message: M) => boolean = () => false): void {
    this.#waiting.clear();
    for (const [packetId, entry] of this.#inflight) if (givenBack(entry.message)) this.#inflight.delete(packetId);
  }

  #done(entry: InflightEntry<M>): AckOutcome<M> {
    this.#inflight.delete(entry.packetId);
    return { outcome: 'done', message: entry.message, sends: this.#release() };
  }

  /** Sends what waits, in order, while there is room. */
  #release(): OutboundSend<M>[] {
    const sends: OutboundSend<M>[] = [];
    for (let next = this.#waiting.peek(); next !== undefined; next = this.#waiting.peek()) {
      if (next.qos > 0 && this.#inflight.size >= this.#limit) break;
      this.#waiting.take();
      // A retained message sent on SUBSCRIBE may be older than the position.
      if (next.message.id > this.#sentThrough) this.#sentThrough = next.message.id;
      if (next.qos === 0) {
        sends.push({ kind: 'publish', message: next.message, qos: 0, packetId: undefined, dup: false });
        continue;
      }
      const packetId = this.#allocate();
      this.#inflight.set(packetId, { packetId, qos: next.qos, state: 'publish', message: next.message });
      sends.push({ kind: 'publish', message: next.message, qos: next.qos, packetId, dup: false });
    }
    return sends;
  }

  /** The next identifier not in flight; the limit keeps one free. */
  #allocate(): number {
    while (this.#inflight.has(this.#nextPacketId)) this.#nextPacketId = (this.#nextPacketId % MAX_PACKET_ID) + 1;
    const packetId = this.#nextPacketId;
    this.#nextPacketId = (packetId % MAX_PACKET_ID) + 1;
    return packetId;
  }
}
