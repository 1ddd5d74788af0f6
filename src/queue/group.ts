/**
 * One queue group (PROTOCOL.md, "Work queues"). The journal is the queue:
 * the group's position says how far it has handed out the messages of its
 * pattern; a Job exists only for a message handed out and not yet acked
 * (out with a member, ready to go again, or delayed by a nack).
 *
 * New jobs come from its Backlog; the group is a Receiver, so live
 * messages feed the backlog once it has read to the journal's end. Jobs
 * that came back (a member left, a wait ran out, a nack) are Owed: they go
 * out again first, lowest id first, preferably to another member.
 * Deadlines are on the shared Timers heap; changes are written with the
 * broker's next commit (GroupWrites).
 */
import type { Delivery, Receiver } from '../bus/receiver.js';
import type { Turn } from '../bus/turn.js';
import { ok } from '../protocol/events.js';
import type { Message, Reply } from '../protocol/events.js';
import type { GroupStore, StoredGroup, StoredJob } from '../store/groups.js';
import type { Timers } from '../util/timers.js';
import { Backlog } from './backlog.js';
import { GroupWrites } from './group-writes.js';
import { Job } from './job.js';
import type { LocalMember } from './job.js';
import { Members } from './members.js';
import { Owed } from './owed.js';
import type { OwedServices } from './owed.js';
import { Member } from './queue.js';
import type { QueueGroup, Worker } from './queue.js';

export interface GroupServices extends OwedServices {
  /** Where a group's work left for later waits. */
  readonly turn: Turn;
  readonly store: GroupStore;
  /** One heap and one Node timer for every group's deadlines. */
  readonly timers: Timers;
  /** SIGHUP may change them. */
  readonly limits: { readonly maxAckPending: number };
}

export class Group implements QueueGroup, Receiver {
  readonly name: string;
  readonly pattern: string;
  readonly waitMs: number;
  /** Deliveries before a job is dead; 0: never. */
  readonly tries: number;
  readonly creator: string;
  /** Receivers have a login; a group has members instead. */
  readonly user = undefined;
  readonly #services: GroupServices;
  readonly #backlog: Backlog;
  readonly #writes: GroupWrites;
  readonly #owed: Owed;
  readonly #members = new Members();
  /** Jobs out with members. */
  #out = 0;
  #dispatching = false;
  #again = false;

  constructor(services: GroupServices, stored: StoredGroup) {
    this.#services = services;
    this.name = stored.name;
    this.pattern = stored.pattern;
    this.waitMs = stored.waitMs;
    this.tries = stored.tries;
    this.creator = stored.creator;
    this.#backlog = new Backlog(stored.name, stored.pattern, stored.position, services.reader, services.logger, services.turn, () => this.dispatch());
    this.#writes = new GroupWrites(this, services.store, services.broker, stored.position);
    this.#owed = new Owed(this, services, this.#writes);
  }

  /** After a restart: jobs that were out go again, delayed ones wait on. */
  load(stored: Iterable<StoredJob>): void {
    for (const { id, tries, due } of stored) {
      const job = new Job(this, id, tries);
      job.mayBeStored = true;
      this.#owed.add(job);
      if (due > 0) {
        job.delay(due);
        this.#services.timers.set(job);
      } else {
        this.#owed.giveBack(job);
      }
    }
  }

  /** Every matching message up to this id was handed out. */
  get position(): number {
    return this.#backlog.position;
  }

  /** Jobs handed out and not acked: out, ready and delayed. */
  get pending(): number {
    return this.#owed.size;
  }

  /** Whether `job` is still the group's (not acked, not dead). */
  has(job: Job): boolean {
    return this.#owed.has(job);
  }

  /** The jobs out, ready and delayed, lowest id first. */
  jobs(): IterableIterator<Job> {
    return this.#owed.values();
  }

  // --- members ---------------------------------------------------------------

  /** `worker` joins (or, already a member, holds at most `max` from now on). */
  join(worker: Worker, max: number): LocalMember {
    let member = this.#members.get(worker);
    if (member === undefined) {
      member = new Member<Job>(this, worker, max);
      this.#members.add(member);
      if (this.#members.size === 1) {
        this.#services.broker.subscribe(this, this.pattern);
        this.#backlog.live = true;
      }
    } else {
      this.#members.setMax(member, max);
    }
    this.dispatch();
    return member;
  }

  /** The member leaves; its jobs go back to the group at once. */
  leave(member: LocalMember): void {
    if (!this.#members.remove(member)) return;
    for (const job of [...member.held.values()]) {
      this.#release(job);
      this.#owed.giveBack(job);
    }
    if (this.#members.size === 0) {
      this.#services.broker.unsubscribe(this, this.pattern);
      this.#backlog.live = false;
    }
    this.dispatch();
  }

  // --- a member's commands ---------------------------------------------------

  /** Done with job `id`; false if `member` does not hold it. */
  ack(member: LocalMember, id: number, reply: (reply: Reply) => void): boolean {
    const job = member.held.get(id);
    if (job === undefined) return false;
    this.#release(job);
    this.#owed.acked(job);
    this.#services.counters.jobsAcked++;
    this.#writes.replyAfterCommit(reply, ok('ack', id));
    this.dispatch();
    return true;
  }

  /** Gives job `id` back, at once or after `delayMs`; false if `member` does not hold it. */
  nack(member: LocalMember, id: number, delayMs: number, reply: (reply: Reply) => void): boolean {
    const job = member.held.get(id);
    if (job === undefined) return false;
    this.#release(job);
    if (delayMs > 0 && !this.#owed.exhausted(job)) {
      job.delay(Date.now() + delayMs);
      this.#services.timers.set(job);
      this.#writes.changed(job);
    } else {
      this.#owed.giveBack(job);
    }
    this.#writes.replyAfterCommit(reply, ok('nack', id));
    this.dispatch();
    return true;
  }

  /** Restarts the wait of job `id`: the ms left, or undefined if `member` does not hold it. */
  touch(member: LocalMember, id: number): number | undefined {
    const job = member.held.get(id);
    if (job === undefined) return undefined;
    job.due = Date.now() + this.waitMs;
    this.#services.timers.set(job);
    return this.waitMs;
  }

  /** A job's time came: its wait ran out, or its delay ended. */
  expired(job: Job): void {
    if (job.state === 'out') {
      const holder = job.holder as LocalMember;
      this.#services.logger.log('info', 'job wait ran out; it goes back to the group', { group: this.name, id: job.id, user: holder.worker.user, tries: job.tries });
      this.#release(job);
    }
    this.#owed.giveBack(job);
    this.dispatch();
  }

  // --- handing out -----------------------------------------------------------

  /** Retention deleted the journal before `first`: nothing older is handed out. */
  journalStartsAt(first: number): void {
    this.#backlog.dropBefore(first);
  }

  /** A live message of the pattern, committed just now. */
  deliver(message: Delivery): void {
    if (this.#backlog.offer(message)) this.dispatch();
  }

  /** Hands out jobs while members have room; safe to call at any depth. */
  dispatch(): void {
    if (this.#dispatching) {
      this.#again = true;
      return;
    }
    this.#dispatching = true;
    try {
      do {
        this.#again = false;
        this.#handOut();
      } while (this.#again);
    } finally {
      this.#dispatching = false;
    }
  }

  #handOut(): void {
    const { limits } = this.#services;
    // Jobs no member may take now (the access rules): they wait, ready,
    // while the jobs behind them go out.
    const setAside: Job[] = [];
    while (this.#members.free > 0 && this.#out < limits.maxAckPending) {
      // Off the ready heap before #send puts it on the timers' (one heap at a time).
      const ready = this.#owed.takeReady();
      if (ready !== undefined) {
        const sent = this.#send(ready.job, ready.message);
        if (sent === 'nobody') setAside.push(ready.job);
        else if (!sent) this.#owed.putBack(ready.job);
        continue;
      }
      // Jobs set aside count like any owed: a group nobody may take from
      // reads no further into the journal.
      if (this.#owed.size >= limits.maxAckPending) break;
      const next = this.#backlog.peek();
      if (next === undefined) break;
      const job = new Job(this, next.id, 0);
      const sent = this.#send(job, next);
      if (sent === false) continue;
      this.#backlog.take();
      this.#owed.add(job);
      this.#writes.moved();
      if (sent === 'nobody') {
        // Past the position: its row keeps it across a restart.
        this.#writes.changed(job);
        setAside.push(job);
      }
    }
    for (const job of setAside) this.#owed.putBack(job);
  }

  /**
   * Gives `job`, whose message is `message`, to a member that may take it
   * (another than its last, if one has room): true if sent, false if the
   * member was closing, 'nobody' if no member with room may take it.
   */
  #send(job: Job, message: Message): boolean | 'nobody' {
    const member = this.#members.pick(job.last, (m) => m.worker.mayTake(message));
    if (member === undefined) return 'nobody';
    if (!member.worker.pushJob(message)) {
      // A worker that cannot take it is closing: it leaves (if it has not yet).
      this.leave(member);
      return false;
    }
    job.holder = member;
    job.last = member;
    job.state = 'out';
    job.tries++;
    job.due = Date.now() + this.waitMs;
    this.#services.timers.set(job);
    this.#members.hold(member, job);
    this.#out++;
    const counters = this.#services.counters;
    counters.jobsDelivered++;
    if (job.tries > 1) counters.jobsRedelivered++;
    this.#writes.changed(job);
    return true;
  }

  /** Takes an out job from its member. */
  #release(job: Job): void {
    this.#members.drop(job.holder as LocalMember, job);
    job.holder = undefined;
    this.#out--;
    this.#services.timers.remove(job);
  }
}
