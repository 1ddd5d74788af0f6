/**
 * A queue group's changes on their way to the database: the jobs that
 * changed and the group's position, written with the broker's next commit
 * in its transaction, and the replies (`ok ack`, `ok nack`) that wait for
 * that commit. However many times a job changes in a turn, one row write.
 */
import { err } from '../protocol/events.js';
import type { Reply } from '../protocol/events.js';
import type { GroupStore } from '../store/groups.js';
import type { Broker } from '../bus/broker.js';
import type { Staged } from '../bus/upstream.js';
import type { Job } from './job.js';

/** What is written: the group as it is at the commit. */
export interface GroupNow {
  readonly name: string;
  readonly position: number;
  /** Whether `job` is still the group's (not acked, not dead). */
  has(job: Job): boolean;
}

export class GroupWrites implements Staged {
  readonly #group: GroupNow;
  readonly #store: GroupStore;
  readonly #broker: Broker;
  #writtenPosition: number;
  #writingPosition = 0;
  #changed = new Set<Job>();
  #replies: { reply: (reply: Reply) => void; answer: Reply }[] = [];

  constructor(group: GroupNow, store: GroupStore, broker: Broker, position: number) {
    this.#group = group;
    this.#store = store;
    this.#broker = broker;
    this.#writtenPosition = position;
  }

  /** `job` changed (handed out, back, delayed, acked, dead). */
  changed(job: Job): void {
    this.#changed.add(job);
    this.#broker.stage(this);
  }

  /** The position may have moved (a new job was handed out). */
  moved(): void {
    this.#broker.stage(this);
  }

  /** `answer` goes to `reply` once the changes so far are committed. */
  replyAfterCommit(reply: (reply: Reply) => void, answer: Reply): void {
    this.#replies.push({ reply, answer });
    this.#broker.stage(this);
  }

  write(): void {
    const { name } = this.#group;
    this.#writingPosition = this.#group.position;
    if (this.#writingPosition !== this.#writtenPosition) this.#store.position(name, this.#writingPosition);
    for (const job of this.#changed) {
      if (this.#group.has(job)) {
        this.#store.saveJob(name, { id: job.id, tries: job.tries, due: job.state === 'delayed' ? job.due : 0 });
        job.mayBeStored = true;
      } else if (job.mayBeStored) {
        // A job acked before its row was ever written has none to delete.
        this.#store.deleteJob(name, job.id);
      }
    }
  }

  settled(error: Error | undefined): void {
    if (error === undefined) {
      this.#writtenPosition = this.#writingPosition;
      this.#changed = new Set();
    } else {
      // The changes stay, for the next commit to write; rows deleted in
      // the rolled-back one are there again.
      for (const job of this.#changed) job.mayBeStored = true;
    }
    const replies = this.#replies;
    this.#replies = [];
    for (const { reply, answer } of replies) reply(error === undefined ? answer : err('internal', 'the journal could not store that; the job may come again'));
  }
}
