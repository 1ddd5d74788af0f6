/**
 * The copy of the cluster's stream into this daemon's journal: an
 * ephemeral consumer from the journal's last id on, each message handed to
 * Broker.ingest (which journals it with the stream's id, then delivers).
 * A copy that stops (its NATS node died, a commit failed) starts again
 * where the journal is.
 */
import type { ConsumerMessages, JsMsg, NatsConnection } from 'nats';
import type { Broker } from '../bus/broker.js';
import type { Logger } from '../log.js';
import type { Store } from '../store/store.js';
import type { InFlightSends } from './publisher.js';
import { bodyProblem, FOREIGN_SENDER, SEND_HEADER, SENDER_HEADER, topicOf } from './subjects.js';
import type { ClusterSettings } from './subjects.js';

/** How often the copy is checked for a stall, and how quiet it must have been. */
const STALL_CHECK_MS = 2000;
/** Messages the consumer asks for at a time. */
const CONSUME_BATCH = 1024;
/** A pull request's life, and the heartbeat within it. */
const PULL_EXPIRES_MS = 5000;
const PULL_HEARTBEAT_MS = 1000;
/** The server deletes a copy's consumer nobody pulled from for this long. */
const CONSUMER_IDLE_MS = 60_000;

export interface CopyParts {
  readonly nats: typeof import('nats');
  readonly nc: NatsConnection;
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
  readonly #settings: ClusterSettings;
  readonly #broker: Pick<Broker, 'ingest'>;
  readonly #store: Store;
  readonly #sends: InFlightSends;
  readonly #logger: Logger;
  #messages: ConsumerMessages | undefined;
  /** Bumped whenever the consumer is replaced: messages of an older one are dropped. */
  #generation = 0;
  /** The highest stream sequence handed to the broker. */
  #ingested = 0;
  /** A commit failed (or the copy is new): it starts after the journal's last id. */
  #rewind = true;
  #resyncTimer: NodeJS.Timeout | undefined;
  readonly #stallTimer: NodeJS.Timeout;
  /** When the copy last brought a message (or started). */
  #lastCopied = 0;
  #stopped = false;

  private constructor(parts: CopyParts) {
    this.#nats = parts.nats;
    this.#nc = parts.nc;
    this.#settings = parts.settings;
    this.#broker = parts.broker;
    this.#store = parts.store;
    this.#sends = parts.sends;
    this.#logger = parts.logger;
    this.#stallTimer = setInterval(() => void this.#checkStall(), STALL_CHECK_MS);
    this.#stallTimer.unref();
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
    this.#messages?.stop();
  }

  /** (Re)starts copying, after what was handed to the broker, or after the journal's last id. */
  async #consume(): Promise<void> {
    const generation = ++this.#generation;
    this.#messages?.stop();
    // After a failed commit the broker dropped what it held: the journal
    // says where to go on. Otherwise what was handed to the broker is
    // committed in this turn, and the copy goes on after it.
    if (this.#rewind) this.#ingested = this.#store.reader.lastId();
    this.#rewind = false;
    const from = this.#ingested + 1;
    const { AckPolicy, DeliverPolicy, nanos } = this.#nats;
    // A plain ephemeral consumer, no acks, that the server drops once this
    // daemon stops pulling: its delivery sequence shows any message lost
    // on the way, and then the copy starts again from the journal.
    const jsm = await this.#nc.jetstreamManager();
    const info = await jsm.consumers.add(this.#settings.stream, {
      ack_policy: AckPolicy.None,
      deliver_policy: DeliverPolicy.StartSequence,
      opt_start_seq: from,
      mem_storage: true,
      num_replicas: 1,
      inactive_threshold: nanos(CONSUMER_IDLE_MS),
    });
    const consumer = await this.#nc.jetstream().consumers.get(this.#settings.stream, info.name);
    this.#lastCopied = Date.now();
    // Short pulls with frequent heartbeats: a consumer lost with its NATS
    // node is noticed (two missed heartbeats) and made again in seconds.
    // Messages come to a callback, each as nats.js parsed it: no promise
    // per message, as iterating them would make.
    let delivered = 0;
    const messages = await consumer.consume({
      max_messages: CONSUME_BATCH,
      expires: PULL_EXPIRES_MS,
      idle_heartbeat: PULL_HEARTBEAT_MS,
      callback: (message) => {
        if (generation !== this.#generation) return;
        if (message.info.deliverySequence !== ++delivered) {
          this.#logger.log('warn', `cluster: the copy of the stream skipped (delivery ${message.info.deliverySequence}, not ${delivered}); starting it again after id ${this.#ingested}`);
          this.#resync(0);
          return;
        }
        this.#ingest(message);
      },
    });
    // Stopped or replaced while it was being made.
    if (generation !== this.#generation) {
      messages.stop();
      return;
    }
    this.#messages = messages;
    void this.#watchConsumer(messages, generation);
  }

  /**
   * The consumer lives on one NATS node. When that node dies, two missed
   * heartbeats or a consumer gone start a new one, after what was copied.
   */
  async #watchConsumer(messages: ConsumerMessages, generation: number): Promise<void> {
    const { ConsumerEvents } = this.#nats;
    for await (const status of await messages.status()) {
      if (generation !== this.#generation) return;
      this.#logger.log('debug', `cluster: consumer ${status.type}`, { data: String(status.data) });
      const lost =
        (status.type === ConsumerEvents.HeartbeatsMissed && Number(status.data) >= 2) ||
        status.type === ConsumerEvents.ConsumerNotFound ||
        status.type === ConsumerEvents.ConsumerDeleted;
      if (!lost) continue;
      this.#logger.log('warn', `cluster: the copy of the stream stopped (${status.type}); starting it again after id ${this.#store.reader.lastId()}`);
      this.#resync(0);
      return;
    }
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

  #ingest(message: JsMsg): void {
    this.#lastCopied = Date.now();
    const id = message.seq;
    // A consumer made again may start before what was copied: nothing twice.
    if (id <= this.#ingested) return;
    this.#ingested = id;
    const where = topicOf(this.#settings.stream, message.subject);
    const body = message.string();
    const problem = 'problem' in where ? where.problem : bodyProblem(body);
    if (problem !== undefined || !('topic' in where)) {
      this.#logger.log('warn', `cluster: stream message ${id} is not a linebus message (${problem}); not journaled`, { subject: message.subject });
      return;
    }
    const headers = message.headers;
    const claim = this.#sends.claim(headers?.get(SEND_HEADER) || undefined);
    this.#broker.ingest({
      id,
      ts: Math.floor(message.info.timestampNanos / 1e6),
      topic: where.topic,
      sender: headers?.get(SENDER_HEADER) || FOREIGN_SENDER,
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
    this.#messages?.stop();
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
