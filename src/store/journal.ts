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
import { msgText } from '../protocol/wire.js';
import { PAGE_MESSAGES, PageEncoder } from './page.js';
import { blockOf, NO_DELETE_TRIGGER } from './schema.js';
import { BlockSummaries } from './summaries.js';

export interface StoredMessage {
  id: number;
  ts: number;
  topic: string;
  sender: string;
  body: string;
}

export interface PendingMessage {
  readonly topic: string;
  readonly sender: string;
  readonly body: string;
}

/** A message whose id and time were given elsewhere (a cluster's stream). */
export interface NumberedMessage extends PendingMessage {
  readonly id: number;
  readonly ts: number;
}

/**
 * The journal's last id: of its last page, or, when retention emptied it,
 * the highest ever (AUTOINCREMENT keeps it), so ids never start over.
 */
export const LAST_ID_SQL = "SELECT coalesce((SELECT max(last_id) FROM pages), (SELECT seq FROM sqlite_sequence WHERE name = 'pages'), 0)";

export class Journal {
  readonly #check: () => void;
  readonly #appendBatch: (messages: readonly PendingMessage[], ts: number, alsoWrite: (() => void) | undefined) => number;
  readonly #appendNumbered: (messages: readonly NumberedMessage[], alsoWrite: (() => void) | undefined) => number;
  readonly #lines: string[] = [];
  readonly #deleteThrough: (lastDeleted: number, limit: number) => number;

  /** `check` throws when the journal's files are no longer the ones open. */
  constructor(db: Database.Database, check: () => void) {
    this.#check = check;
    const encoder = new PageEncoder();
    const summaries = new BlockSummaries(db);
    const last = db.prepare<[], number>(LAST_ID_SQL).pluck();
    const insert = db.prepare<[number, number, number, number, string | null, Buffer, string]>('INSERT INTO pages (last_id, first_id, count, ts, topic, data, spans) VALUES (?, ?, ?, ?, ?, ?, ?)');
    const lines = this.#lines;
    /** Writes messages[from..to) as a page: their lines, made already. */
    const writePage = (messages: readonly PendingMessage[], from: number, to: number, firstId: number, lastId: number, ts: number): void => {
      let topic: string | null = (messages[from] as PendingMessage).topic;
      for (let k = from + 1; k < to && topic !== null; k++) if ((messages[k] as PendingMessage).topic !== topic) topic = null;
      const page = encoder.encode(from === 0 && to === lines.length ? lines : lines.slice(from, to));
      insert.run(lastId, firstId, to - from, ts, topic, page.data, page.spans);
    };
    this.#appendBatch = db.transaction((messages: readonly PendingMessage[], ts: number, alsoWrite: (() => void) | undefined) => {
      alsoWrite?.();
      lines.length = 0;
      if (messages.length === 0) return 0;
      const before = last.get() as number;
      for (let k = 0; k < messages.length; k++) {
        const m = messages[k] as PendingMessage;
        lines.push(msgText(m.topic, before + 1 + k, m.sender, m.body));
      }
      for (let from = 0; from < messages.length; from += PAGE_MESSAGES) {
        const to = Math.min(messages.length, from + PAGE_MESSAGES);
        writePage(messages, from, to, before + 1 + from, before + to, ts);
      }
      const lastId = before + messages.length;
      summaries.completed(before, lastId);
      return lastId;
    });
    this.#appendNumbered = db.transaction((messages: readonly NumberedMessage[], alsoWrite: (() => void) | undefined) => {
      alsoWrite?.();
      lines.length = 0;
      const before = last.get() as number;
      let id = before;
      // A page per run of one time (a page has one ts), of PAGE_MESSAGES at most.
      let from = 0;
      for (let k = 0; k < messages.length; k++) {
        const m = messages[k] as NumberedMessage;
        if (m.id <= id) throw new Error(`message id ${m.id} is not after the journal's last id ${id}`);
        lines.push(msgText(m.topic, m.id, m.sender, m.body));
        id = m.id;
        const next = messages[k + 1];
        if (next === undefined || next.ts !== m.ts || k + 1 - from === PAGE_MESSAGES) {
          writePage(messages, from, k + 1, (messages[from] as NumberedMessage).id, id, m.ts);
          from = k + 1;
        }
      }
      summaries.completed(before, id);
      return id;
    });
    // The oldest pages, those that end by an id, but no more than about
    // `limit` messages from the first.
    const first = db.prepare<[], number | undefined>('SELECT first_id FROM pages ORDER BY last_id LIMIT 1').pluck();
    const holding = db.prepare<[number], number | undefined>('SELECT last_id FROM pages WHERE last_id >= ? ORDER BY last_id LIMIT 1').pluck();
    const remove = db.prepare<[number], number>('DELETE FROM pages WHERE last_id <= ? RETURNING count').pluck();
    const forget = db.prepare<[number]>('DELETE FROM topic_blocks WHERE block < ?');
    // Retention's narrow path past the append-only guard: within one
    // transaction of this connection, so no other connection ever sees
    // the trigger missing.
    this.#deleteThrough = db.transaction((lastDeleted: number, limit: number) => {
      const oldest = first.get();
      if (oldest === undefined) return 0;
      const through = Math.min(lastDeleted, holding.get(oldest + limit - 1) ?? lastDeleted);
      db.exec('DROP TRIGGER pages_no_delete');
      let deleted = 0;
      for (const count of remove.all(through)) deleted += count;
      db.exec(NO_DELETE_TRIGGER);
      // The summaries of blocks left with no message go too.
      forget.run(blockOf(first.get() ?? through + 1));
      return deleted;
    });
  }

  /**
   * Appends messages in one transaction, as one page (a batch over
   * PAGE_MESSAGES makes several), in order, all stamped `ts`, with
   * whatever `alsoWrite` writes (cursor marks, job states) in the same
   * transaction. Returns the id of the last message (0 for none); ids are
   * consecutive within a batch because the daemon's connection is the
   * only writer of the journal.
   */
  append(messages: readonly PendingMessage[], ts: number, alsoWrite?: () => void): number {
    this.#check();
    return this.#appendBatch(messages, ts, alsoWrite);
  }

  /**
   * Appends messages that carry their own ids and times (cluster mode),
   * in one transaction with `alsoWrite`, a page per run of one time. Ids
   * must rise and be above the journal's last; returns the last one.
   */
  appendNumbered(messages: readonly NumberedMessage[], alsoWrite?: () => void): number {
    this.#check();
    return this.#appendNumbered(messages, alsoWrite);
  }

  /**
   * The `msg` lines of the last commit's messages, in order, as its pages
   * hold them (with their LF): delivered as they are. Valid until the next
   * commit.
   */
  get lines(): readonly string[] {
    return this.#lines;
  }

  /**
   * Retention: deletes the oldest pages whose messages all have ids up to
   * `lastDeleted`, about `limit` messages at most (whole pages: a page that
   * goes on past `lastDeleted` stays); returns how many messages went.
   */
  deleteOldest(lastDeleted: number, limit: number): number {
    return this.#deleteThrough(lastDeleted, limit);
  }
}
