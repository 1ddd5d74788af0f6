/**
 * Reading the journal in bounded steps: no step reads more than about a
 * step's worth of messages (rows) and bytes, so a catch-up over millions
 * of messages never holds them all in memory nor stalls the event loop.
 * Pages (page.ts) come as they are stored: a page whose every message is
 * wanted goes to a line client as its bytes, untouched; only a page that
 * is partly wanted is read line by line.
 *
 * One exact topic reads through the block summaries (topic_blocks): only
 * the blocks that hold the topic are scanned, plus the journal's last,
 * unsummarized block, and of those only the pages of that topic or of
 * several. Anything else scans windows of ids and filters.
 */
import type Database from 'better-sqlite3';
import type { StoredMessage } from './journal.js';
import { LAST_ID_SQL } from './journal.js';
import { PAGE_COLUMNS, PageLines } from './page.js';
import type { PageRow } from './page.js';
import type { RecentPages } from './recent.js';
import { BLOCK_SIZE, blockOf } from './schema.js';
import type { Wants } from './wants.js';

export interface PageLimits {
  /** At most about this many messages are read in one step (whole pages; at least one). */
  rows: number;
  /** A step stops once what it read, or kept, adds up to about this many bytes. */
  bytes: number;
}

export const DEFAULT_LIMITS: PageLimits = { rows: 2000, bytes: 1 << 20 };

interface Step {
  /** Where the next step starts (the last id this step looked at). */
  next: number;
  /** True when this step reached `until` or the end of the journal as it was. */
  done: boolean;
}

export interface Page extends Step {
  rows: StoredMessage[];
}

/** `msg` lines, each with its LF, ready for a client: in pieces (pages as stored, parts of pages). */
export interface TextPage extends Step {
  pieces: Buffer[];
  count: number;
  /** The id of the last line of `data` (0 when there is none). */
  lastId: number;
}

/** Messages, for a door that is not lines (and for a queue group's backlog). */
export interface MessagePage extends Step {
  messages: StoredMessage[];
}

/** Ids to scan in one step, of one topic or of every topic. */
interface Range {
  from: number;
  to: number;
  topic: string | undefined;
  /** The end of the journal (or `until`) when the step began. */
  last: number;
}

/** What a message weighs in a page: about its `msg` line's length (UTF-16 units, near enough). */
export function messageSize(message: { readonly topic: string; readonly sender: string; readonly body: string }): number {
  return message.topic.length + message.sender.length + message.body.length + 24;
}

export class JournalReader {
  readonly #pagesAll: Database.Statement<[number, number], PageRow>;
  readonly #pagesOf: Database.Statement<[number, number, string], PageRow>;
  readonly #pageAt: Database.Statement<[number], PageRow>;
  readonly #boundAt: Database.Statement<[number], { first_id: number; last_id: number }>;
  readonly #nextBlock: Database.Statement<[string, number, number], { first_id: number; last_id: number }>;
  readonly #last: Database.Statement<[], number>;
  readonly #first: Database.Statement<[], number | undefined>;
  readonly #db: Database.Database;
  readonly #recent: RecentPages | undefined;
  /** The QoS digits of commits (journal.ts), prepared when first needed: an older journal has none. */
  #qosRows: Database.Statement<[number, number, number], [first: number, digits: string]> | null | undefined;

  /** `recent`: the newest pages in memory (the daemon's own journal only). */
  constructor(db: Database.Database, recent?: RecentPages) {
    this.#db = db;
    this.#recent = recent;
    const ofTopic = 'AND (topic IS NULL OR topic = ?)';
    const pages = `SELECT ${PAGE_COLUMNS} FROM pages WHERE last_id BETWEEN ? AND ?`;
    this.#pagesAll = db.prepare(`${pages} ORDER BY last_id`);
    this.#pagesOf = db.prepare(`${pages} ${ofTopic} ORDER BY last_id`);
    this.#pageAt = db.prepare(`SELECT ${PAGE_COLUMNS} FROM pages WHERE last_id >= ? ORDER BY last_id LIMIT 1`);
    this.#boundAt = db.prepare('SELECT first_id, last_id FROM pages WHERE last_id >= ? ORDER BY last_id LIMIT 1');
    this.#nextBlock = db.prepare('SELECT first_id, last_id FROM topic_blocks WHERE topic = ? AND block >= ? AND last_id > ? ORDER BY block LIMIT 1');
    this.#last = db.prepare<[], number>(LAST_ID_SQL).pluck();
    this.#first = db.prepare<[], number | undefined>('SELECT first_id FROM pages ORDER BY last_id LIMIT 1').pluck();
  }

  /** The highest id the journal gave (its last message's, though retention took it), or 0. */
  lastId(): number {
    return this.#last.get() as number;
  }

  /** The lowest id the journal may still hold (past its last when retention took every message), or 0 when nothing was ever sent. */
  firstId(): number {
    return this.#first.get() ?? 0;
  }

  /** One message, with its publish QoS if `qos`; undefined if there is none (or retention deleted it). */
  message(id: number, qos = false): StoredMessage | undefined {
    const row = this.#pageAt.get(id);
    if (row === undefined || row.first_id > id) return undefined;
    const lines = new PageLines(row);
    while (lines.next()) if (lines.id === id) {
      const message: StoredMessage = { id, ts: row.ts, topic: lines.topic, sender: lines.sender, body: lines.body };
      if (qos) this.#addQos([message]);
      return message;
    }
    return undefined;
  }

  /**
   * Sets `qos` on the messages (in id order) published at a QoS other
   * than 1, from the digits their commits left in message_qos.
   */
  #addQos(messages: StoredMessage[]): void {
    if (this.#qosRows === undefined) {
      const exists = this.#db.prepare("SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = 'message_qos'").get() !== undefined;
      // The commit that covers the first id began at or before it; later ones begin inside the range.
      const sql = 'SELECT * FROM (SELECT first_id, qos FROM message_qos WHERE first_id <= ? ORDER BY first_id DESC LIMIT 1) UNION ALL SELECT first_id, qos FROM message_qos WHERE first_id > ? AND first_id <= ?';
      this.#qosRows = exists ? this.#db.prepare<[number, number, number], [number, string]>(sql).raw() : null;
    }
    const first = messages[0];
    if (this.#qosRows === null || first === undefined) return;
    const rows = this.#qosRows.all(first.id, first.id, (messages[messages.length - 1] as StoredMessage).id);
    let r = 0;
    for (const message of messages) {
      let row = rows[r];
      while (row !== undefined && row[0] + row[1].length <= message.id) row = rows[++r];
      if (row === undefined) return;
      if (message.id < row[0]) continue;
      const qos = row[1].charCodeAt(message.id - row[0]) - 48;
      if (qos === 0 || qos === 2) message.qos = qos;
    }
  }

  /**
   * One step of reading, in id order, the messages after `cursor` and up to
   * `until` that `wants` asks for, as `msg` lines: pages wanted whole as
   * they are stored, the others cut line by line.
   */
  pageText(wants: Wants, cursor: number, until: number, limits: PageLimits = DEFAULT_LIMITS): TextPage {
    const range = this.#range(wants, cursor, until, limits);
    if (range === undefined) return { pieces: [], count: 0, lastId: 0, next: cursor, done: true };
    const { pages, complete } = this.#read(range, limits);
    const chunks: Buffer[] = [];
    let bytes = 0;
    let count = 0;
    let lastId = 0;
    for (const row of pages) {
      if (row.first_id >= range.from && row.last_id <= range.to && wants.allOf(row.topic, row.first_id) && bytes + row.data.length <= limits.bytes) {
        if (row.count === 0) continue;
        chunks.push(row.data);
        bytes += row.data.length;
        count += row.count;
        lastId = row.last_id;
        continue;
      }
      // Line by line: each run of wanted lines is cut out whole.
      const lines = new PageLines(row);
      let run = -1;
      let runEnd = 0;
      while (lines.next()) {
        const id = lines.id;
        if (id > range.to) break;
        if (id < range.from || !wants.has(id, lines.topic, () => lines.body)) {
          if (run >= 0) chunks.push(lines.bytesBetween(run, runEnd));
          run = -1;
          continue;
        }
        if (run < 0) run = lines.start;
        runEnd = lines.end;
        bytes += lines.end - lines.start;
        count++;
        lastId = id;
        // A step stops at the first line that reaches its byte budget.
        if (bytes >= limits.bytes) {
          chunks.push(lines.bytesBetween(run, runEnd));
          return { pieces: chunks, count, lastId, next: id, done: false };
        }
      }
      if (run >= 0) chunks.push(lines.bytesBetween(run, runEnd));
    }
    return { pieces: chunks, count, lastId, ...after(range, pages, complete) };
  }

  /**
   * One step of reading, as pageText does, of the messages themselves,
   * stopping once their topics, senders and bodies add up to
   * `limits.bytes` (UTF-16 units, near enough).
   */
  pageMessages(wants: Wants, cursor: number, until: number, limits: PageLimits = DEFAULT_LIMITS): MessagePage {
    const range = this.#range(wants, cursor, until, limits);
    if (range === undefined) return { messages: [], next: cursor, done: true };
    const { pages, complete } = this.#read(range, limits);
    const messages: StoredMessage[] = [];
    let bytes = 0;
    for (const row of pages) {
      const whole = wants.allOf(row.topic, Math.max(row.first_id, range.from));
      const lines = new PageLines(row);
      while (lines.next()) {
        const id = lines.id;
        if (id > range.to) break;
        if (id < range.from) continue;
        const topic = lines.topic;
        if (!whole && !wants.has(id, topic, () => lines.body)) continue;
        const message: StoredMessage = { id, ts: row.ts, topic, sender: lines.sender, body: lines.body };
        messages.push(message);
        bytes += messageSize(message);
        if (bytes >= limits.bytes) {
          this.#addQos(messages);
          return { messages, next: id, done: false };
        }
      }
    }
    this.#addQos(messages);
    return { messages, ...after(range, pages, complete) };
  }

  /** One step of reading messages, as pageMessages does, with no byte budget (`linebus tail`). */
  page(wants: Wants, cursor: number, until: number, limits: PageLimits = DEFAULT_LIMITS): Page {
    const { messages, next, done } = this.pageMessages(wants, cursor, until, { rows: limits.rows, bytes: Number.MAX_SAFE_INTEGER });
    return { rows: messages, next, done };
  }

  /**
   * The ids the next step scans, or undefined when nothing is left. The
   * end of the journal is read first: anything committed later (while tail
   * reads) has a higher id and is left for the next step, never skipped.
   */
  #range(wants: Wants, cursor: number, until: number, limits: PageLimits): Range | undefined {
    const last = Math.min(until, this.lastId());
    if (wants.empty || cursor >= last) return undefined;
    const topic = wants.topic;
    if (topic === undefined) return { from: cursor + 1, to: Math.min(last, cursor + limits.rows), topic, last };
    // Below the last block, only the blocks that hold the topic.
    const tail = blockOf(last) * BLOCK_SIZE;
    if (cursor + 1 < tail) {
      const block = this.#nextBlock.get(topic, blockOf(cursor + 1), cursor);
      if (block) return { from: Math.max(cursor + 1, block.first_id), to: Math.min(block.last_id, last), topic, last };
    }
    return { from: Math.max(cursor + 1, tail), to: last, topic, last };
  }

  /**
   * The pages that hold ids of `range` (with range.topic, only that
   * topic's and those of several), in id order, as many as about
   * `limits.rows` messages and `limits.bytes` bytes (at least one page);
   * `complete` when they are all the range has. Nothing is done with a page
   * while the statement runs (a filter may read the journal).
   */
  #read(range: Range, limits: PageLimits): { pages: PageRow[]; complete: boolean } {
    const recent = this.#recent;
    if (recent?.covers(range.from)) return recent.read(range.from, recent.bound(range.to), range.topic, limits);
    const bound = this.#bound(range.to);
    const found = range.topic === undefined ? this.#pagesAll.iterate(range.from, bound) : this.#pagesOf.iterate(range.from, bound, range.topic);
    const pages: PageRow[] = [];
    let rows = 0;
    let bytes = 0;
    for (const page of found) {
      // Leaving the loop ends the statement.
      if (pages.length > 0 && (rows >= limits.rows || bytes >= limits.bytes)) return { pages, complete: false };
      pages.push(page);
      rows += page.count;
      bytes += page.data.length;
    }
    return { pages, complete: true };
  }

  /** The last id of the page that holds `id`, or `id` when none does: pages up to it hold every id up to `id`. */
  #bound(id: number): number {
    const page = this.#boundAt.get(id);
    return page !== undefined && page.first_id <= id ? page.last_id : id;
  }

}

/**
 * Where the step after one that read `pages` of `range` starts: after the
 * range when it read all it holds, else after the last page read.
 */
function after(range: Range, pages: PageRow[], complete: boolean): Step {
  const last = pages[pages.length - 1];
  if (complete || last === undefined || last.last_id >= range.to) return { next: range.to, done: range.to >= range.last };
  return { next: last.last_id, done: false };
}
