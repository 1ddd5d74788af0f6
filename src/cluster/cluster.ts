/**
 * Cluster mode (CLI.md, "Cluster"): this daemon is one door of a bus whose
 * messages live in one JetStream stream. Sends are published to the stream
 * (publisher.ts); a consumer copies the stream, in order, into the
 * journal through Broker.ingest (copy.ts), which delivers to this daemon's clients.
 * The daemon starts whether or not NATS answers: until the stream is
 * reachable, sends get `err busy` and the journal's history stays readable.
 * The daemons answer one another's questions (peers.ts: `who all`,
 * `pending`, replies to requests asked elsewhere) and may share their
 * users (users.ts).
 */
import { randomBytes } from 'node:crypto';
import type { NatsConnection } from 'nats';
import type { Broker } from '../bus/broker.js';
import type { Ingested, Publication, Upstream, UpstreamBus } from '../bus/upstream.js';
import type { Journal } from '../store/journal.js';
import type { Cursors } from '../bus/cursors.js';
import type { ClusterView, DaemonAnswer, RowOf, ViewQuestion } from '../handlers/views.js';
import { Buckets } from './buckets.js';
import type { ClusterDaemon } from './buckets.js';
import { Peers } from './peers.js';
import { ClusterGroups } from './groups.js';
import type { JobCounters } from '../queue/queue.js';
import type { Logger } from '../log.js';
import { ProtocolError } from '../protocol/errors.js';
import type { Store } from '../store/store.js';
import { identityProblem } from '../store/cluster.js';
import { InFlightSends, outbound, pubAckOf } from './publisher.js';
import { SEND_HEADER, SENDER_HEADER, subjectOf } from './subjects.js';
import { NatsSocket } from './nats-socket.js';
import { version } from '../version.js';
import type { ClusterSettings } from './subjects.js';
import { ensureStream } from './stream.js';
import { StreamCopy } from './copy.js';

/** How long a send waits for JetStream's PubAck before it is refused. */
export const PUBACK_TIMEOUT_MS = 5000;
/** Bytes of a send's NATS headers besides its sender, at most (names, the send's name, separators). */
const HEADER_ROOM = 128;
/** How often sends are checked for a PubAck that did not come. */
const SWEEP_MS = 500;
/** The wait between attempts to reach NATS. */
const CONNECT_RETRY_MS = 1000;
/** Waits between attempts to set the stream up, doubling up to the last. */
const SETUP_RETRY_MS = [500, 1000, 2000, 5000, 10_000];
/** The topics of answers to requests. */
const REPLY_PREFIX = '$reply.';
export type ClusterState = 'connecting' | 'setting up' | 'ready' | 'disconnected' | 'refused' | 'stopped';

/** The parts of the bus the cluster serves. */
export interface ClusterBus {
  readonly broker: Broker;
  readonly cursors: Cursors;
  readonly counters: JobCounters;
  readonly limits: { readonly maxAckPending: number };
}

export class Cluster implements Upstream, ClusterView {
  /** Queue groups, kept by JetStream's durable consumers. */
  readonly groups: ClusterGroups;
  readonly #settings: ClusterSettings;
  readonly #broker: Broker;
  readonly #store: Store;
  readonly #logger: Logger;
  /** This daemon's start, for the other daemons and the names of its sends. */
  readonly #id = `${process.pid.toString(36)}${randomBytes(4).toString('hex')}`;
  readonly #sends = new InFlightSends(this.#id);
  readonly #peers: Peers;
  readonly #buckets: Buckets;
  #daemon: ClusterDaemon | undefined;
  /** The client library, loaded when cluster mode starts. */
  #nats: typeof import('nats') | undefined;
  #nc: NatsConnection | undefined;
  /** The connection of the sends and their PubAcks, framed by this daemon (nats-socket.ts). */
  #wire: NatsSocket | undefined;
  /** Where PubAcks come: <inbox>.<number of the send>. */
  #inbox = '';
  /** Refuses sends whose PubAck did not come in time. */
  #sweep: NodeJS.Timeout | undefined;
  #state: ClusterState = 'connecting';
  /** Why sends are refused while not ready. */
  #why = 'the cluster (NATS) is not reachable yet';
  #copy: StreamCopy | undefined;
  readonly #ready: Promise<void>;
  #onReady: (() => void) | undefined;
  /** The first attempt to connect or to set the stream up failed: start-up need not wait. */
  #onFirstFailure: (() => void) | undefined;

  constructor(settings: ClusterSettings, { broker, cursors, counters, limits }: ClusterBus, store: Store, logger: Logger) {
    this.#settings = settings;
    this.#broker = broker;
    this.groups = new ClusterGroups({ stream: settings.stream, broker, counters, limits, logger });
    this.#store = store;
    this.#logger = logger;
    this.#ready = new Promise((resolve) => (this.#onReady = resolve));
    this.#peers = new Peers({ id: this.#id, stream: settings.stream, logger, reachable: () => this.#state === 'ready' });
    this.#buckets = new Buckets({ settings, cursors, peers: this.#peers, logger });
  }

  get name(): string {
    return this.#peers.name;
  }

  get state(): ClusterState {
    return this.#state;
  }

  /** Resolves once the stream is set up and copied from, or the daemon gave up on it for good. */
  ready(): Promise<void> {
    return this.#ready;
  }

  /**
   * Connects in the background, for ever, until stop(); resolves once the
   * stream is ready, once a first attempt failed (what follows are
   * retries, logged), or after `waitMs`, whichever comes first.
   */
  async start(waitMs: number, daemon: ClusterDaemon): Promise<void> {
    this.#daemon = daemon;
    const failed = new Promise<void>((resolve) => (this.#onFirstFailure = resolve));
    void this.#run();
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.#ready, failed, new Promise((resolve) => (timer = setTimeout(resolve, waitMs)))]);
    clearTimeout(timer);
  }

  /** The stream's messages carry its sequence numbers, and are journaled in its order. */
  readonly numbered = true;

  publish(publication: Publication, bus: UpstreamBus): void {
    const wire = this.#wire;
    if (this.#state !== 'ready' || wire === undefined || !wire.connected) {
      const why = this.#state === 'ready' ? "the cluster's NATS connection for sends is down and no server answers yet" : this.#why;
      publication.done(new ProtocolError('busy', `${why}; nothing was sent, try again`));
      return;
    }
    const bodySize = Buffer.byteLength(publication.body);
    if (bodySize + Buffer.byteLength(publication.sender) + HEADER_ROOM > wire.maxPayload) {
      publication.done(new ProtocolError('toolong', `the message is over what the cluster's NATS servers take (max_payload ${wire.maxPayload} bytes, less ${HEADER_ROOM} for its headers); nothing was sent`));
      return;
    }
    const number = this.#sends.add(outbound(publication, bus));
    wire.hpub(subjectOf(this.#settings.stream, publication.topic), `${this.#inbox}.${number}`, [SENDER_HEADER, publication.sender, SEND_HEADER, this.#sends.name(number)], publication.body, bodySize);
  }

  /** What the copy brought: journaled with the stream's ids and times. */
  append(journal: Journal, batch: Publication[], _now: number, alsoWrite: (() => void) | undefined): number {
    return journal.appendNumbered(batch as Ingested[], alsoWrite);
  }

  ask<Q extends ViewQuestion>(question: Q): Promise<DaemonAnswer<RowOf<Q>>[]> {
    return this.#peers.ask(question);
  }

  claim(id: number, responder: string): Promise<(() => void) | undefined> {
    return this.#peers.claim(id, responder);
  }

  groupPattern(name: string): Promise<string | undefined> {
    return this.groups.patternOf(name);
  }

  async refresh(): Promise<void> {
    if (this.#state === 'ready') await this.groups.refresh();
  }

  /** What `stats` shows of the cluster. */
  stats(): [string, string | number][] {
    const counts = this.groups.counts;
    return [
      ['cluster', this.#state],
      ['cluster_name', this.name || '-'],
      ['cluster_server', this.#nc?.getServer() ?? '-'],
      ['cluster_stream', this.#settings.stream],
      ['cluster_sends_in_flight', this.#sends.size],
      ['cluster_daemons', this.#peers.size],
      ['cluster_groups', counts?.groups ?? '-'],
      ['cluster_jobs_pending', counts?.pending ?? '-'],
      ['cluster_jobs_waiting', counts?.waiting ?? '-'],
    ];
  }

  async stop(): Promise<void> {
    this.#state = 'stopped';
    this.#copy?.stop();
    clearInterval(this.#sweep);
    this.#buckets.stop();
    this.groups.stop();
    this.#sends.refuseAll('the server is stopping');
    this.#wire?.close();
    await this.#nc?.close();
  }

  async #run(): Promise<void> {
    const nats = await import('nats');
    this.#nats = nats;
    const servers = this.#settings.urls.join(',');
    this.#logger.log('info', `cluster: connecting to ${servers}`, { stream: this.#settings.stream });
    let nc: NatsConnection | undefined;
    // Once connected the client reconnects by itself, for ever; until the
    // first connection, this loop retries (stop() ends it).
    for (let attempt = 0; nc === undefined; attempt++) {
      if (this.#state === 'stopped') return;
      try {
        nc = await nats.connect({ servers: [...this.#settings.urls], name: `linebus ${process.pid}`, maxReconnectAttempts: -1, reconnectTimeWait: CONNECT_RETRY_MS });
      } catch (error) {
        const level = attempt === 0 ? 'error' : 'debug';
        this.#logger.log(level, `cluster: cannot reach NATS at ${servers} (${(error as Error).message}); sends get err busy until it answers (still trying)`);
        this.#onFirstFailure?.();
        await new Promise((resolve) => setTimeout(resolve, CONNECT_RETRY_MS).unref());
      }
    }
    if (this.#state === 'stopped') {
      await nc.close();
      return;
    }
    this.#nc = nc;
    this.#inbox = nats.createInbox();
    const wire = new NatsSocket({ urls: this.#settings.urls, name: `linebus ${process.pid} sends`, version: version(), logger: this.#logger });
    wire.subscribe(`${this.#inbox}.*`, (frame) => this.#sends.answered(Number(frame.subject.slice(this.#inbox.length + 1)), pubAckOf(frame)));
    wire.start();
    this.#wire = wire;
    this.#sweep = setInterval(() => this.#sends.expire(Date.now() - PUBACK_TIMEOUT_MS), SWEEP_MS);
    this.#sweep.unref();
    this.#logger.log('info', `cluster: connected to ${nc.getServer()}`);
    void this.#watch(nc);
    await this.#setUp(nc);
  }

  /** Sets the stream up, retrying while JetStream is not ready (a cluster electing a leader). */
  async #setUp(nc: NatsConnection): Promise<void> {
    this.#state = 'setting up';
    this.#why = 'the cluster stream is being set up';
    await (this.#wire as NatsSocket).connection();
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
        this.#copy?.stop();
        const nats = this.#nats as typeof import('nats');
        this.#copy = await StreamCopy.start({ nats, nc, wire: this.#wire as NatsSocket, inbox: nats.createInbox(), settings: this.#settings, broker: { ingest: (message) => this.#ingest(message) }, store, sends: this.#sends, logger: this.#logger });
        await this.#buckets.start(nats, nc, this.#daemon as ClusterDaemon);
        this.groups.connected(nats, nc, await nc.jetstreamManager());
        this.#state = 'ready';
        this.#logger.log('notice', `cluster: stream ${this.#settings.stream} ready, journal at id ${from - 1} of ${info.state.last_seq}`, { server: nc.getServer() });
        this.#onReady?.();
        return;
      } catch (error) {
        const wait = SETUP_RETRY_MS[Math.min(attempt, SETUP_RETRY_MS.length - 1)] as number;
        this.#logger.log(attempt === 0 ? 'warn' : 'error', `cluster: cannot set up stream ${this.#settings.stream}: ${(error as Error).message}; retrying in ${wait} ms`);
        this.#onFirstFailure?.();
        await new Promise((resolve) => setTimeout(resolve, wait).unref());
      }
    }
  }

  /** What the copy hands the broker: a `$reply.<id>` journaled here may be the answer a client here waits for. */
  #ingest(message: Ingested): void {
    if (!message.topic.startsWith(REPLY_PREFIX)) {
      this.#broker.ingest(message);
      return;
    }
    const requests = (this.#daemon as ClusterDaemon).requests;
    this.#broker.ingest({
      ...message,
      done: (result) => {
        message.done(result);
        if (typeof result === 'number') requests.answered(Number(message.topic.slice(REPLY_PREFIX.length)), message.sender, message.body);
      },
    });
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
    // Start-up waits no longer: this will not change.
    this.#onReady?.();
  }
}
