/**
 * Every queue group of the bus, loaded from the database at start (with
 * their pending jobs) and made on first `take`. Groups belong to the bus,
 * not to a user; each remembers who made it, for the per-user cap.
 */
import type { StoredGroup } from '../store/groups.js';
import { Timers } from '../util/timers.js';
import { Group } from './group.js';
import type { GroupServices } from './group.js';
import { groupsMadeBy, jobsPendingIn } from './queue.js';
import type { QueueGroups } from './queue.js';

export class Groups implements QueueGroups {
  readonly #services: GroupServices;
  readonly #groups = new Map<string, Group>();

  constructor(services: Omit<GroupServices, 'timers'>) {
    this.#services = { ...services, timers: new Timers() };
    for (const stored of services.store.all()) {
      const group = this.#add(stored);
      group.load(services.store.jobs(stored.name));
    }
  }

  get size(): number {
    return this.#groups.size;
  }

  get(name: string): Group | undefined {
    return this.#groups.get(name);
  }

  /** How many groups `user` made. */
  madeBy(user: string): number {
    return groupsMadeBy(this.#groups.values(), user);
  }

  /** Jobs handed out and not acked, in every group. */
  pendingJobs(): number {
    return jobsPendingIn(this.#groups.values());
  }

  /** Makes a group, written at once (a rare event). */
  create(stored: StoredGroup): Group {
    this.#services.store.create(stored, Date.now());
    return this.#add(stored);
  }

  /** Retention deleted the journal before `first`. */
  journalStartsAt(first: number): void {
    for (const group of this.#groups.values()) group.journalStartsAt(first);
  }

  /** No more deadlines (the daemon is stopping). */
  stop(): void {
    this.#services.timers.stop();
  }

  #add(stored: StoredGroup): Group {
    const group = new Group(this.#services, stored);
    this.#groups.set(stored.name, group);
    return group;
  }
}
