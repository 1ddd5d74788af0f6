/**
 * Reading the journal in bounded steps: no step reads more than a page of
 * rows (or bytes), so a catch-up over millions of messages never holds them
 * all in memory nor stalls the event loop. Used by catch-up and replay in
 * the daemon and by `linebus tail`.
 */
import type Database from 'better-sqlite3';
import type { StoredMessage } from './journal.js';
import { Sublist } from '../protocol/sublist.js';
import { isWildcardPattern, matches } from '../protocol/topic.js';

/** What one reader wants: messages of `pattern` with id > after. */
export interface Want {
  pattern: string;
  after: number;
}

/**
 * The wants of one stream, compiled once: one pattern trie per distinct
 * `after` (a catch-up has two: its own start, and the journal's end for the
 * patterns already live), so a row costs a walk of each trie, not a match
 * against every pattern.
 */
export class Wants {
  readonly #groups: { after: number; patterns: Sublist<true> }[] = [];
  /** The lowest `after`: nothing before it is wanted. */
  readonly lowest: number;
  /** The one exact topic wanted, if that is all: read through its index. */
  readonly topic: string | undefined;

  constructor(wants: readonly Want[]) {
    const byAfter = new Map<number, Sublist<true>>();
    for (const want of wants) {
      let patterns = byAfter.get(want.after);
      if (!patterns) byAfter.set(want.after, (patterns = new Sublist()));
      patterns.add(want.pattern, true);
    }
    let lowest = Number.MAX_SAFE_INTEGER;
    for (const [after, patterns] of byAfter) {
      this.#groups.push({ after, patterns });
      if (after < lowest) lowest = after;
    }
    this.lowest = lowest;
    const first = wants[0]?.pattern;
    const single = first !== undefined && !isWildcardPattern(first) && wants.every((w) => w.pattern === first);
    this.topic = single ? first : undefined;
  }

  get empty(): boolean {
    return this.#groups.length === 0;
  }

  /** Whether message `id` of `topic` is wanted. */
  has(id: number, topic: string): boolean {
    for (const group of this.#groups) if (id > group.after && group.patterns.matches(topic)) return true;
    return false;
  }
}

export interface PageLimits {
  /** At most this many rows are read in one step. */
  rows: number;
  /** A step stops once the rows it kept add up to about this many bytes as msg lines. */
  bytes: number;
}

export const DEFAULT_LIMITS: PageLimits = { rows: 2000, bytes: 1 << 20 };

export interface Page {
  rows: StoredMessage[];
  /** Where the next step starts (the last id this step looked at). */
  next: number;
  /** True when this step reached `until` or the end of the journal as it was. */
  done: boolean;
}

const COLUMNS = 'id, ts, topic, sender, body';

export class JournalReader {
  readonly #byTopic: Database.Statement<[string, number, number], StoredMessage>;
  readonly #byId: Database.Statement<[number, number], StoredMessage>;
  readonly #idsOfTopicBackward: Database.Statement<[string, number, number], { id: number }>;
  readonly #topicsBackward: Database.Statement<[number, number], { id: number; topic: string }>;
  readonly #tsAt: Database.Statement<[number], { id: number; ts: number }>;
  readonly #last: Database.Statement<[], { id: number | null }>;
  readonly #first: Database.Statement<[], { id: number | null }>;
  readonly #lastOfTopic: Database.Statement<[string], { id: number | null }>;

  constructor(db: Database.Database) {
    this.#byTopic = db.prepare(`SELECT ${COLUMNS} FROM messages WHERE topic = ? AND id > ? AND id <= ? ORDER BY id`);
    this.#byId = db.prepare(`SELECT ${COLUMNS} FROM messages WHERE id > ? AND id <= ? ORDER BY id`);
    this.#idsOfTopicBackward = db.prepare('SELECT id FROM messages WHERE topic = ? AND id < ? ORDER BY id DESC LIMIT ?');
    this.#topicsBackward = db.prepare('SELECT id, topic FROM messages WHERE id < ? AND id >= ? ORDER BY id DESC');
    this.#tsAt = db.prepare('SELECT id, ts FROM messages WHERE id >= ? ORDER BY id LIMIT 1');
    this.#last = db.prepare('SELECT max(id) AS id FROM messages');
    this.#first = db.prepare('SELECT min(id) AS id FROM messages');
    this.#lastOfTopic = db.prepare('SELECT max(id) AS id FROM messages WHERE topic = ?');
  }

  /** The last id of one topic (through the index), or 0. */
  lastIdOf(topic: string): number {
    return this.#lastOfTopic.get(topic)?.id ?? 0;
  }

  /** The highest id in the journal, or 0 when it is empty. */
  lastId(): number {
    return this.#last.get()?.id ?? 0;
  }

  /** The lowest id still in the journal, or 0 when it is empty. */
  firstId(): number {
    return this.#first.get()?.id ?? 0;
  }

  /**
   * One step of reading, in id order, the messages after `cursor` and up to
   * `until` that some want asks for. One exact topic reads through the
   * (topic, id) index; anything else scans a window of ids and filters.
   */
  page(wants: Wants, cursor: number, until: number, limits: PageLimits = DEFAULT_LIMITS): Page {
    // The end of the journal is read before the rows: anything committed
    // later (by the daemon, while tail reads) has a higher id and is left for
    // the next step, never skipped.
    const last = Math.min(until, this.lastId());
    if (wants.empty || cursor >= last) return { rows: [], next: cursor, done: true };
    const topic = wants.topic;
    const end = topic !== undefined ? last : Math.min(last, cursor + limits.rows);
    const iterator = topic !== undefined ? this.#byTopic.iterate(topic, cursor, end) : this.#byId.iterate(cursor, end);
    const rows: StoredMessage[] = [];
    let bytes = 0;
    let read = 0;
    for (const row of iterator) {
      if (wants.has(row.id, row.topic)) {
        rows.push(row);
        // `msg <topic> <id> <sender> <body>\n`, counted in UTF-16 units.
        bytes += row.body.length + row.topic.length + row.sender.length + 26;
      }
      if (++read >= limits.rows || bytes >= limits.bytes) {
        iterator.return?.();
        return { rows, next: row.id, done: row.id >= last };
      }
    }
    // The whole range was read: the next step starts after it.
    return { rows, next: end, done: end >= last };
  }

  /**
   * The id after which the last `count` messages of `pattern` (up to and
   * including `until`) begin; 0 if there are fewer. Steps of at most
   * `limits.rows` rows, so callers can yield between them.
   */
  *startOfLast(pattern: string, count: number, until: number, limits: PageLimits = DEFAULT_LIMITS): Generator<void, number> {
    if (count === 0) return until;
    let seen = 0;
    let before = until + 1;
    const exact = !isWildcardPattern(pattern);
    while (before > 1) {
      const ids = exact
        ? this.#idsOfTopicBackward.all(pattern, before, limits.rows).map((r) => r.id)
        : this.#topicsBackward.all(before, Math.max(1, before - limits.rows)).filter((r) => matches(pattern, r.topic)).map((r) => r.id);
      for (const id of ids) {
        if (++seen === count) return id - 1;
      }
      if (exact && ids.length < limits.rows) return 0;
      before = exact ? (ids[ids.length - 1] as number) : Math.max(1, before - limits.rows);
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
