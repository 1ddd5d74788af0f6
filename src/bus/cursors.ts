/**
 * Durable cursors (PROTOCOL.md, "Durable cursors"): every user's cursors,
 * kept in memory and in the cursors table. A mark changes the cursor at
 * once and is written with the broker's next commit: however many marks
 * of one cursor a turn brings, one UPDATE, in the journal's transaction,
 * and each `ok mark` only after it.
 */
import type { CursorStore, StoredCursor } from '../store/cursors.js';
import { err, ok } from '../protocol/events.js';
import type { Reply } from '../protocol/events.js';
import type { Broker } from './broker.js';
import type { Staged } from './upstream.js';

export type Cursor = StoredCursor;

/**
 * A position `cursors` lists: a cursor, or one kept elsewhere (an MQTT
 * kept session, over the patterns of its subscriptions).
 */
export interface ListedCursor {
  readonly user: string;
  readonly name: string;
  readonly patterns: readonly string[];
  readonly mark: number;
}

/** Positions kept elsewhere that count as cursors (--max-cursors) and are listed with them. */
export interface KeptPositions {
  positions(user?: string): Iterable<ListedCursor>;
  keptBy(user: string): number;
}

/**
 * Cluster mode: where this daemon's cursor changes go, so that a client
 * finds its cursors whichever daemon it reaches (cluster/cursors.ts).
 */
export interface CursorReplica {
  created(cursor: Cursor): void;
  /** Settles once the other daemons can see the mark (or it failed, and holds here only). */
  marked(cursor: Cursor): Promise<void>;
  forgotten(user: string, name: string): void;
  /** Brings the cursor up to date from the other daemons. */
  refresh(user: string, name: string): Promise<void>;
}

export class Cursors implements Staged {
  readonly #store: CursorStore;
  readonly #broker: Broker;
  /** user -> name -> cursor */
  readonly #byUser = new Map<string, Map<string, Cursor>>();
  #count = 0;
  /** Cursors marked since the last commit. */
  #marked = new Set<Cursor>();
  /** Cursors marked by this daemon's clients since the last commit: the replica hears of them. */
  #markedHere = new Set<Cursor>();
  /** Cluster mode: told of every change made here. */
  replica: CursorReplica | undefined;
  /** MQTT's kept sessions: durable cursors too. */
  elsewhere: KeptPositions | undefined;
  /** Replies that wait for the commit of their mark. */
  #replies: { cursor: Cursor; reply: (reply: Reply) => void }[] = [];

  constructor(store: CursorStore, broker: Broker) {
    this.#store = store;
    this.#broker = broker;
    for (const cursor of store.all()) this.#add(cursor);
  }

  /** Every user's cursors together. */
  get size(): number {
    return this.#count;
  }

  get(user: string, name: string): Cursor | undefined {
    return this.#byUser.get(user)?.get(name);
  }

  /** Every user's cursors. */
  *all(): Iterable<Cursor> {
    for (const cursors of this.#byUser.values()) yield* cursors.values();
  }

  /** `user`'s cursors, by name. */
  of(user: string): Cursor[] {
    return [...(this.#byUser.get(user)?.values() ?? [])].sort((a, b) => (a.name < b.name ? -1 : 1));
  }

  /** `user`'s cursors and positions kept elsewhere (--max-cursors counts both). */
  count(user: string): number {
    return (this.#byUser.get(user)?.size ?? 0) + (this.elsewhere?.keptBy(user) ?? 0);
  }

  /** Cursors and positions kept elsewhere, of `user` or of everyone, by user and name. */
  listed(user?: string): ListedCursor[] {
    const cursors = user === undefined ? [...this.all()] : this.of(user);
    const list: ListedCursor[] = cursors.map((c) => ({ user: c.user, name: c.name, patterns: [c.pattern], mark: c.mark }));
    list.push(...(this.elsewhere?.positions(user) ?? []));
    return list.sort((a, b) => (a.user === b.user ? (a.name < b.name ? -1 : 1) : a.user < b.user ? -1 : 1));
  }

  /** Makes a cursor, written at once (a rare event). */
  create(user: string, name: string, pattern: string, mark: number): Cursor {
    const cursor: Cursor = { user, name, pattern, mark };
    this.#store.create(cursor, Date.now());
    this.#add(cursor);
    this.replica?.created(cursor);
    return cursor;
  }

  /**
   * A cursor as another daemon of the cluster has it: made or replaced
   * here, or its mark moved forward (never back), without telling the
   * replica again.
   */
  adopt(user: string, name: string, pattern: string, mark: number): void {
    const cursor = this.get(user, name);
    if (cursor !== undefined && cursor.pattern === pattern) {
      if (mark <= cursor.mark) return;
      cursor.mark = mark;
      this.#marked.add(cursor);
      this.#broker.stage(this);
      return;
    }
    if (cursor !== undefined) this.#forget(user, name);
    const adopted: Cursor = { user, name, pattern, mark };
    this.#store.create(adopted, Date.now());
    this.#add(adopted);
  }

  /** Cluster mode: the cursor as the other daemons last left it. */
  refresh(user: string, name: string): Promise<void> {
    return this.replica?.refresh(user, name) ?? Promise.resolve();
  }

  /** A cursor another daemon of the cluster forgot. */
  drop(user: string, name: string): void {
    this.#forget(user, name);
  }

  /**
   * Moves the mark forward (never back) to `id` now, and writes it with
   * the next commit; `reply` then gets `ok mark <name> <mark>`.
   */
  mark(cursor: Cursor, id: number, reply: (reply: Reply) => void): void {
    if (id > cursor.mark) cursor.mark = id;
    this.#marked.add(cursor);
    this.#markedHere.add(cursor);
    this.#replies.push({ cursor, reply });
    this.#broker.stage(this);
  }

  /** Deletes it at once; false if there is none. */
  forget(user: string, name: string): boolean {
    if (!this.#forget(user, name)) return false;
    this.replica?.forgotten(user, name);
    return true;
  }

  #forget(user: string, name: string): boolean {
    const cursors = this.#byUser.get(user);
    if (!cursors?.delete(name)) return false;
    this.#count--;
    if (cursors.size === 0) this.#byUser.delete(user);
    this.#store.forget(user, name);
    return true;
  }

  // --- Staged ----------------------------------------------------------------

  write(): void {
    // A cursor forgotten (or forgotten and made again) since its mark is
    // not written: the row is no longer its own.
    for (const cursor of this.#marked) if (this.get(cursor.user, cursor.name) === cursor) this.#store.mark(cursor);
  }

  settled(error: Error | undefined): void {
    const replies = this.#replies;
    this.#replies = [];
    // After a failed commit the marks stay to be written by the next one.
    const shared = new Map<Cursor, Promise<void>>();
    if (error === undefined) {
      this.#marked = new Set();
      for (const cursor of this.#markedHere) {
        if (this.replica !== undefined && this.get(cursor.user, cursor.name) === cursor) shared.set(cursor, this.replica.marked(cursor));
      }
      this.#markedHere = new Set();
    }
    for (const { cursor, reply } of replies) {
      const answer = (): void => reply(error === undefined ? ok('mark', cursor.name, cursor.mark) : err('internal', 'the mark could not be stored; mark again'));
      // Cluster mode: `ok mark` once another daemon would find the mark.
      const share = shared.get(cursor);
      if (share === undefined) answer();
      else void share.then(answer);
    }
  }

  #add(cursor: Cursor): void {
    let cursors = this.#byUser.get(cursor.user);
    if (!cursors) this.#byUser.set(cursor.user, (cursors = new Map()));
    cursors.set(cursor.name, cursor);
    this.#count++;
  }
}
