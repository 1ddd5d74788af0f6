/**
 * The daemon, assembled: the store, the bus (turn, broker, feed, policy,
 * stats), the listeners, and a session per connection. It starts, reports
 * and stops them; it never reaches into a session.
 */
import { hostname } from 'node:os';
import { assembleBus } from './assemble.js';
import type { Bus, UpstreamMaker } from './assemble.js';
import { Stats } from './bus/stats.js';
import { Turn } from './bus/turn.js';
import { silentLogger } from './log.js';
import type { Logger } from './log.js';
import { Registry } from './session/registry.js';
import { Session } from './session/session.js';
import type { SessionServices } from './session/session.js';
import { Checkpointer } from './store/checkpointer.js';
import { JournalLock } from './store/lock.js';
import { Retention } from './store/retention.js';
import { Store } from './store/store.js';
import type { SyncMode } from './store/store.js';
import { version } from './version.js';
import { openFileLimit } from './util/files.js';
import { DEFAULTS, limitsFrom } from './limits.js';
import { statPairs } from './stat-pairs.js';
import type { Limits } from './limits.js';
import type { Acl } from './bus/acl.js';
import { closeAll, listenAll } from './listen.js';
import type { Listening, ListenOptions } from './listen.js';
import type { WebServices } from './transport/http.js';
import { webServices } from './web/services.js';
import { Watchdog } from './session/watchdog.js';
import type { Cluster } from './cluster/cluster.js';
import { MqttDoor } from './mqtt/door.js';
import type { ClusterSettings } from './cluster/subjects.js';
import { answer } from './handlers/answers.js';
import { userNameProblem } from './protocol/topic.js';

export interface ServerOptions extends Partial<Limits>, ListenOptions {
  db: string;
  /** How often retention looks for rows to delete. */
  retentionIntervalMs?: number;
  /** Journal commit durability (see SyncMode); default `normal`. */
  sync?: SyncMode;
  /** Bytes of the newest pages kept in memory for replays and catch-ups (--replay-memory). */
  replayMemory?: number;
  logger?: Logger;
  /** Access rules (--acl); none: every user may do everything. */
  acl?: Acl;
  /** One door of a bus shared through NATS JetStream (--cluster). */
  cluster?: ClusterSettings;
  /**
   * Bytes of WAL the journal gets when it opens (default 128 MB, see
   * wal.ts). A test suite starts hundreds of daemons: each would write and
   * sync 128 MB, seconds of the machine's CPU and disk, for nothing.
   */
  walPreallocateBytes?: number;
}

/** How long start-up waits for the cluster before it says it is listening all the same. */
const CLUSTER_START_WAIT_MS = 3000;
/** Files the daemon holds besides its connections: the journal and its WAL, listeners, the checkpoint thread's, stdio. */
const FILES_OF_ITS_OWN = 32;
/** How often retention looks for rows to delete, by default. */
const RETENTION_INTERVAL_MS = 1000;

export class LinebusServer {
  readonly store: Store;
  readonly limits: Limits;
  readonly #lock: JournalLock;
  readonly #logger: Logger;
  readonly #turn = new Turn();
  readonly #stats = new Stats();
  readonly #services: SessionServices;
  readonly #bus: Bus;
  readonly #retention: Retention;
  readonly #checkpointer: Checkpointer;
  readonly #connections: Registry;
  readonly #mqtt: MqttDoor;
  #listening: Listening | undefined;
  #cluster: Cluster | undefined;
  readonly #watchdog: Watchdog;
  #stopping: Promise<void> | undefined;

  private constructor(options: ServerOptions, store: Store, lock: JournalLock, cluster: typeof import('./cluster/cluster.js') | undefined) {
    this.store = store;
    this.#lock = lock;
    this.limits = limitsFrom(options);
    const logger = options.logger ?? silentLogger;
    this.#logger = logger;
    // Sends go to the cluster's stream, and come back through its copy.
    const clusterUpstream: UpstreamMaker | undefined =
      cluster &&
      ((broker, cursors) => {
        this.#cluster = new cluster.Cluster(options.cluster as ClusterSettings, { broker, cursors, counters: this.#stats, limits: this.limits }, store, logger);
        return { upstream: this.#cluster, groups: this.#cluster.groups };
      });
    this.#bus = assembleBus(store, this.#turn, this.#stats, logger, this.limits, clusterUpstream);
    this.#bus.policy.acl = options.acl;
    this.#services = {
      version: version(),
      ...this.#bus,
      reader: store.reader,
      starts: store.starts,
      stats: () => this.stats(),
      connections: () => this.#connections.all(),
      turn: this.#turn,
      counters: this.#stats,
      logger,
      limits: this.limits,
      closed: (connection, reason) => this.#connections.closed(connection, reason),
      cluster: this.#cluster,
    };
    const services = this.#services;
    this.#connections = new Registry({ limits: this.limits, counters: this.#stats, logger, session: (link, id) => new Session(link, services, id) });
    this.#watchdog = new Watchdog(() => this.#connections.all(), this.limits, logger);
    this.#watchdog.start();
    this.#mqtt = new MqttDoor({ bus: this.#bus, store, turn: this.#turn, counters: this.#stats, logger, limits: this.limits, connections: this.#connections });
    this.#mqtt.start();
    this.#retention = new Retention(store.journal, store.reader, store.starts, this.limits, this.#stats, logger, (first) => this.#bus.groups.journalStartsAt(first));
    this.#checkpointer = new Checkpointer(store.path, this.#stats, logger);
    this.#stats.start();
    this.#retention.start(options.retentionIntervalMs ?? RETENTION_INTERVAL_MS);
  }

  /**
   * Opens the journal and starts listening. Throws FatalError for a journal
   * that cannot be used, and the listen error (EADDRINUSE, ...) otherwise.
   */
  static async start(options: ServerOptions): Promise<LinebusServer> {
    const store = Store.open(options.db, { sync: options.sync ?? 'normal', checkpointInBackground: true, walBytes: options.walPreallocateBytes, recentBytes: options.replayMemory ?? DEFAULTS.replayMemory });
    let lock: JournalLock;
    try {
      lock = JournalLock.take(options.db);
    } catch (error) {
      store.close();
      throw error;
    }
    // Loaded only in cluster mode: the NATS client is not needed otherwise.
    const server = new LinebusServer(options, store, lock, options.cluster && (await import('./cluster/cluster.js')));
    try {
      const limits = server.limits;
      server.#listening = await listenAll(options, { lines: server.#connections, mqtt: server.#mqtt, web: server.#web() }, {
        get keepaliveMs() {
          return limits.tcpKeepalive * 1000;
        },
      });
    } catch (error) {
      await server.#release();
      throw error;
    }
    if (server.#services.policy.open) {
      server.#logger.log('warn', `no users in ${store.path}: open mode, loopback clients may log in as anyone; add a user with 'linebus user add <name>'`);
    }
    const barred = store.users.list().filter(({ name }) => userNameProblem(name) !== undefined);
    if (barred.length > 0) {
      server.#logger.log('warn', `users of ${store.path} that can no longer log in (a name may not begin with '$'): ${barred.map(({ name }) => name).join(', ')}; add each under another name, then 'linebus user del' it`);
    }
    server.#checkOpenFiles();
    // The readiness line waits (a little) for the cluster: until its stream
    // is set up every send would be refused.
    const { requests, policy } = server.#bus;
    const services = server.#services;
    await server.#cluster?.start(CLUSTER_START_WAIT_MS, { name: `${hostname()}:${server.address().port}`, requests, policy, answer: (question) => answer(services, question) });
    // The last line of start-up: CLI.md's readiness signal.
    const address = server.address();
    const [tls, http, mqtt, mqttTls] = [server.tlsAddress(), server.httpAddress(), server.mqttAddress(), server.mqttTlsAddress()];
    const also = [
      tls && `, TLS on ${tls.address}:${tls.port}`,
      http && `, HTTP${options.http?.tls ? 'S' : ''} on ${http.address}:${http.port}`,
      mqtt && `, MQTT on ${mqtt.address}:${mqtt.port}`,
      mqttTls && `, MQTT over TLS on ${mqttTls.address}:${mqttTls.port}`,
    ].join('');
    server.#logger.log('notice', `listening on ${address.address}:${address.port}${also}`, {
      fd: options.listenFd,
      db: store.path,
      version: server.#services.version,
      sync: store.sync,
      retain_days: server.limits.retainDays || undefined,
      retain_messages: server.limits.retainMessages || undefined,
      cluster: options.cluster?.urls.join(','),
    });
    return server;
  }

  /**
   * Past the open-file limit, accept fails on every listener whatever
   * --max-connections says: idle sockets of one door would lock the
   * others out. Said once, at start, so the operator can choose.
   */
  #checkOpenFiles(): void {
    const files = openFileLimit();
    const wanted = this.limits.maxConnections + FILES_OF_ITS_OWN;
    if (files === undefined || wanted <= files) return;
    this.#logger.log('warn', `--max-connections ${this.limits.maxConnections} needs about ${wanted} open files, over this process's limit of ${files}: past it no listener can accept; raise the limit (ulimit -n, LimitNOFILE=) or lower --max-connections`);
  }

  address(): { address: string; port: number } {
    return (this.#listening as Listening).tcp.address();
  }

  tlsAddress(): { address: string; port: number } | undefined {
    return this.#listening?.tls?.address();
  }

  httpAddress(): { address: string; port: number } | undefined {
    return this.#listening?.http?.address();
  }

  mqttAddress(): { address: string; port: number } | undefined {
    return this.#listening?.mqtt?.address();
  }

  mqttTlsAddress(): { address: string; port: number } | undefined {
    return this.#listening?.mqttTls?.address();
  }

  /** Re-reads the TLS certificate and key (SIGHUP); throws, keeping the old ones, if they are bad. */
  reloadTls(): void {
    this.#listening?.tls?.reload();
    this.#listening?.http?.reload();
    this.#listening?.mqttTls?.reload();
  }

  /** What the web listener needs of the daemon. */
  #web(): WebServices {
    return webServices({
      bus: this.#bus,
      turn: this.#turn,
      counters: this.#stats,
      logger: this.#logger,
      limits: this.limits,
      connections: this.#connections,
      accept: (link) => this.#connections.accept(link),
      acceptMqtt: (link) => this.#mqtt.accept(link),
      listeners: () => [...this.#connections.all()].map((c) => c.listener),
      stats: () => this.stats(),
      healthy: () => this.#stopping === undefined && !this.#bus.broker.failing && (this.#cluster === undefined || this.#cluster.state === 'ready'),
    });
  }

  /** Cluster mode: resolves when the stream is set up and copied from. */
  clusterReady(): Promise<void> {
    return this.#cluster?.ready() ?? Promise.resolve();
  }

  /** The turns of the event loop that ended with work (see bus/turn.ts). */
  get turns(): number {
    return this.#turn.count;
  }

  // --- reporting -----------------------------------------------------------

  /** Name and value pairs, as `stats` shows them. */
  stats(): [string, string | number][] {
    return statPairs({ version: this.#services.version, stats: this.#stats, connections: this.#connections.size, store: this.store, bus: this.#bus, limits: this.limits, cluster: this.#cluster, mqtt: this.#mqtt });
  }

  // --- limits and retention ------------------------------------------------

  /** New access rules (SIGHUP): every connection's next command and delivery obey them. */
  set acl(acl: Acl | undefined) {
    this.#bus.policy.acl = acl;
  }

  /**
   * Applies new limits (SIGHUP). A new --max-line or --max-input applies to
   * connections made after it; the others at once. Returns what changed, as
   * `name old -> new` strings.
   */
  reconfigure(limits: Partial<Limits>): string[] {
    const changed: string[] = [];
    for (const key of Object.keys(this.limits) as (keyof Limits)[]) {
      const value = limits[key];
      if (value === undefined || value === this.limits[key]) continue;
      changed.push(`${key} ${this.limits[key]} -> ${value}`);
      this.limits[key] = value;
    }
    return changed;
  }

  /** One retention pass now; resolves to the number of rows deleted. */
  runRetention(): Promise<number> {
    return this.#retention.run();
  }

  // --- stopping ------------------------------------------------------------

  /**
   * CLI.md: stop accepting, tell connected clients `err shutdown`, commit
   * the journal, close the database.
   */
  stop(): Promise<void> {
    this.#stopping ??= this.#stop();
    return this.#stopping;
  }

  async #stop(): Promise<void> {
    this.#logger.log('info', 'stopping', { connections: this.#connections.size });
    const closed = closeAll(this.#listening as Listening);
    // Sends already read are committed and acknowledged before the
    // clients hear of the shutdown.
    this.#turn.endNow();
    await this.#connections.shutdown();
    // Streams and WebSockets have said goodbye; what is left holds no
    // connection (a request not read yet, a socket between requests).
    this.#listening?.http?.dropAll();
    await closed;
    this.#turn.endNow();
    await this.#release();
    this.#logger.log('info', 'stopped');
  }

  /** Stops the helpers and closes the database. */
  async #release(): Promise<void> {
    this.#stats.stop();
    this.#watchdog.stop();
    this.#mqtt.stop();
    this.#bus.groups.stop();
    this.#bus.requests.stop();
    await this.#cluster?.stop();
    await this.#retention.stop();
    await this.#checkpointer.stop();
    // The last connection to close checkpoints the rest and removes the WAL.
    this.store.close();
    this.#lock.release();
  }
}
