/**
 * What a connection holds besides its `recv` patterns: its memberships of
 * queue groups and the things to undo when it goes (a request waiting for
 * its answer). Leaving them is what sends a closed or slow worker's jobs
 * back to its groups at once.
 */
import type { QueueGroup as Group, QueueMember as Member } from './queue.js';

export class Attachments {
  readonly #members = new Map<Group, Member>();
  readonly #onRelease = new Set<() => void>();
  #released = false;
  /** The client can no longer send (and so ack): no more groups. */
  #idle = false;

  /** Groups taken. */
  get size(): number {
    return this.#members.size;
  }

  /** Whether this connection is a member of `group`. */
  has(group: Group): boolean {
    return this.#members.has(group);
  }

  members(): Iterable<Member> {
    return this.#members.values();
  }

  /** A take succeeded; after release or stopWorking, the member leaves at once. */
  joined(member: Member): void {
    if (this.#released || this.#idle) member.group.leave(member);
    else this.#members.set(member.group, member);
  }

  /**
   * The client can send no more (it half-closed): it could ack nothing, so
   * it leaves every group now, its jobs going back at once, and joins none
   * later. What else it holds (a request waiting for its answer) waits for
   * release().
   */
  stopWorking(): void {
    this.#idle = true;
    const members = [...this.#members.values()];
    this.#members.clear();
    for (const member of members) member.group.leave(member);
  }

  /** Leaves every group taken on `pattern`; false if there was none. */
  leave(pattern: string): boolean {
    let left = false;
    for (const [group, member] of this.#members) {
      if (group.pattern !== pattern) continue;
      this.#members.delete(group);
      group.leave(member);
      left = true;
    }
    return left;
  }

  /** `callback` runs when the connection goes; the returned function cancels it. */
  onRelease(callback: () => void): () => void {
    if (this.#released) {
      callback();
      return () => {};
    }
    this.#onRelease.add(callback);
    return () => this.#onRelease.delete(callback);
  }

  /** The connection is going: leave every group, run the callbacks. */
  release(): void {
    if (this.#released) return;
    this.#released = true;
    this.stopWorking();
    for (const callback of this.#onRelease) callback();
    this.#onRelease.clear();
  }
}
