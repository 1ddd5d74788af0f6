/**
 * Reading the journal in bounded steps: no step reads more than a page of
 * rows (or bytes), so a catch-up over millions of messages never holds them
 * all in memory nor stalls the event loop. Replay pages come formatted by
 * SQLite (a string per row, the `msg` line); `linebus tail` reads rows.
 *
 * One exact topic reads through the block summaries (topic_blocks): only
 * the blocks that hold the topic are scanned, plus the journal's last,
 * unsummarized block. Anything else scans windows of ids and filters.
 */
import type Database from 'better-sqlite3';
import { MSG_LINE_SQL, msgBody, msgId } from '../protocol/wire.js';
import { isWildcardPattern, matches } from '../protocol/topic.js';
import type { StoredMessage } from './journal.js';
import { BLOCK_SIZE, blockOf } from './schema.js';
import type { Wants } from './wants.js';

export interface PageLimits {
  /** At most this many rows are read in one step. */
  rows: number;
  /** A step stops once the rows it kept add up to about this many bytes as msg lines. */
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

/** `msg` lines, each with its LF, ready for a client. */
export interface TextPage extends Step {
  text: string;
  count: number;
  /** The id of the last line of `text` (0 when there is none). */
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

const COLUMNS = 'id, ts, topic, sender, body';

/** What a message weighs in a page: about its `msg` line's length (UTF-16 units, near enough). */
export function messageSize(message: { readonly topic: string; readonly sender: string; readonly body: string }): number {
  return message.topic.length + message.sender.length + message.body.length + 24;
}
type Row = [id: number, topic: string, line: string];
type RawMessage = [id: number, ts: number, topic: string, sender: string, body: string];

export class JournalReader {
  readonly #rows: Database.Statement<[number, number, number], StoredMessage>;
  readonly #rowsOf: Database.Statement<[number, number, string, number], StoredMessage>;
  readonly #messages: Database.Statement<[number, number, number], RawMessage>;
  readonly #messagesOf: Database.Statement<[number, number, string, number], RawMessage>;
  readonly #lines: Database.Statement<[number, number, number], Row>;
  readonly #plainLines: Database.Statement<[number, number, number], string>;
  readonly #plainLinesOf: Database.Statement<[number, number, string, number], string>;
  readonly #nextBlock: Database.Statement<[string, number, number], { first_id: number; last_id: number }>;
  readonly #blocksBackward: Database.Statement<[string, number, number], { block: number; first_id: number; last_id: number; count: number }>;
  readonly #idsBackward: Database.Statement<[number, number, string, number, number], number>;
  readonly #topicsBackward: Database.Statement<[number, number], { id: number; topic: string }>;
  readonly #nthBackward: Database.Statement<[number, number], number>;
  readonly #tsAt: Database.Statement<[number], { id: number; ts: number }>;
  readonly #one: Database.Statement<[number], StoredMessage>;
  readonly #last: Database.Statement<[], number | null>;
  readonly #first: Database.Statement<[], number | null>;
  readonly #lastInTail: Database.Statement<[number, string], number | null>;
  readonly #lastInBlocks: Database.Statement<[string], number | null>;
  readonly #db: Database.Database;
  /** The QoS digits of commits (journal.ts), prepared when first needed: an older journal has none. */
  #qosRows: Database.Statement<[number, number, number], [first: number, digits: string]> | null | undefined;

  constructor(db: Database.Database) {
    this.#db = db;
    const where = 'WHERE id >= ? AND id <= ?';
    this.#rows = db.prepare(`SELECT ${COLUMNS} FROM messages ${where} ORDER BY id LIMIT ?`);
    this.#rowsOf = db.prepare(`SELECT ${COLUMNS} FROM messages ${where} AND topic = ? ORDER BY id LIMIT ?`);
    // Arrays, made objects in JavaScript: a third faster than rows as objects.
    this.#messages = db.prepare<[number, number, number], RawMessage>(`SELECT ${COLUMNS} FROM messages ${where} ORDER BY id LIMIT ?`).raw();
    this.#messagesOf = db.prepare<[number, number, string, number], RawMessage>(`SELECT ${COLUMNS} FROM messages ${where} AND topic = ? ORDER BY id LIMIT ?`).raw();
    this.#lines = db.prepare<[number, number, number], Row>(`SELECT id, topic, ${MSG_LINE_SQL} FROM messages ${where} ORDER BY id LIMIT ?`).raw();
    this.#plainLines = db.prepare<[number, number, number], string>(`SELECT ${MSG_LINE_SQL} FROM messages ${where} ORDER BY id LIMIT ?`).pluck();
    this.#plainLinesOf = db.prepare<[number, number, string, number], string>(`SELECT ${MSG_LINE_SQL} FROM messages ${where} AND topic = ? ORDER BY id LIMIT ?`).pluck();
    this.#nextBlock = db.prepare('SELECT first_id, last_id FROM topic_blocks WHERE topic = ? AND block >= ? AND last_id > ? ORDER BY block LIMIT 1');
    this.#blocksBackward = db.prepare('SELECT block, first_id, last_id, count FROM topic_blocks WHERE topic = ? AND block < ? ORDER BY block DESC LIMIT ?');
    this.#idsBackward = db.prepare<[number, number, string, number, number], number>(`SELECT id FROM messages ${where} AND topic = ? ORDER BY id DESC LIMIT ? OFFSET ?`).pluck();
    this.#topicsBackward = db.prepare('SELECT id, topic FROM messages WHERE id < ? AND id >= ? ORDER BY id DESC');
    this.#nthBackward = db.prepare<[number, number], number>('SELECT id FROM messages WHERE id <= ? ORDER BY id DESC LIMIT 1 OFFSET ?').pluck();
    this.#tsAt = db.prepare('SELECT id, ts FROM messages WHERE id >= ? ORDER BY id LIMIT 1');
    this.#one = db.prepare(`SELECT ${COLUMNS} FROM messages WHERE id = ?`);
    this.#last = db.prepare<[], number | null>('SELECT max(id) FROM messages').pluck();
    this.#first = db.prepare<[], number | null>('SELECT min(id) FROM messages').pluck();
    this.#lastInTail = db.prepare<[number, string], number | null>('SELECT max(id) FROM messages WHERE id >= ? AND topic = ?').pluck();
    this.#lastInBlocks = db.prepare<[string], number | null>('SELECT last_id FROM topic_blocks WHERE topic = ? ORDER BY block DESC LIMIT 1').pluck();
  }

  /** The highest id in the journal, or 0 when it is empty. */
  lastId(): number {
    return this.#last.get() ?? 0;
  }

  /** The lowest id still in the journal, or 0 when it is empty. */
  firstId(): number {
    return this.#first.get() ?? 0;
  }

  /** One message; undefined if there is none (or retention deleted it). */
  message(id: number): StoredMessage | undefined {
    const message = this.#one.get(id);
    if (message !== undefined) this.#addQos([message]);
    return message;
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

  /** The last id of one topic, or 0. */
  lastIdOf(topic: string): number {
    const tail = blockOf(this.lastId()) * BLOCK_SIZE;
    return this.#lastInTail.get(tail, topic) ?? this.#lastInBlocks.get(topic) ?? 0;
  }

  /**
   * One step of reading, in id order, the messages after `cursor` and up to
   * `until` that `wants` asks for, as `msg` lines formatted by SQLite.
   */
  pageText(wants: Wants, cursor: number, until: number, limits: PageLimits = DEFAULT_LIMITS): TextPage {
    const range = this.#range(wants, cursor, until, limits);
    if (range === undefined) return { text: '', count: 0, lastId: 0, next: cursor, done: true };
    if (wants.all || range.topic !== undefined) {
      // Nothing to filter in JavaScript: the lines alone, one string each.
      const lines = range.topic === undefined ? this.#plainLines.all(range.from, range.to, limits.rows) : this.#plainLinesOf.all(range.from, range.to, range.topic, limits.rows);
      let bytes = 0;
      let count = 0;
      while (count < lines.length && bytes < limits.bytes) bytes += (lines[count++] as string).length;
      if (count === 0) return { text: '', count, lastId: 0, ...after(range, undefined) };
      const lastId = msgId(lines[count - 1] as string);
      const text = (count < lines.length ? lines.slice(0, count) : lines).join('');
      // A page stops at its byte budget (UTF-16 units, near enough).
      if (count < lines.length) return { text, count, lastId, next: lastId, done: false };
      return { text, count, lastId, ...after(range, lines.length === limits.rows ? lastId : undefined) };
    }
    const rows = this.#lines.all(range.from, range.to, limits.rows);
    let text = '';
    let count = 0;
    let lastId = 0;
    for (let i = 0; i < rows.length; i++) {
      const [id, topic, line] = rows[i] as Row;
      if (!wants.has(id, topic, () => msgBody(line))) continue;
      text += line;
      count++;
      lastId = id;
      if (text.length >= limits.bytes && i < rows.length - 1) return { text, count, lastId, next: id, done: false };
    }
    return { text, count, lastId, ...after(range, rows.length === limits.rows ? (rows[rows.length - 1] as Row)[0] : undefined) };
  }

  /**
   * One step of reading, as pageText does, of the messages themselves:
   * at most `limits.rows`, stopping once their topics, senders and bodies
   * add up to `limits.bytes` (UTF-16 units, near enough).
   */
  pageMessages(wants: Wants, cursor: number, until: number, limits: PageLimits = DEFAULT_LIMITS): MessagePage {
    const range = this.#range(wants, cursor, until, limits);
    if (range === undefined) return { messages: [], next: cursor, done: true };
    const found = range.topic === undefined ? this.#messages.all(range.from, range.to, limits.rows) : this.#messagesOf.all(range.from, range.to, range.topic, limits.rows);
    const filter = range.topic === undefined && !wants.all;
    const messages: StoredMessage[] = [];
    let bytes = 0;
    for (let i = 0; i < found.length; i++) {
      const [id, ts, topic, sender, body] = found[i] as RawMessage;
      if (filter && !wants.has(id, topic, () => body)) continue;
      const message: StoredMessage = { id, ts, topic, sender, body };
      messages.push(message);
      bytes += messageSize(message);
      if (bytes >= limits.bytes && i < found.length - 1) {
        this.#addQos(messages);
        return { messages, next: id, done: false };
      }
    }
    this.#addQos(messages);
    return { messages, ...after(range, found.length === limits.rows ? (found[found.length - 1] as RawMessage)[0] : undefined) };
  }

  /** One step of reading rows, as pageText does (`linebus tail`). */
  page(wants: Wants, cursor: number, until: number, limits: PageLimits = DEFAULT_LIMITS): Page {
    const range = this.#range(wants, cursor, until, limits);
    if (range === undefined) return { rows: [], next: cursor, done: true };
    const found = range.topic === undefined ? this.#rows.all(range.from, range.to, limits.rows) : this.#rowsOf.all(range.from, range.to, range.topic, limits.rows);
    const rows = range.topic === undefined ? found.filter((row) => wants.has(row.id, row.topic, () => row.body)) : found;
    return { rows, ...after(range, found.length === limits.rows ? (found[found.length - 1] as StoredMessage).id : undefined) };
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
   * The id after which the last `count` messages of `pattern` (up to and
   * including `until`) begin; 0 if there are fewer. Steps of at most
   * `limits.rows` rows, or rows / 32 block summaries, so callers can yield
   * between them.
   */
  *startOfLast(pattern: string, count: number, until: number, limits: PageLimits = DEFAULT_LIMITS): Generator<void, number> {
    if (count === 0) return until;
    if (pattern === '>') return (this.#nthBackward.get(until, count - 1) ?? 1) - 1;
    if (isWildcardPattern(pattern)) return yield* this.#startOfLastMatching(pattern, count, until, limits);
    // The last block, then the summaries, newest first.
    const tail = blockOf(until) * BLOCK_SIZE;
    const inTail = this.#idsBackward.all(tail, until, pattern, count, 0);
    if (inTail.length === count) return (inTail[count - 1] as number) - 1;
    let wanted = count - inTail.length;
    // A page of summaries at a time, no statement left open across a yield.
    const page = Math.max(1, Math.floor(limits.rows / 32));
    let blocks = this.#blocksBackward.all(pattern, blockOf(until), page);
    while (blocks.length > 0) {
      for (const block of blocks) {
        if (block.count >= wanted) {
          const id = this.#idsBackward.get(block.first_id, block.last_id, pattern, 1, wanted - 1);
          // Retention may have taken rows the count still has: fewer than n.
          return id === undefined ? 0 : id - 1;
        }
        wanted -= block.count;
      }
      const oldest = (blocks[blocks.length - 1] as { block: number }).block;
      yield;
      blocks = blocks.length < page ? [] : this.#blocksBackward.all(pattern, oldest, page);
    }
    return 0;
  }

  *#startOfLastMatching(pattern: string, count: number, until: number, limits: PageLimits): Generator<void, number> {
    let seen = 0;
    let before = until + 1;
    while (before > 1) {
      const rows = this.#topicsBackward.all(before, Math.max(1, before - limits.rows));
      for (const row of rows) {
        if (matches(pattern, row.topic) && ++seen === count) return row.id - 1;
      }
      before = Math.max(1, before - limits.rows);
      yield;
    }
    return 0;
  }

  /**
   * The id after which messages stamped at or after `ms` begin: a binary
   * search on id, as ts grows with id (both follow commit order; a clock
   * stepped back by hand can make the start a little early or late).
   */
  afterTime(ms: number, first: number, last: number): number {
    let low = first;
    let high = last + 1;
    while (low < high) {
      const mid = Math.floor((low + high) / 2);
      const row = this.#tsAt.get(mid);
      if (row === undefined || row.ts >= ms) high = mid;
      else low = row.id + 1;
    }
    return Math.max(0, low - 1);
  }
}

/**
 * Where the step after one that scanned `range` starts: after the last row
 * read, when it read as many as it could (`full`), else after the range.
 */
function after(range: Range, full: number | undefined): Step {
  if (full !== undefined) return { next: full, done: false };
  return { next: range.to, done: range.to >= range.last };
}
