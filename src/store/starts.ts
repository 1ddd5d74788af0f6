/**
 * Where a read of the journal starts: after the last `n` messages of a
 * pattern (`recv ... last n`, `tail -n`), at a time (`since 2h`,
 * retention by age), and a topic's last id (`topics`). Each reads
 * backwards, newest first, in bounded steps a caller may yield between,
 * through the block summaries for one exact topic. Under an access file
 * the last `n` are the last `n` the reader may read.
 */
import type Database from 'better-sqlite3';
import { isWildcardPattern, matches } from '../protocol/topic.js';
import { LAST_ID_SQL } from './journal.js';
import { consecutive, PAGE_COLUMNS, PageLines } from './page.js';
import type { PageRow } from './page.js';
import { DEFAULT_LIMITS } from './reader.js';
import type { PageLimits } from './reader.js';
import { BLOCK_SIZE, blockOf } from './schema.js';
import { runSteps } from './steps.js';
import { lets } from './wants.js';
import type { Readable } from './wants.js';

type Found = { id: number } | { left: number };

export class JournalStarts {
  readonly #pagesAllBack: Database.Statement<[number, number], PageRow>;
  readonly #pagesOfBack: Database.Statement<[number, number, string], PageRow>;
  readonly #blocksBackward: Database.Statement<[string, number, number], { block: number; first_id: number; last_id: number; count: number }>;
  /** The page that holds an id, or the first after it. */
  readonly #pageAt: Database.Statement<[number], { first_id: number; last_id: number; ts: number }>;
  readonly #last: Database.Statement<[], number>;
  readonly #lastInBlocks: Database.Statement<[string], number | null>;

  constructor(db: Database.Database) {
    const ofTopic = 'AND (topic IS NULL OR topic = ?)';
    const pages = `SELECT ${PAGE_COLUMNS} FROM pages WHERE last_id BETWEEN ? AND ?`;
    this.#pagesAllBack = db.prepare(`${pages} ORDER BY last_id DESC`);
    this.#pagesOfBack = db.prepare(`${pages} ${ofTopic} ORDER BY last_id DESC`);
    this.#blocksBackward = db.prepare('SELECT block, first_id, last_id, count FROM topic_blocks WHERE topic = ? AND block < ? ORDER BY block DESC LIMIT ?');
    this.#pageAt = db.prepare('SELECT first_id, last_id, ts FROM pages WHERE last_id >= ? ORDER BY last_id LIMIT 1');
    this.#last = db.prepare<[], number>(LAST_ID_SQL).pluck();
    this.#lastInBlocks = db.prepare<[string], number | null>('SELECT last_id FROM topic_blocks WHERE topic = ? ORDER BY block DESC LIMIT 1').pluck();
  }

  /** The last id of one topic, or 0. */
  lastIdOf(topic: string): number {
    const last = this.#last.get() as number;
    const found = runSteps(this.#lastOf(topic, 1, last, blockOf(last) * BLOCK_SIZE, DEFAULT_LIMITS));
    if ('id' in found) return found.id;
    return this.#lastInBlocks.get(topic) ?? 0;
  }

  /**
   * The id after which the last `count` messages of `pattern` (up to and
   * including `until`) begin; 0 if there are fewer. With `readable`, only
   * messages it lets through count. Steps of about `limits.rows` messages,
   * or rows / 32 block summaries, so callers can yield between them.
   */
  *startOfLast(pattern: string, count: number, until: number, limits: PageLimits = DEFAULT_LIMITS, readable?: Readable): Generator<void, number> {
    if (count === 0) return until;
    // A topic's summaries count all its messages: they serve a reader who may read them all.
    if (isWildcardPattern(pattern) || (readable !== undefined && readable.topic(pattern) !== 'all')) {
      const found = yield* this.#lastOf(pattern, count, until, 1, limits, readable);
      return 'id' in found ? found.id - 1 : 0;
    }
    // The last block, then the summaries, newest first.
    const tail = blockOf(until) * BLOCK_SIZE;
    const inTail = yield* this.#lastOf(pattern, count, until, tail, limits);
    if ('id' in inTail) return inTail.id - 1;
    let wanted = inTail.left;
    // A page of summaries at a time, no statement left open across a yield.
    const page = Math.max(1, Math.floor(limits.rows / 32));
    let blocks = this.#blocksBackward.all(pattern, blockOf(until), page);
    while (blocks.length > 0) {
      for (const block of blocks) {
        if (block.count >= wanted) {
          const found = yield* this.#lastOf(pattern, wanted, block.last_id, block.first_id, limits);
          // Retention may have taken messages the count still has: fewer than n.
          return 'id' in found ? found.id - 1 : 0;
        }
        wanted -= block.count;
      }
      const oldest = (blocks[blocks.length - 1] as { block: number }).block;
      yield;
      blocks = blocks.length < page ? [] : this.#blocksBackward.all(pattern, oldest, page);
    }
    return 0;
  }

  /**
   * The `wanted`-th last message of `pattern` with `low` <= id <= `until`,
   * read backwards a step at a time; or how many are still wanted once
   * `low` is reached.
   */
  *#lastOf(pattern: string, wanted: number, until: number, low: number, limits: PageLimits, readable?: Readable): Generator<void, Found> {
    const exact = isWildcardPattern(pattern) ? undefined : pattern;
    let high = this.#bound(until);
    while (high >= low) {
      const found = exact === undefined ? this.#pagesAllBack.iterate(low, high) : this.#pagesOfBack.iterate(low, high, exact);
      let rows = 0;
      let bytes = 0;
      let lowest = high + 1;
      for (const row of found) {
        if (rows >= limits.rows || bytes >= limits.bytes) break;
        rows += row.count;
        bytes += row.data.length;
        lowest = row.last_id;
        // The ids of this page in low..until that match, newest last.
        if (row.topic !== null && !matches(pattern, row.topic)) continue;
        const whole = readable === undefined || (row.topic !== null && readable.topic(row.topic) === 'all');
        if (whole && consecutive(row) && (row.topic !== null || pattern === '>')) {
          const top = Math.min(row.last_id, until);
          const bottom = Math.max(row.first_id, low);
          if (top < bottom) continue;
          if (top - bottom + 1 >= wanted) return { id: top - wanted + 1 };
          wanted -= top - bottom + 1;
          continue;
        }
        const ids: number[] = [];
        const lines = new PageLines(row);
        while (lines.next()) {
          const id = lines.id;
          if (id >= low && id <= until && matches(pattern, lines.topic) && (whole || lets(readable, lines.topic, () => lines.body))) ids.push(id);
        }
        if (ids.length >= wanted) return { id: ids[ids.length - wanted] as number };
        wanted -= ids.length;
      }
      // Every page down to low was read.
      if (rows < limits.rows && bytes < limits.bytes) break;
      high = lowest - 1;
      yield;
    }
    return { left: wanted };
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
      const page = this.#pageAt.get(mid);
      if (page === undefined) high = mid;
      // Every message of a page has its ts.
      else if (page.ts >= ms) high = Math.min(mid, page.first_id);
      else low = page.last_id + 1;
    }
    return Math.max(0, low - 1);
  }

  /** The last id of the page that holds `id`, or `id` when none does. */
  #bound(id: number): number {
    const page = this.#pageAt.get(id);
    return page !== undefined && page.first_id <= id ? page.last_id : id;
  }
}
