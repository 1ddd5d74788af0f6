/**
 * Sends in cluster mode: each is published to the stream with a name
 * unique to it (header Linebus-Send), and answered `ok send <id>` once JetStream's PubAck gave
 * the id and the message came back through the stream into this daemon's
 * journal. So the id is the stream's sequence, the sender can replay its
 * own send at once, and its own `recv` does not get the message back.
 */
import type { Publication, Staged, UpstreamBus } from '../bus/upstream.js';
import { ProtocolError } from '../protocol/errors.js';
import type { Receiver } from '../bus/receiver.js';
import { statusOf } from './nats-frames.js';
import type { MsgFrame } from './nats-frames.js';

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

/**
 * A send as it is published: its staged state (an MQTT QoS 2 identifier,
 * a retained message) does not travel with it, but is written with the
 * next commit after the message comes back through ingest, and `done`
 * waits for that.
 */
export function outbound(publication: Publication, bus: UpstreamBus): Publication {
  if (publication.staged === undefined) return publication;
  const staged: Staged = publication.staged;
  return {
    origin: publication.origin,
    topic: publication.topic,
    sender: publication.sender,
    body: publication.body,
    qos: publication.qos,
    done: (result) => {
      if (typeof result !== 'number') {
        publication.done(result);
        return;
      }
      bus.stage({
        write: () => staged.write(),
        settled: (error) => {
          staged.settled(error);
          if (error === undefined) publication.done(result);
        },
      });
    },
  };
}

/**
 * What JetStream answered a publish: the stream sequence it stored it as,
 * or why not (its error, "no responders" when no stream has the subject,
 * an answer that is not a PubAck).
 */
export function pubAckOf(frame: Pick<MsgFrame, 'headers' | 'payload'>): number | Error {
  if (frame.headers !== undefined) {
    const status = statusOf(frame.headers);
    if (status.code >= 300) return new Error(`${status.code} ${status.description || 'no stream answered'}`);
  }
  const plain = plainPubAck(frame.payload);
  if (plain > 0) return plain;
  try {
    // A refusal (the stream's own limits) may come with a sequence of 0.
    const ack = JSON.parse(frame.payload) as { seq?: unknown; error?: { description?: string } } | null;
    if (ack?.error === undefined && typeof ack?.seq === 'number' && ack.seq > 0) return ack.seq;
    return new Error(ack?.error?.description ?? 'no sequence in the PubAck');
  } catch (error) {
    return error as Error;
  }
}

const PLAIN_ACK_START = '{"stream":"';
const PLAIN_ACK_SEQ = '","seq":';

/**
 * The sequence of a PubAck exactly as nats-server writes one that stored
 * a message (`{"stream":"<name>","seq":<n>}`), read without JSON.parse;
 * 0 for any other (an error, a duplicate, a domain), which JSON.parse reads.
 */
function plainPubAck(payload: string): number {
  if (!payload.startsWith(PLAIN_ACK_START) || payload.charCodeAt(payload.length - 1) !== 125) return 0;
  const close = payload.indexOf('"', PLAIN_ACK_START.length);
  const backslash = payload.indexOf('\\', PLAIN_ACK_START.length);
  if (close < 0 || (backslash >= 0 && backslash < close) || !payload.startsWith(PLAIN_ACK_SEQ, close)) return 0;
  const from = close + PLAIN_ACK_SEQ.length;
  const to = payload.length - 1;
  if (to <= from || to - from > 15) return 0;
  let seq = 0;
  for (let i = from; i < to; i++) {
    const digit = payload.charCodeAt(i) - 48;
    if (digit < 0 || digit > 9) return 0;
    seq = seq * 10 + digit;
  }
  return seq;
}

/**
 * The sends of this daemon between their publish and their answer, by
 * number: a send's name (header Linebus-Send) is `<prefix>-<number>` and its PubAck
 * comes on `<inbox>.<number>`, so every lookup is by a small integer.
 */
export class InFlightSends {
  readonly #sends = new Map<number, InFlight>();
  /** This process's prefix of its sends' names, with its dash: unique per daemon start. */
  readonly #prefix: string;
  #next = 0;

  constructor(prefix: string) {
    this.#prefix = `${prefix}-`;
  }

  get size(): number {
    return this.#sends.size;
  }

  /** Registers a send about to be published; returns its number. */
  add(publication: Publication): number {
    const number = ++this.#next;
    this.#sends.set(number, { publication, seq: 0, journaled: 0, at: Date.now() });
    return number;
  }

  /** The name of send `number`, for its header. */
  name(number: number): string {
    return `${this.#prefix}${number}`;
  }

  /** JetStream's answer to send `number`: its sequence, or why it was not stored. */
  answered(number: number, answer: number | Error): void {
    if (typeof answer === 'number') this.acked(number, answer);
    else this.failed(number, answer);
  }

  /** JetStream stored send `number` as `seq`. */
  acked(number: number, seq: number): void {
    const send = this.#sends.get(number);
    if (send === undefined) return;
    send.seq = seq;
    if (send.journaled !== 0) this.#finish(number, send, send.journaled);
  }

  /**
   * The PubAck did not come (timeout, no stream, no connection). A send
   * already seen in the stream was stored all the same, and is answered
   * with its id; any other is refused, and if it was stored after all it
   * arrives through the stream like anybody's message.
   */
  failed(number: number, error: Error): void {
    const send = this.#sends.get(number);
    if (send === undefined) return;
    if (send.journaled !== 0) {
      this.#finish(number, send, send.journaled);
      return;
    }
    this.#sends.delete(number);
    send.publication.done(new ProtocolError('busy', `the cluster did not store the message (${error.message}); it was not sent, try again`));
  }

  /** Refuses the sends published before `before` that neither got a PubAck nor came back through the stream. */
  expire(before: number): void {
    for (const [number, send] of this.#sends) {
      if (send.at >= before) return;
      if (send.seq === 0 && send.journaled === 0) this.failed(number, new Error('TIMEOUT'));
    }
  }

  /** A message of the stream whose send was named `header`: one of ours, if in flight. */
  claim(header: string | undefined): Claim | undefined {
    if (header === undefined || !header.startsWith(this.#prefix)) return undefined;
    const number = Number(header.slice(this.#prefix.length));
    const send = this.#sends.get(number);
    if (send === undefined) return undefined;
    return {
      origin: send.publication.origin,
      journaled: (result) => {
        // A journal that failed takes the message again from the stream.
        if (typeof result !== 'number' || this.#sends.get(number) !== send) return;
        send.journaled = result;
        if (send.seq !== 0) this.#finish(number, send, result);
      },
    };
  }

  /** Refuses every send still waiting (the daemon is stopping). */
  refuseAll(why: string): void {
    const sends = [...this.#sends.values()];
    this.#sends.clear();
    for (const send of sends) send.publication.done(new ProtocolError('busy', why));
  }

  #finish(number: number, send: InFlight, id: number): void {
    this.#sends.delete(number);
    send.publication.done(id);
  }
}
