/** A job of the daemon's own queue groups (group.ts). */
import type { Timed } from '../util/timers.js';
import type { Member } from './queue.js';

/** A member of a group of this engine: it holds Jobs. */
export type LocalMember = Member<Job>;

/** What a job tells when its time comes: its group. */
export interface JobOwner {
  /** `job`'s wait ran out, or its delay ended. */
  expired(job: Job): void;
}

/** A message handed out and not acked. */
export class Job implements Timed {
  readonly owner: JobOwner;
  readonly id: number;
  /** Deliveries so far. */
  tries: number;
  state: 'ready' | 'out' | 'delayed' = 'ready';
  /** Out: when its wait runs out. Delayed: when it may go again. Ready: 0. */
  due = 0;
  /** Its place in the one heap it is in: the group's ready jobs, or the timers (out, delayed). */
  heapIndex = -1;
  /** The member holding it, while out. */
  holder: LocalMember | undefined;
  /** The member it went to last: another is preferred next time. */
  last: LocalMember | undefined;
  /** Its row may be in the jobs table: one to delete when it is done. */
  mayBeStored = false;

  constructor(owner: JobOwner, id: number, tries: number) {
    this.owner = owner;
    this.id = id;
    this.tries = tries;
  }

  delay(until: number): void {
    this.state = 'delayed';
    this.due = until;
  }

  expire(): void {
    this.owner.expired(this);
  }
}
