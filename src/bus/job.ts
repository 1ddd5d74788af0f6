/** The parts of a queue group: its jobs and its members (bus/group.ts). */
import type { Group } from './group.js';
import type { Timed } from './timers.js';

/** What a member's connection is to its group (a session implements it). */
export interface Worker {
  readonly user: string | undefined;
  /** Writes a `job` line (with its LF); false if the connection is closing. */
  pushJob(text: string, bytes: number): boolean;
}

/** A message handed out and not acked. */
export class Job implements Timed {
  readonly group: Group;
  readonly id: number;
  /** Deliveries so far. */
  tries: number;
  state: 'ready' | 'out' | 'delayed' = 'ready';
  /** Out: when its wait runs out. Delayed: when it may go again. Ready: 0. */
  due = 0;
  /** Its place in the one heap it is in: the group's ready jobs, or the timers (out, delayed). */
  heapIndex = -1;
  /** The member holding it, while out. */
  holder: Member | undefined;
  /** The member it went to last: another is preferred next time. */
  last: Member | undefined;
  /** Its row may be in the jobs table: one to delete when it is done. */
  mayBeStored = false;

  constructor(group: Group, id: number, tries: number) {
    this.group = group;
    this.id = id;
    this.tries = tries;
  }

  delay(until: number): void {
    this.state = 'delayed';
    this.due = until;
  }

  expire(): void {
    this.group.expired(this);
  }
}

/** One connection's `take` of a group. */
export class Member {
  readonly group: Group;
  readonly worker: Worker;
  /** Jobs it may hold at once. */
  max: number;
  readonly held = new Map<number, Job>();

  constructor(group: Group, worker: Worker, max: number) {
    this.group = group;
    this.worker = worker;
    this.max = max;
  }

  /** Jobs it may still take (negative after its max was lowered). */
  get free(): number {
    return this.max - this.held.size;
  }
}

/**
 * A group's members, with the count of jobs they may still take kept as
 * they change, so a group whose members are all busy finds out in one
 * comparison.
 */
export class Members {
  readonly #byWorker = new Map<Worker, Member>();
  /** In the order they joined, for the round robin. */
  #list: Member[] = [];
  #next = 0;
  /** The sum of every member's room (max - held, when positive). */
  #free = 0;

  get size(): number {
    return this.#byWorker.size;
  }

  get free(): number {
    return this.#free;
  }

  get(worker: Worker): Member | undefined {
    return this.#byWorker.get(worker);
  }

  has(member: Member): boolean {
    return this.#byWorker.get(member.worker) === member;
  }

  add(member: Member): void {
    this.#byWorker.set(member.worker, member);
    this.#list.push(member);
    this.#free += Math.max(0, member.free);
  }

  /** Returns false if it was not a member. */
  remove(member: Member): boolean {
    if (!this.has(member)) return false;
    this.#byWorker.delete(member.worker);
    this.#list = this.#list.filter((m) => m !== member);
    this.#free -= Math.max(0, member.free);
    return true;
  }

  setMax(member: Member, max: number): void {
    this.#adjust(member, () => (member.max = max));
  }

  hold(member: Member, job: Job): void {
    this.#adjust(member, () => member.held.set(job.id, job));
  }

  drop(member: Member, job: Job): void {
    this.#adjust(member, () => member.held.delete(job.id));
  }

  /** The next member with room, round robin; `avoid` only if no other has room. */
  pick(avoid: Member | undefined): Member | undefined {
    const list = this.#list;
    let fallback: Member | undefined;
    for (let i = 0; i < list.length; i++) {
      const index = (this.#next + i) % list.length;
      const member = list[index] as Member;
      if (member.free <= 0) continue;
      if (member === avoid) {
        fallback = member;
        continue;
      }
      this.#next = index + 1;
      return member;
    }
    return fallback;
  }

  #adjust(member: Member, change: () => void): void {
    const before = Math.max(0, member.free);
    change();
    if (this.has(member)) this.#free += Math.max(0, member.free) - before;
  }
}
