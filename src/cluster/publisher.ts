/**
 * Sends in cluster mode: each is published to the stream with a unique
 * Nats-Msg-Id, and answered `ok send <id>` once JetStream's PubAck gave
 * the id and the message came back through the stream into this daemon's
 * journal. So the id is the stream's sequence, the sender can replay its
 * own send at once, and its own `recv` does not get the message back.
 */
import type { Publication } from '../bus/broker.js';
import { ProtocolError } from '../protocol/errors.js';
import type { Receiver } from '../bus/receiver.js';

interface InFlight {
  readonly publication: Publication;
  /** The stream sequence from the PubAck; 0 until it comes. */
  seq: number;
  /** The message is in this daemon's journal with this id; 0 until then. */
  journaled: number;
  /** When it was published (ms). */
  readonly at: number;
}

/** What a stream message that this daemon sent means for its sender. */
export interface Claim {
  readonly origin: Receiver | undefined;
  /** Called with the id once it is journaled here (or with the journal's refusal). */
  journaled(result: number | ProtocolError): void;
}

export class InFlightSends {
  readonly #sends = new Map<string, InFlight>();
  /** This process's prefix of Nats-Msg-Id: unique per daemon start. */
  readonly #prefix: string;
  #next = 0;

  constructor(prefix: string) {
    this.#prefix = prefix;
  }

  get size(): number {
    return this.#sends.size;
  }

  /** Registers a send about to be published; returns its Nats-Msg-Id. */
  add(publication: Publication): string {
    const msgId = `${this.#prefix}-${++this.#next}`;
    this.#sends.set(msgId, { publication, seq: 0, journaled: 0, at: Date.now() });
    return msgId;
  }

  /** JetStream stored it as `seq`. */
  acked(msgId: string, seq: number): void {
    const send = this.#sends.get(msgId);
    if (send === undefined) return;
    send.seq = seq;
    if (send.journaled !== 0) this.#finish(msgId, send, send.journaled);
  }

  /**
   * The PubAck did not come (timeout, no stream, no connection). A send
   * already seen in the stream was stored all the same, and is answered
   * with its id; any other is refused, and if it was stored after all it
   * arrives through the stream like anybody's message.
   */
  failed(msgId: string, error: Error): void {
    const send = this.#sends.get(msgId);
    if (send === undefined) return;
    if (send.journaled !== 0) {
      this.#finish(msgId, send, send.journaled);
      return;
    }
    this.#sends.delete(msgId);
    send.publication.done(new ProtocolError('busy', `the cluster did not store the message (${error.message}); it was not sent, try again`));
  }

  /** Refuses the sends published before `before` that neither got a PubAck nor came back through the stream. */
  expire(before: number): void {
    for (const [msgId, send] of this.#sends) {
      if (send.at >= before) return;
      if (send.seq === 0 && send.journaled === 0) this.failed(msgId, new Error('TIMEOUT'));
    }
  }

  /** A message of the stream with Nats-Msg-Id `msgId`: one of ours, if in flight. */
  claim(msgId: string | undefined): Claim | undefined {
    const send = msgId === undefined ? undefined : this.#sends.get(msgId);
    if (send === undefined) return undefined;
    return {
      origin: send.publication.origin,
      journaled: (result) => {
        // A journal that failed takes the message again from the stream.
        if (typeof result !== 'number' || this.#sends.get(msgId as string) !== send) return;
        send.journaled = result;
        if (send.seq !== 0) this.#finish(msgId as string, send, result);
      },
    };
  }

  /** Refuses every send still waiting (the daemon is stopping). */
  refuseAll(why: string): void {
    const sends = [...this.#sends.values()];
    this.#sends.clear();
    for (const send of sends) send.publication.done(new ProtocolError('busy', why));
  }

  #finish(msgId: string, send: InFlight, id: number): void {
    this.#sends.delete(msgId);
    send.publication.done(id);
  }
}
