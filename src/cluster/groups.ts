/**
 * The queue groups of a cluster: one JetStream durable consumer each,
 * named `g_<base64url of the group name>` (consumer names allow few
 * characters), with the group's settings in its description, so whichever
 * daemon a worker reaches finds the group another daemon made. The
 * consumers' state gives the cluster's figures for `stats`.
 */
import type { JetStreamManager, NatsConnection, NatsError } from 'nats';
import type { Broker } from '../bus/broker.js';
import type { JobCounters } from '../queue/queue.js';
import { groupsMadeBy, jobsPendingIn } from '../queue/queue.js';
import type { QueueGroup, QueueGroups } from '../queue/queue.js';
import type { Logger } from '../log.js';
import { ProtocolError } from '../protocol/errors.js';
import type { StoredGroup } from '../store/groups.js';
import { ClusterGroup } from './group.js';

/** How often the cluster's groups are counted for `stats` and /metrics (and at each `stats`). */
const COUNT_MS = 5000;
/** The longest `stats` waits for a count. */
const COUNT_WAIT_MS = 1000;

/** JetStream's error code for "consumer not found". */
const CONSUMER_NOT_FOUND = 10014;

interface Description {
  readonly linebus: { readonly name: string; readonly pattern: string; readonly tries: number; readonly creator: string };
}

/** The group's settings that linebus wrote in its consumer's description, if it did. */
function descriptionOf(description: string | undefined): Description['linebus'] | undefined {
  try {
    return (JSON.parse(description ?? '') as Partial<Description>).linebus;
  } catch {
    return undefined;
  }
}

/** The first characters of a group's consumer name. */
const GROUP_PREFIX = 'g_';

export function consumerName(group: string): string {
  return `${GROUP_PREFIX}${Buffer.from(group).toString('base64url')}`;
}

/** The groups of the whole cluster, as their consumers count them. */
export interface ClusterGroupCounts {
  readonly groups: number;
  /** Jobs handed out and not acked (delayed ones too): the consumers' ack pending. */
  readonly pending: number;
  /** Messages of the groups' patterns not handed out yet. */
  readonly waiting: number;
}

export interface ClusterGroupsParts {
  readonly stream: string;
  readonly broker: Broker;
  readonly counters: JobCounters;
  readonly limits: { readonly maxAckPending: number };
  readonly logger: Logger;
}

export class ClusterGroups implements QueueGroups {
  readonly #parts: ClusterGroupsParts;
  readonly #groups = new Map<string, ClusterGroup>();
  /** Groups being made (a NATS round trip), by name. */
  readonly #making = new Map<string, StoredGroup>();
  #engine: { nats: typeof import('nats'); nc: NatsConnection; jsm: JetStreamManager } | undefined;
  /** The cluster's figures as last counted; undefined until then. */
  counts: ClusterGroupCounts | undefined;
  #counting: NodeJS.Timeout | undefined;

  constructor(parts: ClusterGroupsParts) {
    this.#parts = parts;
  }

  /** The cluster is reachable: groups can be made and found from now on. */
  connected(nats: typeof import('nats'), nc: NatsConnection, jsm: JetStreamManager): void {
    this.#engine = { nats, nc, jsm };
    this.#counting = setInterval(() => void this.refresh(), COUNT_MS);
    this.#counting.unref();
  }

  get size(): number {
    return this.#groups.size;
  }

  get(name: string): QueueGroup | undefined {
    return this.#groups.get(name);
  }

  madeBy(user: string): number {
    let making = 0;
    for (const stored of this.#making.values()) if (stored.creator === user && !this.#groups.has(stored.name)) making++;
    return groupsMadeBy(this.#groups.values(), user) + making;
  }

  pendingJobs(): number {
    return jobsPendingIn(this.#groups.values());
  }

  async create(stored: StoredGroup): Promise<QueueGroup> {
    // Counted by madeBy while NATS makes it: the cap holds across the wait.
    this.#making.set(stored.name, stored);
    try {
      return await this.#create(stored);
    } finally {
      this.#making.delete(stored.name);
    }
  }

  async #create(stored: StoredGroup): Promise<QueueGroup> {
    const engine = this.#engine;
    if (engine === undefined) throw new ProtocolError('busy', 'the cluster (NATS) is not reachable yet; take the group again later');
    const { nats, jsm } = engine;
    const { stream } = this.#parts;
    const durable = consumerName(stored.name);
    let settings = stored;
    try {
      try {
        const info = await jsm.consumers.info(stream, durable);
        settings = this.#settingsOf(info.config.description, info.config.ack_wait ?? nats.nanos(stored.waitMs), stored);
      } catch (error) {
        if ((error as NatsError).api_error?.err_code !== CONSUMER_NOT_FOUND) throw error;
        const description: Description = { linebus: { name: stored.name, pattern: stored.pattern, tries: stored.tries, creator: stored.creator } };
        await jsm.consumers.add(stream, {
          durable_name: durable,
          description: JSON.stringify(description),
          filter_subject: `${stream}.${stored.pattern}`,
          ack_policy: nats.AckPolicy.Explicit,
          ack_wait: nats.nanos(stored.waitMs),
          max_ack_pending: this.#parts.limits.maxAckPending,
          deliver_policy: nats.DeliverPolicy.StartSequence,
          opt_start_seq: stored.position + 1,
        });
      }
    } catch (error) {
      throw new ProtocolError('busy', `the cluster could not make or find group ${stored.name} (${(error as Error).message}); take it again later`);
    }
    // Another take may have made it meanwhile.
    const existing = this.#groups.get(stored.name);
    if (existing !== undefined) return existing;
    const consumer = await engine.nc.jetstream().consumers.get(stream, durable);
    const group = new ClusterGroup({ stored: settings, consumer, prefix: `${stream}.`, broker: this.#parts.broker, counters: this.#parts.counters, logger: this.#parts.logger });
    this.#groups.set(stored.name, group);
    return group;
  }

  /** The groups' jobs come from the stream's consumers, not from this daemon's journal: its retention takes none of them. */
  journalStartsAt(): void {}

  stop(): void {
    clearInterval(this.#counting);
    for (const group of this.#groups.values()) group.stop();
  }

  /** The pattern of group `name`, taken here or found among the cluster's consumers; undefined if there is no such group. */
  async patternOf(name: string): Promise<string | undefined> {
    const local = this.#groups.get(name);
    if (local !== undefined) return local.pattern;
    const engine = this.#engine;
    if (engine === undefined) throw new ProtocolError('busy', 'the cluster (NATS) is not reachable yet; ask again later');
    try {
      const { config } = await engine.jsm.consumers.info(this.#parts.stream, consumerName(name));
      // A consumer made by hand, with no linebus description: its filter is the pattern.
      return descriptionOf(config.description)?.pattern ?? config.filter_subject?.slice(this.#parts.stream.length + 1) ?? '>';
    } catch (error) {
      if ((error as NatsError).api_error?.err_code === CONSUMER_NOT_FOUND) return undefined;
      throw new ProtocolError('busy', `the cluster could not say what group ${name} is (${(error as Error).message}); ask again later`);
    }
  }

  /** Counts the cluster's groups and their jobs, waiting a second at most; a count that fails keeps the last. */
  async refresh(): Promise<void> {
    const counted = this.#count().catch((error: Error) => this.#parts.logger.log('debug', `cluster: cannot count the groups: ${error.message}`));
    await Promise.race([counted, new Promise((resolve) => setTimeout(resolve, COUNT_WAIT_MS).unref())]);
  }

  /** Counts from the consumers' state. */
  async #count(): Promise<void> {
    const engine = this.#engine as { jsm: JetStreamManager };
    let groups = 0;
    let pending = 0;
    let waiting = 0;
    for await (const info of engine.jsm.consumers.list(this.#parts.stream)) {
      if (!info.name.startsWith(GROUP_PREFIX)) continue;
      groups++;
      pending += info.num_ack_pending;
      waiting += info.num_pending;
    }
    this.counts = { groups, pending, waiting };
  }

  /** A group another daemon made: its settings from the consumer's description. */
  #settingsOf(description: string | undefined, ackWaitNanos: number, asked: StoredGroup): StoredGroup {
    const linebus = descriptionOf(description);
    if (linebus !== undefined) return { ...asked, pattern: linebus.pattern, tries: linebus.tries, creator: linebus.creator, waitMs: Math.round(ackWaitNanos / 1e6) };
    this.#parts.logger.log('warn', `cluster: consumer ${consumerName(asked.name)} has no linebus description; group ${asked.name} taken as asked`);
    return asked;
  }
}
