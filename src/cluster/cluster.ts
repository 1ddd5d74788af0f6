/**
 * Cluster mode (CLI.md, "Cluster"): this daemon is one door of a bus whose
 * messages live in one JetStream stream. Sends are published to the stream
 * (publisher.ts); an ordered consumer copies the stream, in order, into the
 * journal through Broker.ingest, which delivers to this daemon's clients.
 * The daemon starts whether or not NATS answers: until the stream is
 * reachable, sends get `err busy` and the journal's history stays readable.
 */
import { randomBytes } from 'node:crypto';
import type { JetStreamClient, JsMsg, NatsConnection, ConsumerMessages } from 'nats';
import type { Broker, Publication, Upstream } from '../bus/broker.js';
import type { Logger } from '../log.js';
import { ProtocolError } from '../protocol/errors.js';
import type { Store } from '../store/store.js';
import { identityProblem } from '../store/cluster.js';
import { InFlightSends } from './publisher.js';
import { bodyProblem, FOREIGN_SENDER, SENDER_HEADER, subjectOf, topicOf } from './subjects.js';
import type { ClusterSettings } from './subjects.js';
import { ensureStream } from './stream.js';

/** How long a send waits for JetStream's PubAck before it is refused. */
export const PUBACK_TIMEOUT_MS = 5000;
/** Unreachable at start for this long: logged as an error (and retried for ever). */
const UNREACHABLE_LOG_MS = 2000;
/** Waits between attempts to set the stream up, doubling up to the last. */
const SETUP_RETRY_MS = [500, 1000, 2000, 5000, 10_000];
/** How often the copy is checked for a stall, and how quiet it must have been. */
const STALL_CHECK_MS = 2000;
/** Messages the consumer asks for at a time. */
const CONSUME_BATCH = 1024;
/** A pull request's life, and the heartbeat within it. */
const PULL_EXPIRES_MS = 5000;
const PULL_HEARTBEAT_MS = 1000;

export type ClusterState = 'connecting' | 'setting up' | 'ready' | 'disconnected' | 'refused' | 'stopped';

export class Cluster implements Upstream {
  readonly #settings: ClusterSettings;
  readonly #broker: Broker;
  readonly #store: Store;
  readonly #logger: Logger;
  readonly #sends = new InFlightSends(`${process.pid.toString(36)}${randomBytes(4).toString('hex')}`);
  /** The client library, loaded when cluster mode starts. */
  #nats: typeof import('nats') | undefined;
  #nc: NatsConnection | undefined;
  #js: JetStreamClient | undefined;
  #state: ClusterState = 'connecting';
  /** Why sends are refused while not ready. */
  #why = 'the cluster (NATS) is not reachable yet';
  #messages: ConsumerMessages | undefined;
  /** Bumped whenever the consumer is replaced: messages of an older one are dropped. */
  #generation = 0;
  /** The highest stream sequence handed to the broker. */
  #ingested = 0;
  /** A commit failed: the copy starts again after the journal's last id. */
  #rewind = true;
  #resyncTimer: NodeJS.Timeout | undefined;
  #stallTimer: NodeJS.Timeout | undefined;
  /** When the copy last brought a message (or started). */
  #lastCopied = 0;
  readonly #ready: Promise<void>;
  #onReady: (() => void) | undefined;

  constructor(settings: ClusterSettings, broker: Broker, store: Store, logger: Logger) {
    this.#settings = settings;
    this.#broker = broker;
    this.#store = store;
    this.#logger = logger;
    this.#ready = new Promise((resolve) => (this.#onReady = resolve));
    broker.upstream = this;
  }

  get state(): ClusterState {
    return this.#state;
  }

  /** Resolves once the stream is set up and copied from (tests, start-up logs). */
  ready(): Promise<void> {
    return this.#ready;
  }

  /** Connects in the background, for ever, until stop(). */
  start(): void {
    void this.#run();
  }

  publish(publication: Publication): void {
    const js = this.#js;
    if (this.#state !== 'ready' || js === undefined) {
      publication.done(new ProtocolError('busy', `${this.#why}; nothing was sent, try again`));
      return;
    }
    const msgId = this.#sends.add(publication);
    const headers = (this.#nats as typeof import('nats')).headers();
    headers.set(SENDER_HEADER, publication.sender);
    js.publish(subjectOf(this.#settings.stream, publication.topic), Buffer.from(publication.body), { msgID: msgId, headers, timeout: PUBACK_TIMEOUT_MS }).then(
      (ack) => this.#sends.acked(msgId, ack.seq),
      (error: Error) => this.#sends.failed(msgId, error),
    );
  }

  /** What `stats` shows of the cluster. */
  stats(): [string, string | number][] {
    return [
      ['cluster', this.#state],
      ['cluster_server', this.#nc?.getServer() ?? '-'],
      ['cluster_stream', this.#settings.stream],
      ['cluster_sends_in_flight', this.#sends.size],
    ];
  }

  async stop(): Promise<void> {
    this.#state = 'stopped';
    this.#generation++;
    clearTimeout(this.#resyncTimer);
    clearInterval(this.#stallTimer);
    this.#messages?.stop();
    this.#sends.refuseAll('the server is stopping');
    await this.#nc?.close();
  }

  async #run(): Promise<void> {
    const nats = await import('nats');
    this.#nats = nats;
    const servers = this.#settings.urls.join(',');
    const unreachable = setTimeout(() => {
      this.#logger.log('error', `cluster: cannot reach NATS at ${servers}; sends get err busy until it answers (still trying)`);
    }, UNREACHABLE_LOG_MS);
    unreachable.unref();
    this.#logger.log('info', `cluster: connecting to ${servers}`, { stream: this.#settings.stream });
    let nc: NatsConnection;
    try {
      nc = await nats.connect({
        servers: [...this.#settings.urls],
        name: `linebus ${process.pid}`,
        waitOnFirstConnect: true,
        maxReconnectAttempts: -1,
        reconnectTimeWait: 1000,
      });
    } catch (error) {
      clearTimeout(unreachable);
      this.#refuse(`cluster: cannot use NATS at ${servers}: ${(error as Error).message}`);
      return;
    }
    clearTimeout(unreachable);
    if (this.#state === 'stopped') {
      await nc.close();
      return;
    }
    this.#nc = nc;
    this.#js = nc.jetstream();
    this.#logger.log('info', `cluster: connected to ${nc.getServer()}`);
    void this.#watch(nc);
    await this.#setUp(nc);
  }

  /** Sets the stream up, retrying while JetStream is not ready (a cluster electing a leader). */
  async #setUp(nc: NatsConnection): Promise<void> {
    this.#state = 'setting up';
    this.#why = 'the cluster stream is being set up';
    for (let attempt = 0; this.#state === 'setting up'; attempt++) {
      try {
        const info = await ensureStream(nc, this.#settings, this.#logger);
        const identity = { stream: info.config.name, created: info.created };
        const store = this.#store;
        const problem = identityProblem(store.path, store.cluster.identity(), store.reader.lastId(), identity, info.state.last_seq);
        if (problem !== undefined) {
          this.#refuse(`cluster: ${problem}`);
          return;
        }
        if (store.cluster.identity() === undefined) store.cluster.claim(identity);
        const from = store.reader.lastId() + 1;
        if (info.state.messages > 0 && info.state.first_seq > from) {
          this.#logger.log('warn', `cluster: ids ${from} to ${info.state.first_seq - 1} are gone from the stream (its limits); the journal goes on from ${info.state.first_seq}`);
        }
        await this.#consume();
        this.#stallTimer = setInterval(() => void this.#checkStall(nc), STALL_CHECK_MS);
        this.#stallTimer.unref();
        this.#state = 'ready';
        this.#logger.log('notice', `cluster: stream ${this.#settings.stream} ready, journal at id ${from - 1} of ${info.state.last_seq}`, { server: nc.getServer() });
        this.#onReady?.();
        return;
      } catch (error) {
        const wait = SETUP_RETRY_MS[Math.min(attempt, SETUP_RETRY_MS.length - 1)] as number;
        this.#logger.log(attempt === 0 ? 'warn' : 'error', `cluster: cannot set up stream ${this.#settings.stream}: ${(error as Error).message}; retrying in ${wait} ms`);
        await new Promise((resolve) => setTimeout(resolve, wait).unref());
      }
    }
  }

  /** Starts copying the stream from the journal's last id on. */
  async #consume(): Promise<void> {
    const js = this.#js as JetStreamClient;
    const generation = ++this.#generation;
    this.#messages?.stop();
    // After a failed commit the broker dropped what it held: the journal
    // says where to go on. Otherwise what was handed to the broker is
    // committed in this turn, and the copy goes on after it.
    if (this.#rewind) this.#ingested = this.#store.reader.lastId();
    this.#rewind = false;
    const from = this.#ingested + 1;
    const { DeliverPolicy } = this.#nats as typeof import('nats');
    const consumer = await js.consumers.get(this.#settings.stream, { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: from });
    // Short pulls with frequent heartbeats: a consumer lost with its NATS
    // node is noticed (two missed heartbeats) and made again in seconds.
    this.#lastCopied = Date.now();
    const messages = await consumer.consume({ max_messages: CONSUME_BATCH, expires: PULL_EXPIRES_MS, idle_heartbeat: PULL_HEARTBEAT_MS });
    this.#messages = messages;
    void (async () => {
      for await (const message of messages) {
        if (generation !== this.#generation) break;
        this.#ingest(message);
      }
    })();
    void this.#watchConsumer(messages, generation);
  }

  /**
   * The consumer lives on one NATS node. When that node dies the client
   * library does not always make it again (seen with nats-server 2.9), so
   * two missed heartbeats or a consumer gone start a new one here, from
   * the journal's last id.
   */
  async #watchConsumer(messages: ConsumerMessages, generation: number): Promise<void> {
    const { ConsumerEvents } = this.#nats as typeof import('nats');
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
  async #checkStall(nc: NatsConnection): Promise<void> {
    if (this.#state !== 'ready' || this.#resyncTimer !== undefined || Date.now() - this.#lastCopied < STALL_CHECK_MS) return;
    try {
      const info = await (await nc.jetstreamManager()).streams.info(this.#settings.stream);
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
    // An ordered consumer made again starts where it stopped: nothing twice.
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
    const claim = this.#sends.claim(headers?.get('Nats-Msg-Id') || undefined);
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
    if (this.#resyncTimer !== undefined || this.#state === 'stopped') return;
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

  /** Logs the connection's ups and downs; sends are refused while it is down. */
  async #watch(nc: NatsConnection): Promise<void> {
    for await (const status of nc.status()) {
      if (status.type === 'disconnect') {
        if (this.#state === 'ready') this.#state = 'disconnected';
        this.#why = `the cluster's NATS server ${String(status.data)} is gone and no other answers yet`;
        this.#logger.log('warn', `cluster: lost NATS server ${String(status.data)}; sends get err busy until one answers`);
      } else if (status.type === 'reconnect') {
        if (this.#state === 'disconnected') this.#state = 'ready';
        this.#logger.log('notice', `cluster: reconnected to NATS server ${String(status.data)}`);
      } else if (status.type === 'error') {
        this.#logger.log('error', `cluster: NATS error: ${String(status.data)}`);
      }
    }
  }

  /** For good: sends are refused and the journal stays as it is, readable. */
  #refuse(why: string): void {
    this.#state = 'refused';
    this.#why = 'this daemon cannot use the cluster (see its log)';
    this.#logger.log('error', `${why}; sends get err busy`);
  }
}
