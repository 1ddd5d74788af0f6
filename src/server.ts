/**
 * The daemon: accepts connections, owns the routing index and the journal,
 * and ends every turn of the event loop the same way: commit the sends that
 * arrived in it (one transaction), acknowledge and deliver them in id order,
 * then hand each connection's output to its socket in one write.
 */
import { createServer } from 'node:net';
import type { AddressInfo, Server, Socket } from 'node:net';
import { statSync } from 'node:fs';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import type { IntervalHistogram } from 'node:perf_hooks';
import { ProtocolError } from './errors.js';
import { Checkpointer } from './checkpointer.js';
import { Journal } from './journal.js';
import { JournalReader } from './reader.js';
import type { PendingMessage, SyncMode } from './journal.js';
import { silentLogger } from './log.js';
import type { Logger } from './log.js';
import type { Command } from './parser.js';
import { Session } from './session.js';
import type { SessionHost } from './session.js';
import { Sublist } from './sublist.js';
import { isWildcardPattern } from './topic.js';
import { decoy, isLoopback, userNameProblem, verifyPassword } from './users.js';
import { VERSION } from './version.js';

export const DEFAULTS = {
  host: '127.0.0.1',
  port: 7667,
  db: './linebus.db',
  maxLine: 65536,
  maxPending: 8 * 1024 * 1024,
  maxConnections: 10000,
} as const;

/** What can change while the daemon runs (SIGHUP, `reconfigure`). */
export interface Limits {
  maxLine: number;
  maxPending: number;
  maxConnections: number;
  /** Delete messages older than this many days; 0 keeps them. */
  retainDays: number;
  /** Keep at most this many of the newest messages; 0 keeps all. */
  retainMessages: number;
}

export interface ServerOptions extends Partial<Limits> {
  db: string;
  host?: string;
  port?: number;
  /**
   * Listen on this already-listening file descriptor (systemd socket
   * activation: 3) instead of opening host:port.
   */
  listenFd?: number;
  /** How often retention looks for rows to delete. */
  retentionIntervalMs?: number;
  /** Journal commit durability (see SyncMode); default `normal`. */
  sync?: SyncMode;
  logger?: Logger;
}

interface Publication extends PendingMessage {
  session: Session;
  reply: (line: string) => void;
}

/** How many seconds of counters the per-second rates in `stats` average. */
const RATE_WINDOW_S = 10;
/**
 * A turn's sends are committed together, but never more than this many in
 * one transaction: it bounds the synchronous step (a 64 KB read of short
 * sends is thousands of them, from each socket read in the same turn) and
 * the wait for the first acknowledgement, which keeps pipelining clients
 * busy.
 */
const BATCH_MAX = 256;
/** How often retention looks for rows to delete, by default. */
const RETENTION_INTERVAL_MS = 1000;
/** Retention deletes at most this many rows per step, then yields. */
const RETENTION_CHUNK = 2000;
/** `topics` remembers this many most recently sent-to topics. */
const RECENT_TOPICS = 10000;

export class LinebusServer implements SessionHost {
  readonly journal: Journal;
  readonly reader: JournalReader;
  maxLine: number;
  maxPending: number;
  maxConnections: number;
  retainDays: number;
  retainMessages: number;
  readonly version = VERSION;
  readonly #logger: Logger;
  readonly #net: Server;
  readonly #sessions = new Set<Session>();
  readonly #sublist = new Sublist<Session>();
  #batch: Publication[] = [];
  readonly #dirty = new Set<Session>();
  #turnScheduled = false;
  #nextSessionId = 1;
  #stopping: Promise<void> | undefined;
  /** Called when the last session has closed, while stopping. */
  #onDrained: (() => void) | undefined;
  readonly #started = Date.now();
  readonly #counters = { connections: 0, messagesIn: 0, messagesOut: 0, commits: 0, slow: 0, retained: 0 };
  readonly #retentionTimer: NodeJS.Timeout;
  #retention: Promise<number> | undefined;
  readonly #closeReasons = new Map<string, number>();
  /** Topic -> last id sent since start, least recently used first. */
  readonly #recentTopics = new Map<string, number>();
  readonly #rateSamples: { at: number; in: number; out: number }[] = [];
  readonly #rateTimer: NodeJS.Timeout;
  readonly #checkpointer: Checkpointer;
  /** How late the event loop ran timers: the longest synchronous steps. */
  readonly #loopDelay: IntervalHistogram = monitorEventLoopDelay({ resolution: 10 });

  private constructor(options: ServerOptions, journal: Journal) {
    this.journal = journal;
    this.reader = new JournalReader(journal.db);
    this.#checkpointer = new Checkpointer(journal.path);
    this.#loopDelay.enable();
    this.maxLine = options.maxLine ?? DEFAULTS.maxLine;
    this.maxPending = options.maxPending ?? DEFAULTS.maxPending;
    this.maxConnections = options.maxConnections ?? DEFAULTS.maxConnections;
    this.retainDays = options.retainDays ?? 0;
    this.retainMessages = options.retainMessages ?? 0;
    this.#logger = options.logger ?? silentLogger;
    this.#retentionTimer = setInterval(() => void this.runRetention(), options.retentionIntervalMs ?? RETENTION_INTERVAL_MS).unref();
    this.#net = createServer({ allowHalfOpen: true, noDelay: true }, (socket) => this.#accept(socket));
    this.#rateTimer = setInterval(() => this.#sampleRates(), 1000).unref();
    this.#sampleRates();
  }

  /**
   * Opens the journal and starts listening. Throws FatalError for a journal
   * that cannot be used, and the listen error (EADDRINUSE, ...) otherwise.
   */
  static async start(options: ServerOptions): Promise<LinebusServer> {
    const journal = Journal.open(options.db, { sync: options.sync ?? 'normal', checkpointInBackground: true });
    const server = new LinebusServer(options, journal);
    try {
      await server.#listen(options.listenFd ?? { host: options.host ?? DEFAULTS.host, port: options.port ?? DEFAULTS.port });
    } catch (error) {
      clearInterval(server.#rateTimer);
      clearInterval(server.#retentionTimer);
      await server.#checkpointer.stop();
      journal.close();
      throw error;
    }
    return server;
  }

  #listen(where: number | { host: string; port: number }): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#net.once('error', reject);
      this.#net.listen(typeof where === 'number' ? { fd: where } : where, () => {
        this.#net.off('error', reject);
        if (!this.journal.hasUsers()) {
          this.#logger.log('warn', `no users in ${this.journal.path}: open mode, loopback clients may log in as anyone; add a user with 'linebus user add <name>'`);
        }
        // The last line of start-up: CLI.md's readiness signal.
        const address = this.address();
        this.#logger.log('info', `listening on ${address.address}:${address.port}`, {
          fd: typeof where === 'number' ? where : undefined,
          db: this.journal.path,
          version: this.version,
          sync: this.journal.sync,
          retain_days: this.retainDays || undefined,
          retain_messages: this.retainMessages || undefined,
        });
        resolve();
      });
    });
  }

  address(): AddressInfo {
    return this.#net.address() as AddressInfo;
  }

  // --- connections ---------------------------------------------------------

  #accept(socket: Socket): void {
    if (this.#sessions.size >= this.maxConnections) {
      socket.on('error', () => {});
      socket.end(`err denied the server is full (${this.maxConnections} connections); try again later\n`);
      this.#countClose('refused: server full');
      this.#logger.log('warn', 'connection refused: server full', { remote: socket.remoteAddress, limit: this.maxConnections });
      return;
    }
    const session = new Session(this, socket, this.#nextSessionId++);
    this.#sessions.add(session);
    this.#counters.connections++;
    this.#logger.log('debug', 'connected', { conn: session.id, remote: session.remote });
  }

  slow(session: Session, pendingBytes: number): void {
    this.#counters.slow++;
    this.#logger.log('warn', 'slow consumer cut off', {
      conn: session.id,
      remote: session.remote,
      user: session.user,
      pending: pendingBytes,
      limit: this.maxPending,
      last_id: session.lastWrittenId,
    });
  }

  closed(session: Session, reason: string): void {
    for (const pattern of session.patterns) this.#sublist.remove(pattern, session);
    session.patterns.clear();
    this.#sessions.delete(session);
    this.#dirty.delete(session);
    this.#countClose(reason);
    this.#logger.log('debug', 'closed', {
      conn: session.id,
      remote: session.remote,
      user: session.user,
      reason,
    });
    if (this.#sessions.size === 0) this.#onDrained?.();
  }

  #countClose(reason: string): void {
    this.#closeReasons.set(reason, (this.#closeReasons.get(reason) ?? 0) + 1);
  }

  // --- SessionHost ---------------------------------------------------------

  async login(session: Session, user: string, password: string): Promise<ProtocolError | undefined> {
    const problem = userNameProblem(user);
    if (problem) return new ProtocolError('syntax', `${problem}; usage: login <user> <password>`);
    if (!this.journal.hasUsers()) {
      if (isLoopback(session.socket.remoteAddress)) return undefined;
      this.#logger.log('warn', 'login refused: open mode allows loopback clients only', { remote: session.remote });
      return new ProtocolError('auth', "no users are set up, so only loopback clients may log in; the operator must run 'linebus user add <name>'");
    }
    const row = this.journal.getUser(user);
    const matched = await verifyPassword(password, row?.hash ?? (await decoy()));
    if (row && matched) {
      this.#logger.log('info', 'login', { conn: session.id, user, remote: session.remote });
      return undefined;
    }
    this.#logger.log('warn', 'login failed', { conn: session.id, user, remote: session.remote });
    return new ProtocolError('auth', 'bad user or password');
  }

  publish(session: Session, topic: string, body: string, reply: (line: string) => void): void {
    this.#batch.push({ session, topic, sender: session.user as string, body, reply });
    if (this.#batch.length >= BATCH_MAX) this.#endTurn();
    else this.#scheduleTurnEnd();
  }

  subscribe(session: Session, pattern: string): void {
    this.#sublist.add(pattern, session);
  }

  unsubscribe(session: Session, pattern: string): void {
    this.#sublist.remove(pattern, session);
  }

  markDirty(session: Session): void {
    this.#dirty.add(session);
    this.#scheduleTurnEnd();
  }

  introspect(_session: Session, command: Command & { verb: 'topics' | 'who' | 'stats' }): string[] {
    switch (command.verb) {
      case 'topics': {
        // Topics sent to since start, and every topic or pattern received.
        const rows = new Map<string, string>();
        for (const [topic, id] of this.#recentTopics) rows.set(topic, `topic ${topic} ${this.#sublist.match(topic).size} ${id}`);
        for (const [pattern, receivers] of this.#sublist.patterns()) {
          if (rows.has(pattern)) continue;
          // A pattern counts its own receivers and has no last id; an exact
          // topic counts every receiver whose pattern matches it.
          const wildcard = isWildcardPattern(pattern);
          const count = wildcard ? receivers.size : this.#sublist.match(pattern).size;
          rows.set(pattern, `topic ${pattern} ${count} ${wildcard ? '-' : this.reader.lastIdOf(pattern)}`);
        }
        const lines = [...rows.keys()].sort().map((key) => rows.get(key) as string);
        return [...lines, `ok topics ${lines.length}`];
      }
      case 'who': {
        const connections = new Map<string, number>();
        for (const receiver of this.#sublist.match(command.topic)) {
          const user = receiver.user as string;
          connections.set(user, (connections.get(user) ?? 0) + 1);
        }
        const lines = [...connections].map(([user, count]) => `user ${user} ${count}`).sort();
        return [...lines, `ok who ${command.topic} ${lines.length}`];
      }
      case 'stats': {
        const lines = this.stats().map(([name, value]) => `stat ${name} ${value}`);
        return [...lines, `ok stats ${lines.length}`];
      }
    }
  }

  /** Name and value pairs, as `stats` shows them. */
  stats(): [string, string | number][] {
    const now = Date.now();
    const oldest = this.#rateSamples[0] as { at: number; in: number; out: number };
    const seconds = Math.max(1, (now - oldest.at) / 1000);
    // While the daemon has the journal open, SQLite keeps its -wal file.
    const journalBytes = statSync(this.journal.path).size + statSync(`${this.journal.path}-wal`).size;
    const pairs: [string, string | number][] = [
      ['version', this.version],
      ['uptime_s', Math.floor((now - this.#started) / 1000)],
      ['connections', this.#sessions.size],
      ['connections_total', this.#counters.connections],
      ['messages_in', this.#counters.messagesIn],
      ['messages_out', this.#counters.messagesOut],
      ['journal_commits', this.#counters.commits],
      ['journal_checkpoints', this.#checkpointer.checkpoints],
      ['event_loop_delay_p99_ms', Math.round(this.#loopDelay.percentile(99) / 1e4) / 100],
      ['event_loop_delay_max_ms', Math.round(this.#loopDelay.max / 1e4) / 100],
      ['slow_disconnects', this.#counters.slow],
      ['catch_ups_waiting', [...this.#sessions].filter((s) => s.waitingForReader).length],
      ['retention_deleted', this.#counters.retained],
      ['in_per_s', Math.round((this.#counters.messagesIn - oldest.in) / seconds)],
      ['out_per_s', Math.round((this.#counters.messagesOut - oldest.out) / seconds)],
      ['journal_bytes', journalBytes],
      ['journal_first_id', this.reader.firstId()],
      ['journal_last_id', this.reader.lastId()],
    ];
    for (const [reason, count] of [...this.#closeReasons].sort()) {
      pairs.push([`closed.${reason.replace(/[^a-z0-9]+/gi, '_')}`, count]);
    }
    return pairs;
  }

  #sampleRates(): void {
    this.#rateSamples.push({ at: Date.now(), in: this.#counters.messagesIn, out: this.#counters.messagesOut });
    if (this.#rateSamples.length > RATE_WINDOW_S + 1) this.#rateSamples.shift();
  }

  // --- the end of a turn -----------------------------------------------------

  #scheduleTurnEnd(): void {
    if (this.#turnScheduled) return;
    this.#turnScheduled = true;
    setImmediate(() => this.#endTurn());
  }

  #endTurn(): void {
    this.#turnScheduled = false;
    if (this.#batch.length > 0) this.#commit();
    for (const session of this.#dirty) session.flush();
    this.#dirty.clear();
  }

  /**
   * PROTOCOL.md: a send is acknowledged and delivered only after its row is
   * committed. All sends of one turn share one transaction.
   */
  #commit(): void {
    const batch = this.#batch;
    this.#batch = [];
    let lastId: number;
    try {
      lastId = this.journal.append(batch, Date.now());
    } catch (error) {
      this.#logger.log('error', 'journal append failed; sends refused', {
        count: batch.length,
        error: (error as Error).message,
      });
      const refusal = new ProtocolError('internal', 'the journal could not store the message; nothing was sent, try again').toLine();
      for (const publication of batch) publication.reply(refusal);
      return;
    }
    this.#counters.messagesIn += batch.length;
    this.#counters.commits++;
    for (const topic of this.#recentTopics.keys()) {
      if (this.#recentTopics.size <= RECENT_TOPICS - batch.length) break;
      this.#recentTopics.delete(topic);
    }
    let id = lastId - batch.length + 1;
    for (const publication of batch) {
      publication.reply(`ok send ${id}`);
      this.#recentTopics.delete(publication.topic);
      this.#recentTopics.set(publication.topic, id);
      const receivers = this.#sublist.match(publication.topic);
      if (receivers.size > 0) {
        // Formatted once per message, not once per receiver.
        const line = `msg ${publication.topic} ${id} ${publication.sender} ${publication.body}\n`;
        const bytes = Buffer.byteLength(line);
        for (const receiver of receivers) {
          if (receiver === publication.session) continue;
          receiver.deliver(line, bytes, id);
          this.#counters.messagesOut++;
        }
      }
      id++;
    }
  }

  // --- limits and retention ------------------------------------------------

  /**
   * Applies new limits (SIGHUP). A new --max-line applies to connections
   * made after it; the others at once. Returns what changed, as
   * `name old -> new` strings, and logs them.
   */
  reconfigure(limits: Partial<Limits>): string[] {
    const changed: string[] = [];
    for (const key of ['maxLine', 'maxPending', 'maxConnections', 'retainDays', 'retainMessages'] as const) {
      const value = limits[key];
      if (value === undefined || value === this[key]) continue;
      changed.push(`${key} ${this[key]} -> ${value}`);
      this[key] = value;
    }
    return changed;
  }

  /**
   * One retention pass: deletes the rows that --retain-days and
   * --retain-messages no longer keep, oldest first, a chunk per turn so
   * traffic goes on meanwhile. Resolves to the number deleted.
   */
  runRetention(): Promise<number> {
    this.#retention ??= this.#retain().finally(() => {
      this.#retention = undefined;
    });
    return this.#retention;
  }

  async #retain(): Promise<number> {
    let deleted = 0;
    for (;;) {
      const cutoff = this.#retentionCutoff();
      if (cutoff === 0 || this.#stopping || !this.journal.db.open) break;
      const count = this.journal.deleteOldest(cutoff, RETENTION_CHUNK);
      deleted += count;
      this.#counters.retained += count;
      if (count < RETENTION_CHUNK) break;
      await new Promise((resolve) => setImmediate(resolve));
    }
    if (deleted > 0) {
      this.#logger.log('info', 'retention deleted old messages', { deleted, first_id: this.reader.firstId() });
    }
    return deleted;
  }

  /** The last id retention may delete now, or 0 for none. */
  #retentionCutoff(): number {
    const first = this.reader.firstId();
    if (first === 0) return 0;
    const last = this.reader.lastId();
    let cutoff = 0;
    if (this.retainMessages > 0) cutoff = Math.max(cutoff, last - this.retainMessages);
    if (this.retainDays > 0) cutoff = Math.max(cutoff, this.reader.afterTime(Date.now() - this.retainDays * 86_400_000, first, last));
    return cutoff >= first ? cutoff : 0;
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
    this.#logger.log('info', 'stopping', { connections: this.#sessions.size });
    clearInterval(this.#rateTimer);
    clearInterval(this.#retentionTimer);
    this.#loopDelay.disable();
    await this.#retention;
    const closed = new Promise<void>((resolve) => this.#net.close(() => resolve()));
    this.#endTurn();
    const drained = new Promise<void>((resolve) => {
      if (this.#sessions.size === 0) resolve();
      else this.#onDrained = resolve;
    });
    for (const session of this.#sessions) session.shutdown();
    await drained;
    await closed;
    this.#endTurn();
    await this.#checkpointer.stop();
    // The last connection to close checkpoints the rest and removes the WAL.
    this.journal.close();
    this.#logger.log('info', 'stopped');
  }
}
