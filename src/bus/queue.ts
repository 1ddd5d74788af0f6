/**
 * What handlers and connections see of queue groups (PROTOCOL.md, "Work
 * queues"), whoever keeps them: the daemon's own journal (group.ts) or,
 * in cluster mode, JetStream's durable consumers (cluster/group.ts).
 */
import type { StoredGroup } from '../store/groups.js';
import type { Worker } from './job.js';

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
  ack(member: QueueMember, id: number, reply: (line: string) => void): boolean;
  /** Gives job `id` back, at once or after `delayMs`; false if `member` does not hold it. */
  nack(member: QueueMember, id: number, delayMs: number, reply: (line: string) => void): boolean;
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
  /** No more deadlines (the daemon is stopping). */
  stop(): void;
}
