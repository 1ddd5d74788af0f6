/**
 * What handlers and connections see of queue groups (PROTOCOL.md, "Work
 * queues"), whoever keeps them: the daemon's own journal (groups.ts and
 * the files it uses) or, in cluster mode, JetStream's durable consumers
 * (cluster/group.ts). This module is the engines' common ground: it
 * imports neither of them.
 */
import type { Broker } from '../bus/broker.js';
import type { Logger } from '../log.js';
import type { Message, Reply } from '../protocol/events.js';
import type { StoredGroup } from '../store/groups.js';

/** What a member's connection is to its group (a session implements it). */
export interface Worker {
  readonly user: string | undefined;
  /** Hands out the job of `message` (a `job` line, on the line protocol); false if the connection is closing. */
  pushJob(message: Message): boolean;
  /**
   * Whether this worker may be handed `message` now: the access rules, as
   * a reload (SIGHUP) may have changed them, apply to every job as to
   * every delivery. A job no member may take waits for one that may.
   */
  mayTake(message: Message): boolean;
}

/** The counters `stats` shows for work queues. */
export interface JobCounters {
  jobsDelivered: number;
  jobsAcked: number;
  jobsRedelivered: number;
  jobsDead: number;
}

export interface QueueJob {
  readonly id: number;
  /** Deliveries so far. */
  readonly tries: number;
  readonly holder: { readonly worker: Worker } | undefined;
}

export interface QueueMember {
  readonly group: QueueGroup;
  readonly worker: Worker;
  /** The jobs it holds, by id. */
  readonly held: ReadonlyMap<number, QueueJob>;
}

/**
 * One connection's `take` of a group, in either engine: what it may hold
 * and what it holds. (The engines differ in how they pick a member and
 * what a job is, not in what a member is.)
 */
export class Member<J extends QueueJob = QueueJob, G extends QueueGroup = QueueGroup> implements QueueMember {
  readonly group: G;
  readonly worker: Worker;
  /** Jobs it may hold at once. */
  max: number;
  readonly held = new Map<number, J>();

  constructor(group: G, worker: Worker, max: number) {
    this.group = group;
    this.worker = worker;
    this.max = max;
  }

  /** Jobs it may still take (negative after its max was lowered). */
  get free(): number {
    return this.max - this.held.size;
  }
}

export interface QueueGroup {
  readonly name: string;
  readonly pattern: string;
  readonly creator: string;
  /** Jobs handed out and not acked. */
  readonly pending: number;
  /** `worker` joins (or, already a member, holds at most `max` from now on). */
  join(worker: Worker, max: number): QueueMember;
  /** The member leaves; its jobs go back to the group at once. */
  leave(member: QueueMember): void;
  /** Done with job `id`; false if `member` does not hold it. `reply` gets `ok ack`. */
  ack(member: QueueMember, id: number, reply: (reply: Reply) => void): boolean;
  /** Gives job `id` back, at once or after `delayMs`; false if `member` does not hold it. */
  nack(member: QueueMember, id: number, delayMs: number, reply: (reply: Reply) => void): boolean;
  /** Restarts the wait of job `id`: the ms left, or undefined if `member` does not hold it. */
  touch(member: QueueMember, id: number): number | undefined;
  /** The jobs `pending` lists, lowest id first. */
  jobs(): Iterable<QueueJob>;
  /** Whether `job` is still the group's (not acked, not dead). */
  has(job: QueueJob): boolean;
  /** Hands out jobs while members have room. */
  dispatch(): void;
}

export interface QueueGroups {
  readonly size: number;
  get(name: string): QueueGroup | undefined;
  /** How many groups `user` made. */
  madeBy(user: string): number;
  /** Jobs handed out and not acked, in every group. */
  pendingJobs(): number;
  /** Makes a group, or finds the one another daemon of the cluster made. */
  create(stored: StoredGroup): QueueGroup | Promise<QueueGroup>;
  /** Retention deleted the journal before `first`: no group hands out what went. */
  journalStartsAt(first: number): void;
  /** No more deadlines (the daemon is stopping). */
  stop(): void;
}

/** How many of `groups` `user` made (the per-user cap, --max-groups). */
export function groupsMadeBy(groups: Iterable<QueueGroup>, user: string): number {
  let count = 0;
  for (const group of groups) if (group.creator === user) count++;
  return count;
}

/** Jobs handed out and not acked, in all of `groups`. */
export function jobsPendingIn(groups: Iterable<QueueGroup>): number {
  let count = 0;
  for (const group of groups) count += group.pending;
  return count;
}

export interface DeadJob {
  readonly group: string;
  readonly id: number;
  readonly tries: number;
  readonly topic: string;
  readonly body: string;
}

/**
 * PROTOCOL.md: a job delivered `tries` times is journaled on
 * `$dead.<group>`, sender `$linebus`, body `<id> <topic> <message>`;
 * `journaled` runs once it is.
 */
export function publishDead({ broker, counters, logger }: { broker: Broker; counters: JobCounters; logger: Logger }, job: DeadJob, journaled?: () => void): void {
  counters.jobsDead++;
  logger.log('info', 'job dead after its last try', { group: job.group, id: job.id, tries: job.tries });
  broker.publish({
    origin: undefined,
    topic: `$dead.${job.group}`,
    sender: '$linebus',
    body: `${job.id} ${job.topic} ${job.body}`,
    done: (result) => {
      if (typeof result === 'number') journaled?.();
      else logger.log('error', 'a dead job could not be journaled', { group: job.group, id: job.id, error: result.message });
    },
  });
}
