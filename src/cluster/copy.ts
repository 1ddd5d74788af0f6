/**
 * The copy of the cluster's stream into this daemon's journal: an
 * ephemeral push consumer from the journal's last id on, delivering on the
 * cluster's own NATS socket (nats-socket.ts; its frames are a third of
 * nats.js's CPU per message), each message handed to Broker.ingest (which
 * journals it with the stream's id, then delivers). A copy that stops (its
 * NATS node died, a commit failed) starts again where the journal is.
 */
import type { NatsConnection } from 'nats';
import type { Broker } from '../bus/broker.js';
import type { Logger } from '../log.js';
import type { Store } from '../store/store.js';
import type { InFlightSends } from './publisher.js';
import { headerValue, pub, statusOf } from './nats-frames.js';
import type { MsgFrame } from './nats-frames.js';
import type { NatsSocket } from './nats-socket.js';
import { bodyProblem, FOREIGN_SENDER, SEND_HEADER, SENDER_HEADER, topicOf } from './subjects.js';
import type { ClusterSettings } from './subjects.js';

/** How often the copy is checked for a stall, and how quiet it must have been. */
const STALL_CHECK_MS = 2000;
/** The consumer's heartbeat while it has nothing to send; two missed, it is taken for lost. */
const HEARTBEAT_MS = 1000;
const HEARTBEATS_MISSED = 2;
/** The server deletes a copy's consumer nobody listened to for this long. */
const CONSUMER_IDLE_MS = 60_000;
/** Where a delivery's reply subject ($JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<dseq>.<ts>.<pending>) has its stream sequence, without domain and account (9 tokens) or with them. */
const ACK_TOKENS_V1 = 9;

/** A delivery's stream sequence, delivery sequence and time (ns), from its reply subject; undefined if it has none. */
export function deliveryOf(reply: string): { seq: number; delivered: number; nanos: number } | undefined {
  if (!reply.startsWith('$JS.ACK.')) return undefined;
  // Where its dots are, found without an array: the numbers are the
  // 4th, 3rd and 2nd tokens from the end without a domain and account
  // (9 tokens), and from the end but one with them (11 or 12).
  let dots = 0;
  for (let at = reply.indexOf('.'); at >= 0; at = reply.indexOf('.', at + 1)) dots++;
  const base = dots + 1 === ACK_TOKENS_V1 ? 2 : 4;
  if (dots + 1 < base + 7) return undefined;
  // The dot before token `base + 3` (the stream sequence), counted from the start.
  let dot = -1;
  for (let i = 0; i < base + 3; i++) dot = reply.indexOf('.', dot + 1);
  const seqEnd = reply.indexOf('.', dot + 1);
  const deliveredEnd = reply.indexOf('.', seqEnd + 1);
  // At least one token (pending) follows the time: the count was checked.
  const nanosEnd = reply.indexOf('.', deliveredEnd + 1);
  const seq = decimalOf(reply, dot + 1, seqEnd);
  const delivered = decimalOf(reply, seqEnd + 1, deliveredEnd);
  const nanos = Number(reply.slice(deliveredEnd + 1, nanosEnd));
  return seq >= 0 && delivered >= 0 && Number.isFinite(nanos) ? { seq, delivered, nanos } : undefined;
}

/** The decimal number from `from` to `to` in `text` (a safe integer), or -1. */
function decimalOf(text: string, from: number, to: number): number {
  if (to <= from || to - from > 15) return -1;
  let value = 0;
  for (let i = from; i < to; i++) {
    const digit = text.charCodeAt(i) - 48;
    if (digit < 0 || digit > 9) return -1;
    value = value * 10 + digit;
  }
  return value;
}

export interface CopyParts {
  readonly nats: typeof import('nats');
  readonly nc: NatsConnection;
  /** The socket the consumer delivers on. */
  readonly wire: Pick<NatsSocket, 'subscribe' | 'unsubscribe' | 'write'>;
  /** Its deliver subjects are <inbox>.<n>. */
  readonly inbox: string;
  readonly settings: ClusterSettings;
  /** Where the copied messages go (the broker, through whatever the cluster adds). */
  readonly broker: Pick<Broker, 'ingest'>;
  readonly store: Store;
  /** This daemon's sends waiting for their message to come back. */
  readonly sends: InFlightSends;
  readonly logger: Logger;
}

export class StreamCopy {
  readonly #nats: typeof import('nats');
  readonly #nc: NatsConnection;
  readonly #wire: CopyParts['wire'];
  readonly #inbox: string;
  readonly #settings: ClusterSettings;
  readonly #broker: Pick<Broker, 'ingest'>;
  readonly #store: Store;
  readonly #sends: InFlightSends;
  readonly #logger: Logger;
  /** The subscription of the consumer's deliver subject. */
  #sid: number | undefined;
  /** When the consumer was last heard from (a message or a heartbeat). */
  #lastHeard = 0;
  /** Bumped whenever the consumer is replaced: messages of an older one are dropped. */
  #generation = 0;
  /** The highest stream sequence handed to the broker. */
  #ingested = 0;
  /** A commit failed (or the copy is new): it starts after the journal's last id. */
  #rewind = true;
  #resyncTimer: NodeJS.Timeout | undefined;
  readonly #stallTimer: NodeJS.Timeout;
  readonly #heartbeatTimer: NodeJS.Timeout;
  /** When the copy last brought a message (or started). */
  #lastCopied = 0;
  #stopped = false;

  private constructor(parts: CopyParts) {
    this.#nats = parts.nats;
    this.#nc = parts.nc;
    this.#wire = parts.wire;
    this.#inbox = parts.inbox;
    this.#settings = parts.settings;
    this.#broker = parts.broker;
    this.#store = parts.store;
    this.#sends = parts.sends;
    this.#logger = parts.logger;
    this.#stallTimer = setInterval(() => void this.#checkStall(), STALL_CHECK_MS);
    this.#stallTimer.unref();
    this.#heartbeatTimer = setInterval(() => this.#checkHeartbeat(), HEARTBEAT_MS);
    this.#heartbeatTimer.unref();
  }

  /** Starts copying; rejects if the consumer cannot be made. */
  static async start(parts: CopyParts): Promise<StreamCopy> {
    const copy = new StreamCopy(parts);
    try {
      await copy.#consume();
    } catch (error) {
      copy.stop();
      throw error;
    }
    return copy;
  }

  stop(): void {
    this.#stopped = true;
    this.#generation++;
    clearTimeout(this.#resyncTimer);
    clearInterval(this.#stallTimer);
    clearInterval(this.#heartbeatTimer);
    this.#unsubscribe();
  }

  #unsubscribe(): void {
    if (this.#sid !== undefined) this.#wire.unsubscribe(this.#sid);
    this.#sid = undefined;
  }

  /** (Re)starts copying, after what was handed to the broker, or after the journal's last id. */
  async #consume(): Promise<void> {
    const generation = ++this.#generation;
    this.#unsubscribe();
    // After a failed commit the broker dropped what it held: the journal
    // says where to go on. Otherwise what was handed to the broker is
    // committed in this turn, and the copy goes on after it.
    if (this.#rewind) this.#ingested = this.#store.reader.lastId();
    this.#rewind = false;
    const from = this.#ingested + 1;
    // Listening before the consumer exists: nothing it sends is missed.
    const deliverTo = `${this.#inbox}.${generation}`;
    let delivered = 0;
    this.#lastHeard = Date.now();
    this.#sid = this.#wire.subscribe(deliverTo, (frame) => {
      if (generation !== this.#generation) return;
      this.#lastHeard = Date.now();
      delivered = this.#delivery(frame, delivered);
    });
    const { AckPolicy, DeliverPolicy, nanos } = this.#nats;
    // A plain ephemeral push consumer, no acks, with flow control, that the
    // server drops once nobody listens: its delivery sequence shows any
    // message lost on the way, its heartbeats a consumer lost with its
    // node, and then the copy starts again from the journal.
    const jsm = await this.#nc.jetstreamManager();
    await jsm.consumers.add(this.#settings.stream, {
      ack_policy: AckPolicy.None,
      deliver_policy: DeliverPolicy.StartSequence,
      opt_start_seq: from,
      deliver_subject: deliverTo,
      flow_control: true,
      idle_heartbeat: nanos(HEARTBEAT_MS),
      mem_storage: true,
      num_replicas: 1,
      inactive_threshold: nanos(CONSUMER_IDLE_MS),
    });
    this.#lastCopied = Date.now();
    this.#lastHeard = Date.now();
  }

  /**
   * One frame on the deliver subject: a message of the stream, or the
   * consumer's heartbeat or flow control. Returns the delivery sequence
   * seen so far; a gap starts the copy again.
   */
  #delivery(frame: MsgFrame, delivered: number): number {
    const headers = frame.headers;
    const status = headers === undefined ? undefined : statusOf(headers);
    if (status !== undefined && status.code !== 0) {
      if (status.code !== 100) {
        this.#logger.log('debug', `cluster: the copy's consumer said ${status.code} ${status.description}`);
        return delivered;
      }
      // Flow control asks for an answer; a stalled consumer names where to answer.
      if (frame.reply !== '') this.#wire.write(pub(frame.reply, '', ''));
      const stalled = headerValue(headers as string, 'Nats-Consumer-Stalled');
      if (stalled) this.#wire.write(pub(stalled, '', ''));
      const last = Number(headerValue(headers as string, 'Nats-Last-Consumer') ?? 0);
      if (last > delivered) this.#skipped(last, delivered);
      return delivered;
    }
    const delivery = deliveryOf(frame.reply);
    if (delivery === undefined) {
      this.#logger.log('warn', `cluster: the copy got a message with no stream sequence (reply '${frame.reply}'); starting it again after id ${this.#ingested}`);
      this.#resync(0);
      return delivered;
    }
    if (delivery.delivered !== delivered + 1) {
      this.#skipped(delivery.delivered, delivered);
      return delivered;
    }
    this.#ingest(frame, headers, delivery.seq, delivery.nanos);
    return delivery.delivered;
  }

  #skipped(delivery: number, delivered: number): void {
    this.#logger.log('warn', `cluster: the copy of the stream skipped (delivery ${delivery}, not ${delivered + 1}); starting it again after id ${this.#ingested}`);
    this.#resync(0);
  }

  /**
   * The consumer lives on one NATS node: when the node dies (or the
   * socket's connection goes), its heartbeats stop, and two missed start
   * a new one, after what was copied.
   */
  #checkHeartbeat(): void {
    if (this.#stopped || this.#resyncTimer !== undefined || this.#sid === undefined) return;
    if (Date.now() - this.#lastHeard <= HEARTBEATS_MISSED * HEARTBEAT_MS) return;
    this.#logger.log('warn', `cluster: the copy of the stream stopped (heartbeats missed); starting it again after id ${this.#store.reader.lastId()}`);
    this.#resync(0);
  }

  /**
   * The last resort against a copy that stopped without a sign (its
   * node died while the connection moved to another): quiet for a while
   * while the stream has more than the journal, it starts again.
   */
  async #checkStall(): Promise<void> {
    if (this.#stopped || this.#resyncTimer !== undefined || Date.now() - this.#lastCopied < STALL_CHECK_MS) return;
    try {
      const info = await (await this.#nc.jetstreamManager()).streams.info(this.#settings.stream);
      if (info.state.last_seq <= this.#ingested || Date.now() - this.#lastCopied < STALL_CHECK_MS) return;
      this.#logger.log('warn', `cluster: the copy of the stream stalled at id ${this.#ingested} of ${info.state.last_seq}; starting it again`);
      this.#resync(0);
    } catch (error) {
      this.#logger.log('debug', `cluster: stall check: ${(error as Error).message}`);
    }
  }

  #ingest(frame: MsgFrame, headers: string | undefined, id: number, nanos: number): void {
    this.#lastCopied = Date.now();
    // A consumer made again may start before what was copied: nothing twice.
    if (id <= this.#ingested) return;
    this.#ingested = id;
    const where = topicOf(this.#settings.stream, frame.subject);
    const body = frame.payload;
    const problem = 'problem' in where ? where.problem : bodyProblem(body);
    if (problem !== undefined || !('topic' in where)) {
      this.#logger.log('warn', `cluster: stream message ${id} is not a linebus message (${problem}); not journaled`, { subject: frame.subject });
      return;
    }
    const claim = headers === undefined ? undefined : this.#sends.claim(headerValue(headers, SEND_HEADER) || undefined);
    this.#broker.ingest({
      id,
      ts: Math.floor(nanos / 1e6),
      topic: where.topic,
      sender: (headers === undefined ? undefined : headerValue(headers, SENDER_HEADER)) || FOREIGN_SENDER,
      body,
      origin: claim?.origin,
      done: (result) => {
        claim?.journaled(result);
        if (typeof result === 'number') return;
        this.#rewind = true;
        this.#resync();
      },
    });
  }

  /**
   * A commit of the journal failed: what it held is taken from the stream
   * again, after a pause (a full disk or a held lock is not over at once).
   */
  #resync(pauseMs = 1000): void {
    if (this.#resyncTimer !== undefined || this.#stopped) return;
    this.#generation++;
    this.#unsubscribe();
    this.#resyncTimer = setTimeout(() => {
      this.#resyncTimer = undefined;
      this.#consume().catch((error: Error) => {
        this.#logger.log('error', `cluster: cannot copy the stream again: ${error.message}`);
        this.#resync();
      });
    }, pauseMs);
    this.#resyncTimer.unref();
  }
}
