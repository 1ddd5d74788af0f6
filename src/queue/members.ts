/**
 * A group's members (group.ts), with the count of jobs they may still take
 * kept as they change, so a group whose members are all busy finds out in
 * one comparison.
 */
import type { Worker } from './queue.js';
import type { Job, LocalMember as Member } from './job.js';

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

  /** The next member with room that `takes`, round robin; `avoid` only if no other will do. */
  pick(avoid: Member | undefined, takes: (member: Member) => boolean): Member | undefined {
    const list = this.#list;
    let fallback: Member | undefined;
    for (let i = 0; i < list.length; i++) {
      const index = (this.#next + i) % list.length;
      const member = list[index] as Member;
      if (member.free <= 0 || !takes(member)) continue;
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
