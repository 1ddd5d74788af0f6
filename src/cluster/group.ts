/**
 * A queue group in cluster mode: a JetStream durable pull consumer on the
 * stream, filtered to the group's pattern, shared by every daemon. The
 * consumer hands each job to one daemon at a time and takes it back when
 * its wait (ack_wait) runs out; each daemon pulls only as many jobs as its
 * own members have room for and hands them out round robin. Tries are
 * counted by JetStream (its delivery count): a job that comes a time too
 * many is journaled on `$dead.<group>` and terminated. A job nacked with a
 * delay is this daemon's to list (`pending`) until the delay is over and
 * JetStream hands it out again.
 */
import type { Consumer, JsMsg } from 'nats';
import type { Broker } from '../bus/broker.js';
import { Member, publishDead } from '../queue/queue.js';
import type { JobCounters, QueueGroup, QueueJob, QueueMember, Worker } from '../queue/queue.js';
import type { Logger } from '../log.js';
import { err, ok } from '../protocol/events.js';
import type { Message, Reply } from '../protocol/events.js';
import type { StoredGroup } from '../store/groups.js';
import { FOREIGN_SENDER, SENDER_HEADER } from './subjects.js';

/** How long one pull waits for jobs before asking again. */
const PULL_EXPIRES_MS = 2000;
/** The pause after a pull failed (NATS away, a leader election). */
const PULL_RETRY_MS = 1000;

class ClusterJob implements QueueJob {
  readonly id: number;
  readonly tries: number;
  readonly msg: JsMsg;
  holder: ClusterMember | undefined;
  /** When its wait runs out JetStream gives it to another; the member's room comes back. */
  deadline: NodeJS.Timeout | undefined;

  constructor(msg: JsMsg, holder: ClusterMember | undefined) {
    this.id = msg.seq;
    this.tries = msg.info.redeliveryCount;
    this.msg = msg;
    this.holder = holder;
  }
}

/** A member of a cluster's group: it holds ClusterJobs. */
type ClusterMember = Member<ClusterJob>;

export interface ClusterGroupParts {
  readonly stored: StoredGroup;
  readonly consumer: Consumer;
  /** The subject prefix of topics (`<stream>.`). */
  readonly prefix: string;
  readonly broker: Broker;
  readonly counters: JobCounters;
  readonly logger: Logger;
}

export class ClusterGroup implements QueueGroup {
  readonly name: string;
  readonly pattern: string;
  readonly creator: string;
  readonly waitMs: number;
  /** Deliveries before a job is dead; 0: never. */
  readonly tries: number;
  readonly #parts: ClusterGroupParts;
  readonly #members: ClusterMember[] = [];
  /** Jobs nacked here with a delay, until JetStream may hand them out again. */
  readonly #delayed = new Map<number, { readonly job: ClusterJob; readonly timer: NodeJS.Timeout }>();
  #next = 0;
  #pulling = false;
  #stopped = false;

  constructor(parts: ClusterGroupParts) {
    this.#parts = parts;
    ({ name: this.name, pattern: this.pattern, creator: this.creator, waitMs: this.waitMs, tries: this.tries } = parts.stored);
  }

  get pending(): number {
    let count = this.#delayed.size;
    for (const member of this.#members) count += member.held.size;
    return count;
  }

  join(worker: Worker, max: number): QueueMember {
    let member = this.#members.find((m) => m.worker === worker);
    if (member === undefined) this.#members.push((member = new Member<ClusterJob>(this, worker, max)));
    else member.max = max;
    this.dispatch();
    return member;
  }

  leave(member: QueueMember): void {
    const index = this.#members.indexOf(member as ClusterMember);
    if (index < 0) return;
    this.#members.splice(index, 1);
    // Back to the consumer at once, for any daemon's members.
    for (const job of (member as ClusterMember).held.values()) {
      clearTimeout(job.deadline);
      job.msg.nak();
    }
    (member as ClusterMember).held.clear();
  }

  ack(member: QueueMember, id: number, reply: (reply: Reply) => void): boolean {
    const job = this.#take(member, id);
    if (job === undefined) return false;
    this.#parts.counters.jobsAcked++;
    job.msg.ackAck().then(
      (acked) => reply(acked ? ok('ack', id) : err('busy', `the cluster did not confirm the ack of ${id}; the job may come again`)),
      (error: Error) => reply(err('busy', `the ack of ${id} did not reach the cluster (${error.message}); the job may come again`)),
    );
    this.dispatch();
    return true;
  }

  nack(member: QueueMember, id: number, delayMs: number, reply: (reply: Reply) => void): boolean {
    const job = this.#take(member, id);
    if (job === undefined) return false;
    if (this.#exhausted(job)) this.#dead(job);
    else if (delayMs > 0) this.#delay(job, delayMs);
    else job.msg.nak();
    reply(ok('nack', id));
    this.dispatch();
    return true;
  }

  touch(member: QueueMember, id: number): number | undefined {
    const job = (member as ClusterMember).held.get(id);
    if (job === undefined) return undefined;
    job.msg.working();
    this.#wait(job);
    return this.waitMs;
  }

  /** This daemon's part of the group's jobs: held by its members, or delayed by their nacks. */
  *jobs(): Iterable<QueueJob> {
    const jobs = this.#members.flatMap((member) => [...member.held.values()]);
    for (const { job } of this.#delayed.values()) jobs.push(job);
    yield* jobs.sort((a, b) => a.id - b.id);
  }

  has(job: QueueJob): boolean {
    return (job as ClusterJob).holder?.held.get(job.id) === job || this.#delayed.get(job.id)?.job === job;
  }

  /** Pulls jobs while this daemon's members have room. */
  dispatch(): void {
    if (this.#pulling || this.#stopped || this.#room() <= 0) return;
    this.#pulling = true;
    void this.#pull().finally(() => (this.#pulling = false));
  }

  stop(): void {
    this.#stopped = true;
    for (const { timer } of this.#delayed.values()) clearTimeout(timer);
    this.#delayed.clear();
  }

  async #pull(): Promise<void> {
    while (!this.#stopped && this.#room() > 0) {
      try {
        const batch = await this.#parts.consumer.fetch({ max_messages: this.#room(), expires: PULL_EXPIRES_MS });
        for await (const msg of batch) this.#handOut(msg);
      } catch (error) {
        this.#parts.logger.log('warn', `cluster: group ${this.name} cannot pull jobs (${(error as Error).message}); trying again`);
        await new Promise((resolve) => setTimeout(resolve, PULL_RETRY_MS).unref());
      }
    }
  }

  #room(): number {
    let room = 0;
    for (const member of this.#members) room += Math.max(0, member.free);
    return room;
  }

  #handOut(msg: JsMsg): void {
    this.#undelay(msg.seq);
    const job = new ClusterJob(msg, undefined);
    if (this.#exhausted(job, 1)) {
      this.#dead(job);
      return;
    }
    const message = this.#messageOf(msg);
    // None of this daemon's members may take it now (the access rules):
    // back to the stream, for another daemon's members or later.
    const member = this.#pick(message);
    if (member === undefined || !member.worker.pushJob(message)) {
      if (member !== undefined) this.leave(member);
      msg.nak();
      return;
    }
    job.holder = member;
    member.held.set(job.id, job);
    this.#wait(job);
    this.#parts.counters.jobsDelivered++;
    if (job.tries > 1) this.#parts.counters.jobsRedelivered++;
  }

  /** The job's message, as the stream holds it. */
  #messageOf(msg: JsMsg): Message {
    return {
      id: msg.seq,
      ts: Math.floor(msg.info.timestampNanos / 1e6),
      topic: msg.subject.slice(this.#parts.prefix.length),
      sender: msg.headers?.get(SENDER_HEADER) || FOREIGN_SENDER,
      body: msg.string(),
    };
  }

  /** The next member with room that may take `message`, round robin. */
  #pick(message: Message): ClusterMember | undefined {
    for (let i = 0; i < this.#members.length; i++) {
      const index = (this.#next + i) % this.#members.length;
      const member = this.#members[index] as ClusterMember;
      if (member.free <= 0 || !member.worker.mayTake(message)) continue;
      this.#next = index + 1;
      return member;
    }
    return undefined;
  }

  /** (Re)starts the job's wait, as JetStream's ack_wait does. */
  #wait(job: ClusterJob): void {
    clearTimeout(job.deadline);
    job.deadline = setTimeout(() => {
      const member = job.holder;
      if (member === undefined || member.held.get(job.id) !== job) return;
      this.#parts.logger.log('info', 'job wait ran out; it goes back to the group', { group: this.name, id: job.id, user: member.worker.user, tries: job.tries });
      member.held.delete(job.id);
      job.holder = undefined;
      this.dispatch();
    }, this.waitMs);
    job.deadline.unref();
  }

  /** Back to JetStream after `delayMs`; listed here until then. */
  #delay(job: ClusterJob, delayMs: number): void {
    job.msg.nak(delayMs);
    const timer = setTimeout(() => this.#delayed.delete(job.id), delayMs);
    timer.unref();
    this.#delayed.set(job.id, { job, timer });
  }

  #undelay(id: number): void {
    clearTimeout(this.#delayed.get(id)?.timer);
    this.#delayed.delete(id);
  }

  #take(member: QueueMember, id: number): ClusterJob | undefined {
    const job = (member as ClusterMember).held.get(id);
    if (job === undefined) return undefined;
    clearTimeout(job.deadline);
    (member as ClusterMember).held.delete(id);
    job.holder = undefined;
    return job;
  }

  /** Its tries are used up (`coming`: counting a delivery about to be made). */
  #exhausted(job: ClusterJob, coming = 0): boolean {
    return this.tries > 0 && job.tries - coming >= this.tries;
  }

  /** PROTOCOL.md: journaled on `$dead.<group>`, and never handed out again. */
  #dead(job: ClusterJob): void {
    const { prefix } = this.#parts;
    const dead = { group: this.name, id: job.id, tries: job.tries, topic: job.msg.subject.slice(prefix.length), body: job.msg.string() };
    // Terminated only once the dead letter is in the stream: until then the job may come again.
    publishDead(this.#parts, dead, () => job.msg.term());
  }
}
