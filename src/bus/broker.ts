/**
 * The one place that journals and fans out. Sends are batched per turn:
 * at the end of the turn (or when a batch is full) they are committed in
 * one transaction, then each is acknowledged and delivered in id order to
 * the receivers of its topic, never back to the receiver that sent it
 * (PROTOCOL.md, "Delivery").
 */
import { ProtocolError } from '../protocol/errors.js';
import type { Journal } from '../store/journal.js';
import type { BuiltCommit } from '../store/page.js';
import type { Logger } from '../log.js';
import { Delivery } from './receiver.js';
import type { Receiver } from './receiver.js';
import type { Stats } from './stats.js';
import { Sublist } from '../protocol/sublist.js';
import type { Turn } from './turn.js';
import { journalUpstream } from './upstream.js';
import type { Ingested, Publication, Staged, Upstream, UpstreamBus } from './upstream.js';

/**
 * A turn's sends are committed together, but never more than this many in
 * one transaction: it bounds the synchronous step (a 64 KB read of short
 * sends is thousands of them, from each socket read in the same turn) and
 * the wait for the first acknowledgement, which keeps pipelining clients
 * busy. Measured under the benchmark harness (server CPU per message,
 * 1 to 1 and 50 to 1, 100-byte sends): 1024 costs about a sixth less than
 * 256, whose commits cut a 64 KB read of sends in two (a commit, its
 * flush and its writes each time); 4096 is slower again for 50
 * publishers.
 */
export const BATCH_MAX = 1024;
const NO_RECEIVERS: ReadonlySet<Receiver> = new Set();

/** A journal that keeps failing is logged once this often, with a count. */
const FAILURE_LOG_MS = 10_000;
/**
 * A commit that finds the journal locked (by another process's writer, by
 * the checkpoint thread starting the WAL over) is tried again this often,
 * in later turns, for this long, then refused: the event loop never
 * sleeps waiting for the lock.
 */
const LOCKED_RETRY_MS = 2;
const LOCKED_PATIENCE_MS = 500;
/** `topics` remembers this many most recently sent-to topics. */
const RECENT_TOPICS = 10000;

export class Broker {
  readonly #journal: Journal;
  readonly #turn: Turn;
  readonly #stats: Stats;
  readonly #logger: Logger;
  readonly #sublist = new Sublist<Receiver>();
  #batch: Publication[] = [];
  #upstream: Upstream = journalUpstream;
  readonly #bus: UpstreamBus = { enqueue: (publication) => this.#enqueue(publication), stage: (staged) => this.stage(staged) };
  /** Written by the last commit of the turn; what is staged during it waits for the next. */
  #staged = new Set<Staged>();
  /**
   * Staged by a commit that failed: written with the next commit, without
   * forcing one (a locked journal would block every turn for its timeout).
   */
  #unwritten = new Set<Staged>();
  /** Topic -> last id sent since start, least recently used first. */
  readonly #recentTopics = new Map<string, number>();
  /** Failed commits not logged yet: one line every FAILURE_LOG_MS at most. */
  #failuresUnlogged = 0;
  /** The last commit failed (`/healthz`). */
  failing = false;
  /** When commits began to find the journal locked; 0: they do not. */
  #lockedSince = 0;
  #failureLoggedAt = 0;

  constructor(journal: Journal, turn: Turn, stats: Stats, logger: Logger) {
    this.#journal = journal;
    this.#turn = turn;
    this.#stats = stats;
    this.#logger = logger;
    turn.addStep(() => {
      if (this.#batch.length === 0 && this.#staged.size === 0) return;
      while (this.#commit() && this.#batch.length > 0);
    });
  }

  publish(publication: Publication): void {
    this.#upstream.publish(publication, this.#bus);
  }

  /**
   * Where sends go from now on (journalUpstream until then): set once,
   * where the server is assembled, before any send.
   */
  set upstream(upstream: Upstream) {
    this.#upstream = upstream;
  }

  /** Journals a message of an upstream that numbers its own (a cluster's stream) with its id and time, then delivers it. */
  ingest(message: Ingested): void {
    this.#enqueue(message);
  }

  #enqueue(publication: Publication): void {
    this.#batch.push(publication);
    if (this.#batch.length >= BATCH_MAX) this.#turn.endNow();
    else this.#turn.schedule();
  }

  /** Sends waiting for their commit: they get the ids after the journal's last. */
  get queued(): number {
    return this.#batch.length;
  }

  /** Writes `staged` with the commit at the end of this turn (or the next). */
  stage(staged: Staged): void {
    this.#staged.add(staged);
    this.#turn.schedule();
  }

  /** Returns false if `receiver` already had `pattern`. */
  subscribe(receiver: Receiver, pattern: string): boolean {
    return this.#sublist.add(pattern, receiver);
  }

  unsubscribe(receiver: Receiver, pattern: string): boolean {
    return this.#sublist.remove(pattern, receiver);
  }

  /** The receivers of `topic`, each once. Must not be modified. */
  receivers(topic: string): ReadonlySet<Receiver> {
    return this.#sublist.match(topic);
  }

  /** Every exact topic and pattern with receivers. */
  subscriptions(): Iterable<[pattern: string, receivers: ReadonlySet<Receiver>]> {
    return this.#sublist.patterns();
  }

  /** Topics sent to since start (at most RECENT_TOPICS), with their last id. */
  recentTopics(): ReadonlyMap<string, number> {
    return this.#recentTopics;
  }

  #failed(count: number, error: Error): void {
    this.#failuresUnlogged++;
    const now = Date.now();
    if (now - this.#failureLoggedAt < FAILURE_LOG_MS) return;
    this.#logger.log('error', 'journal append failed; sends refused', { count, error: error.message, commits_failed: this.#failuresUnlogged });
    this.#failureLoggedAt = now;
    this.#failuresUnlogged = 0;
  }

  /**
   * PROTOCOL.md: a send is acknowledged and delivered only after its row is
   * committed. False when the journal was locked: the batch waits for a
   * later turn.
   */
  #commit(): boolean {
    // Never more than a batch: sends published while the turn ended wait
    // for the next transaction.
    const batch = this.#batch.length > BATCH_MAX ? this.#batch.splice(0, BATCH_MAX) : this.#batch;
    if (batch === this.#batch) this.#batch = [];
    // Staged state goes with the last commit of the turn: after the sends
    // of the turn, so a dead job's row goes with its `$dead` message.
    let staged: Set<Staged> | undefined;
    if (this.#batch.length === 0 && this.#staged.size + this.#unwritten.size > 0) {
      staged = this.#staged;
      for (const s of this.#unwritten) staged.add(s);
      this.#staged = new Set();
      this.#unwritten = new Set();
    }
    // And the state of this batch's own messages, in their transaction.
    let own: Staged[] | undefined;
    for (const publication of batch) if (publication.staged !== undefined) (own ??= []).push(publication.staged);
    const writeStaged =
      staged === undefined && own === undefined
        ? undefined
        : (): void => {
            for (const s of own ?? []) s.write();
            for (const s of staged ?? []) s.write();
          };
    let lastId: number;
    const now = Date.now();
    try {
      lastId = this.#upstream.append(this.#journal, batch, now, writeStaged);
    } catch (error) {
      if ((error as { code?: string }).code?.startsWith('SQLITE_BUSY') === true && this.#waitForLock(now)) {
        this.#batch = batch === this.#batch ? batch : batch.concat(this.#batch);
        for (const s of staged ?? []) this.#staged.add(s);
        return false;
      }
      this.#lockedSince = 0;
      this.failing = true;
      this.#failed(batch.length, error as Error);
      for (const s of staged ?? []) {
        this.#unwritten.add(s);
        s.settled(error as Error);
      }
      for (const s of own ?? []) s.settled(error as Error);
      const refusal = new ProtocolError('internal', 'the journal could not store the message; nothing was sent, try again');
      for (const publication of batch) publication.done(refusal);
      // Numbered messages must be journaled in order: the ones after the
      // failed batch go too, and upstream brings them all again.
      if (this.#upstream.numbered) for (const publication of this.#batch.splice(0)) publication.done(refusal);
      return true;
    }
    this.#lockedSince = 0;
    this.failing = false;
    for (const s of own ?? []) s.settled(undefined);
    for (const s of staged ?? []) s.settled(undefined);
    if (batch.length === 0) return true;
    const stats = this.#stats;
    stats.messagesIn += batch.length;
    stats.commits++;
    if (batch.length > stats.largestCommit) stats.largestCommit = batch.length;
    for (const topic of this.#recentTopics.keys()) {
      if (this.#recentTopics.size <= RECENT_TOPICS - batch.length) break;
      this.#recentTopics.delete(topic);
    }
    // Ids are consecutive in a batch of the journal's own, all stamped
    // `now`; numbered messages carry theirs.
    const numbered = this.#upstream.numbered;
    let id = lastId - batch.length + 1;
    let ts = now;
    // Each message's msg line, as its page holds it: made once.
    const commits = this.#journal.written.commits;
    let c = 0;
    let built = commits[0] as BuiltCommit;
    let line = 0;
    // Runs of one topic are common: its place in the recent topics and its
    // receivers are looked up once a run.
    let topic: string | undefined;
    let receivers: ReadonlySet<Receiver> = NO_RECEIVERS;
    /** The id of the message before (a cluster's ids may skip). */
    let previous = 0;
    for (let k = 0; k < batch.length; k++) {
      const publication = batch[k] as Publication;
      if (numbered) ({ id, ts } = publication as Ingested);
      if (line === built.ends.length) {
        built = commits[++c] as BuiltCommit;
        line = 0;
      }
      publication.done(id);
      if (publication.topic !== topic) {
        if (topic !== undefined) this.#recentTopics.set(topic, previous);
        topic = publication.topic;
        this.#recentTopics.delete(topic);
        receivers = this.#sublist.match(topic);
      }
      if (receivers.size > 0) {
        const start = line === 0 ? 0 : (built.ends[line - 1] as number);
        const message = new Delivery(id, ts, topic, publication.sender, publication.body, built.data, start, built.ends[line] as number, publication.qos);
        for (const receiver of receivers) {
          if (receiver === publication.origin) continue;
          receiver.deliver(message);
          stats.messagesOut++;
        }
      }
      previous = id;
      id++;
      line++;
    }
    this.#recentTopics.set(topic as string, previous);
    return true;
  }

  /** Whether a commit that found the journal locked at `now` should wait (and try again soon). */
  #waitForLock(now: number): boolean {
    if (this.#lockedSince === 0) this.#lockedSince = now;
    if (now - this.#lockedSince >= LOCKED_PATIENCE_MS) return false;
    this.#turn.after(LOCKED_RETRY_MS);
    return true;
  }
}
