/**
 * The messages of the journal (PROTOCOL.md, "Journal"): every accepted send
 * is committed before it is acknowledged or delivered. A commit is one row
 * of `pages` (page.ts) holding its messages' `msg` lines: one B-tree
 * insert per commit, not per message. Pages are append-only, enforced by
 * triggers in the database itself (schema.ts); only retention deletes,
 * through a narrow path, whole pages. The commit that completes a block of
 * ids also writes the block's summary (summaries.ts), in the same
 * transaction.
 */
import type Database from 'better-sqlite3';
import type { Qos } from '../protocol/events.js';
import { emptyPage, PageBuilder, pageBytes } from './page.js';
import type { RecentPages } from './recent.js';
import type { BuiltCommit } from './page.js';
import { BLOCK_SIZE, blockOf, NO_DELETE_TRIGGER } from './schema.js';
import { BlockSummaries } from './summaries.js';

export interface StoredMessage {
  id: number;
  ts: number;
  topic: string;
  sender: string;
  body: string;
  /** The MQTT publish QoS, when not 1. */
  qos?: Qos;
}

export interface PendingMessage {
  readonly topic: string;
  readonly sender: string;
  readonly body: string;
  /** The MQTT publish QoS; absent: 1. */
  readonly qos?: Qos | undefined;
}

/**
 * The QoS of a commit's messages, one digit each, or undefined when all
 * are 1 (every message of the line protocol, HTTP and WebSocket): one side
 * row per commit that has any other, never one per message.
 */
function qosDigits(messages: readonly PendingMessage[]): string | undefined {
  let i = 0;
  while (i < messages.length && ((messages[i] as PendingMessage).qos ?? 1) === 1) i++;
  if (i === messages.length) return undefined;
  let digits = '1'.repeat(i);
  for (; i < messages.length; i++) digits += (messages[i] as PendingMessage).qos ?? 1;
  return digits;
}

/** A message whose id and time were given elsewhere (a cluster's stream). */
export interface NumberedMessage extends PendingMessage {
  readonly id: number;
  readonly ts: number;
}

/**
 * The journal's last id: the last id of its newest page. Retention never
 * leaves the journal without a page: when it takes the newest, an empty
 * one holds its last id (page.ts, emptyPage), so ids never start over.
 */
export const LAST_ID_SQL = 'SELECT coalesce(max(last_id), 0) FROM pages';

/**
 * What the last commit wrote: the bytes of its messages' `msg` lines, in
 * order (one piece per run of one time), so that receivers take each line
 * as its page holds it, encoded once.
 */
export class Written {
  readonly commits: BuiltCommit[] = [];
}

export class Journal {
  readonly #check: () => void;
  readonly #appendBatch: (messages: readonly PendingMessage[], ts: number, alsoWrite: (() => void) | undefined) => number;
  readonly #appendNumbered: (messages: readonly NumberedMessage[], alsoWrite: (() => void) | undefined) => number;
  readonly #deleteThrough: (lastDeleted: number, limit: number) => number;
  readonly #summaries: BlockSummaries;
  readonly #recent: RecentPages | undefined;
  /** The lines of the last commit. */
  readonly written = new Written();

  /**
   * `check` throws when the journal's files are no longer the ones open;
   * `recent` keeps the newest pages (the daemon's reader reads them there).
   */
  constructor(db: Database.Database, check: () => void, recent?: RecentPages) {
    this.#check = check;
    this.#recent = recent;
    const builder = new PageBuilder(pageBytes(db.pragma('page_size', { simple: true }) as number));
    const summaries = (this.#summaries = new BlockSummaries(db));
    const written = this.written;
    // What each commit adds joins the newest pages once it committed (#settled).
    const last = db.prepare<[], number>(LAST_ID_SQL).pluck();
    // message_qos: the QoS digits of a commit's messages, keyed by its first id.
    const insertQos = db.prepare<[number, string]>('INSERT INTO message_qos (first_id, qos) VALUES (?, ?)');
    const insert = db.prepare<[number, number, number, number, string | null, Buffer, string]>('INSERT INTO pages (last_id, first_id, count, ts, topic, data, spans) VALUES (?, ?, ?, ?, ?, ?, ?)');
    /** Adds messages[from..to) to the builder, and their runs of one topic to the block sums. */
    const addAll = (messages: readonly PendingMessage[], from: number, to: number, idOf: (k: number) => number, before: number): void => {
      // The block sums take runs of one topic within a block.
      let topic = '';
      let first = 0;
      let last = 0;
      let count = 0;
      let boundary = 0;
      for (let k = from; k < to; k++) {
        const m = messages[k] as PendingMessage;
        const id = idOf(k);
        builder.add(m.topic, id, m.sender, m.body);
        if (m.topic !== topic || id >= boundary) {
          if (count > 0) summaries.add(topic, first, last, count, before);
          topic = m.topic;
          first = id;
          count = 0;
          boundary = (blockOf(id) + 1) * BLOCK_SIZE;
        }
        last = id;
        count++;
      }
      summaries.add(topic, first, last, count, before);
    };
    // The loop is a function apart: V8 compiles it while the daemon's first
    // commits still run it, and compiled with the code after it (which had
    // not run yet) it was thrown away and compiled again, on the core the
    // sends wait for, three times in a fresh daemon's first 200,000 sends.
    /** Writes messages[from..to), the k-th with id idOf(k), as the pages they fill (`before`: the last id before the commit). */
    const writePages = (messages: readonly PendingMessage[], from: number, to: number, idOf: (k: number) => number, ts: number, before: number): void => {
      addAll(messages, from, to, idOf, before);
      const commit = builder.build();
      for (const page of commit.pages) {
        insert.run(page.lastId, page.firstId, page.count, ts, page.topic, page.data, page.spans);
        recent?.add({ first_id: page.firstId, last_id: page.lastId, count: page.count, ts, topic: page.topic, data: page.data });
      }
      written.commits.push(commit);
    };
    // Each transaction reads before it writes: a transaction that holds a
    // read never waits for the write lock (SQLite's busy handler would sleep
    // on the event loop); it fails at once, SQLITE_BUSY, and the broker
    // tries again in a later turn.
    this.#appendBatch = db.transaction((messages: readonly PendingMessage[], ts: number, alsoWrite: (() => void) | undefined) => {
      const before = last.get() as number;
      alsoWrite?.();
      written.commits.length = 0;
      if (messages.length === 0) return 0;
      const idOf = (k: number): number => before + 1 + k;
      writePages(messages, 0, messages.length, idOf, ts, before);
      const qos = qosDigits(messages);
      if (qos !== undefined) insertQos.run(before + 1, qos);
      const lastId = before + messages.length;
      summaries.write(before, lastId);
      return lastId;
    });
    this.#appendNumbered = db.transaction((messages: readonly NumberedMessage[], alsoWrite: (() => void) | undefined) => {
      const before = last.get() as number;
      alsoWrite?.();
      written.commits.length = 0;
      const idOf = (k: number): number => (messages[k] as NumberedMessage).id;
      let id = before;
      // Pages of their own per run of one time: a page has one ts.
      let from = 0;
      for (let k = 0; k < messages.length; k++) {
        const m = messages[k] as NumberedMessage;
        if (m.id <= id) throw new Error(`message id ${m.id} is not after the journal's last id ${id}`);
        id = m.id;
        const next = messages[k + 1];
        if (next === undefined || next.ts !== m.ts) {
          writePages(messages, from, k + 1, idOf, m.ts, before);
          from = k + 1;
        }
      }
      summaries.write(before, id);
      return id;
    });
    // The oldest pages, those that end by an id, but no more than about
    // `limit` messages from the first.
    const first = db.prepare<[], number | undefined>('SELECT first_id FROM pages ORDER BY last_id LIMIT 1').pluck();
    const newest = db.prepare<[], { last_id: number; count: number; ts: number }>('SELECT last_id, count, ts FROM pages ORDER BY last_id DESC LIMIT 1');
    const holding = db.prepare<[number], number | undefined>('SELECT last_id FROM pages WHERE last_id >= ? ORDER BY last_id LIMIT 1').pluck();
    const remove = db.prepare<[number], number>('DELETE FROM pages WHERE last_id <= ? RETURNING count').pluck();
    const forget = db.prepare<[number]>('DELETE FROM topic_blocks WHERE block < ?');
    const forgetQos = db.prepare<[number, number]>('DELETE FROM message_qos WHERE first_id < ? AND first_id + length(qos) <= ?');
    // Retention's narrow path past the append-only guard: within one
    // transaction of this connection, so no other connection ever sees
    // the trigger missing.
    this.#deleteThrough = db.transaction((lastDeleted: number, limit: number) => {
      const oldest = first.get();
      const end = newest.get();
      if (oldest === undefined || end === undefined) return 0;
      let through = Math.min(lastDeleted, holding.get(oldest + limit - 1) ?? lastDeleted);
      // An empty page holding the last id stays until a commit follows it.
      if (end.count === 0) through = Math.min(through, end.last_id - 1);
      db.exec('DROP TRIGGER pages_no_delete');
      let deleted = 0;
      for (const count of remove.all(through)) deleted += count;
      db.exec(NO_DELETE_TRIGGER);
      if (through >= end.last_id) emptyPage(insert, end.last_id, end.ts);
      // The summaries of blocks left with no message go too, and QoS digits.
      const firstLeft = first.get() ?? through + 1;
      forget.run(blockOf(firstLeft));
      forgetQos.run(firstLeft, firstLeft);
      return deleted;
    });
  }

  /**
   * Appends messages in one transaction, as the pages they fill (one for
   * a batch of short messages), in order, all stamped `ts`, with
   * whatever `alsoWrite` writes (cursor marks, job states) in the same
   * transaction. Returns the id of the last message (0 for none); ids are
   * consecutive within a batch because the daemon's connection is the
   * only writer of the journal. Throws SQLITE_BUSY at once, without
   * waiting, when another connection holds the write lock.
   */
  append(messages: readonly PendingMessage[], ts: number, alsoWrite?: () => void): number {
    this.#check();
    return this.#settled(() => this.#appendBatch(messages, ts, alsoWrite));
  }

  /**
   * Appends messages that carry their own ids and times (cluster mode),
   * in one transaction with `alsoWrite`, a page per run of one time. Ids
   * must rise and be above the journal's last; returns the last one.
   */
  appendNumbered(messages: readonly NumberedMessage[], alsoWrite?: () => void): number {
    this.#check();
    return this.#settled(() => this.#appendNumbered(messages, alsoWrite));
  }

  /** Runs a commit; the block sums take its messages only if it commits. */
  #settled(commit: () => number): number {
    let last: number;
    try {
      last = commit();
    } catch (error) {
      this.#summaries.settle(false, 0);
      this.#recent?.settle(false);
      throw error;
    }
    this.#summaries.settle(true, last);
    this.#recent?.settle(true);
    return last;
  }


  /**
   * Retention: deletes the oldest pages whose messages all have ids up to
   * `lastDeleted`, about `limit` messages at most (whole pages: a page that
   * goes on past `lastDeleted` stays); returns how many messages went. When
   * the newest goes, an empty page takes its place, holding its last id.
   */
  deleteOldest(lastDeleted: number, limit: number): number {
    const deleted = this.#deleteThrough(lastDeleted, limit);
    if (deleted > 0) this.#recent?.clear();
    return deleted;
  }
}
