/**
 * What a queue group owes (group.ts): every job handed out and not acked,
 * the ones ready to go again (lowest id first), and how a job ends without
 * an ack: dead after its last try, journaled on `$dead.<group>`, or lost to
 * retention. Every change is written with the broker's next commit
 * (GroupWrites).
 */
import type { Broker } from '../bus/broker.js';
import type { Logger } from '../log.js';
import type { Message } from '../protocol/events.js';
import type { JournalReader } from '../store/reader.js';
import { Heap } from '../util/heap.js';
import type { GroupWrites } from './group-writes.js';
import type { Job } from './job.js';
import { publishDead } from './queue.js';
import type { JobCounters } from './queue.js';

export interface OwedServices {
  readonly reader: JournalReader;
  readonly broker: Broker;
  readonly counters: JobCounters;
  readonly logger: Logger;
}

export class Owed {
  readonly #group: { readonly name: string; readonly tries: number };
  readonly #services: OwedServices;
  readonly #writes: GroupWrites;
  /** Every job handed out and not acked, in id order. */
  readonly #jobs = new Map<number, Job>();
  readonly #ready = new Heap<Job>((a, b) => a.id < b.id);

  /** `group.tries`: deliveries before a job is dead; 0: never. */
  constructor(group: { readonly name: string; readonly tries: number }, services: OwedServices, writes: GroupWrites) {
    this.#group = group;
    this.#services = services;
    this.#writes = writes;
  }

  /** Jobs out, ready and delayed. */
  get size(): number {
    return this.#jobs.size;
  }

  /** Whether `job` is still owed (not acked, not dead). */
  has(job: Job): boolean {
    return this.#jobs.get(job.id) === job;
  }

  /** The jobs out, ready and delayed, lowest id first. */
  values(): IterableIterator<Job> {
    return this.#jobs.values();
  }

  /** A job handed out for the first time, or loaded after a restart. */
  add(job: Job): void {
    this.#jobs.set(job.id, job);
  }

  /** Done with: acked. */
  acked(job: Job): void {
    this.#jobs.delete(job.id);
    this.#writes.changed(job);
  }

  /** Its tries are used up. */
  exhausted(job: Job): boolean {
    return this.#group.tries > 0 && job.tries >= this.#group.tries;
  }

  /** Back in the group: ready to go again, or dead after its last try. */
  giveBack(job: Job): void {
    if (this.exhausted(job)) {
      this.#dead(job);
      return;
    }
    job.state = 'ready';
    job.due = 0;
    this.#ready.push(job);
    this.#writes.changed(job);
  }

  /** The ready job with the lowest id, off the heap, and its message. */
  takeReady(): { job: Job; message: Message } | undefined {
    for (let job = this.#ready.pop(); job !== undefined; job = this.#ready.pop()) {
      // With its QoS: an MQTT shared subscription delivers at the lesser.
      const message = this.#services.reader.message(job.id, true);
      if (message !== undefined) return { job, message };
      this.#lost(job);
    }
    return undefined;
  }

  /** A job takeReady gave that no member could take: first in line again. */
  putBack(job: Job): void {
    this.#ready.push(job);
  }

  /** PROTOCOL.md: journaled on `$dead.<group>`, and never handed out again. */
  #dead(job: Job): void {
    const row = this.#services.reader.message(job.id);
    if (row === undefined) {
      this.#lost(job);
      return;
    }
    this.#jobs.delete(job.id);
    this.#writes.changed(job);
    publishDead(this.#services, { group: this.#group.name, id: job.id, tries: job.tries, topic: row.topic, body: row.body });
  }

  /** The job's message is gone from the journal (retention): nothing to hand out. */
  #lost(job: Job): void {
    this.#jobs.delete(job.id);
    this.#writes.changed(job);
    this.#services.logger.log('warn', 'retention deleted a job before it was acked', { group: this.#group.name, id: job.id });
  }
}
