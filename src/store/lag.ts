/**
 * How many journaled messages of a pattern lie after an id: a cursor's lag
 * (`cursors`). The whole blocks in between are counted from their
 * summaries (topic_blocks), so the cost grows with the number of blocks and
 * topics, not of messages; only the first and the last block are counted
 * from their pages: a page of one topic by its count, a page of several
 * line by line. Steps of at most STEP_BLOCKS blocks, so callers can yield.
 */
import type Database from 'better-sqlite3';
import { isWildcardPattern, matches } from '../protocol/topic.js';
import { consecutive, PAGE_COLUMNS, PageLines } from './page.js';
import type { PageRow } from './page.js';
import { BLOCK_SIZE, blockOf } from './schema.js';

const STEP_BLOCKS = 64;

/** One pattern, or several (an MQTT kept session's subscriptions). */
export type Patterns = string | readonly string[];

export class LagCounter {
  readonly #inside: Database.Statement<[number, number, number], number>;
  readonly #insideOf: Database.Statement<[number, number, number, string], number>;
  readonly #insideByTopic: Database.Statement<[number, number, number], { topic: string; n: number }>;
  readonly #mixedInside: Database.Statement<[number, number, number], PageRow>;
  readonly #pageAt: Database.Statement<[number], PageRow>;
  readonly #sums: Database.Statement<[number, number], number>;
  readonly #sumsOf: Database.Statement<[string, number, number], number>;
  readonly #sumsByTopic: Database.Statement<[number, number], { topic: string; n: number }>;
  readonly #first: Database.Statement<[], number | undefined>;

  constructor(db: Database.Database) {
    // The pages wholly inside after < id <= until.
    const inside = 'FROM pages WHERE last_id > ? AND last_id <= ? AND first_id > ?';
    this.#inside = db.prepare<[number, number, number], number>(`SELECT total(count) ${inside}`).pluck();
    this.#insideOf = db.prepare<[number, number, number, string], number>(`SELECT total(count) ${inside} AND topic = ?`).pluck();
    this.#insideByTopic = db.prepare(`SELECT topic, total(count) AS n ${inside} AND topic IS NOT NULL GROUP BY topic`);
    this.#mixedInside = db.prepare(`SELECT ${PAGE_COLUMNS} ${inside} AND topic IS NULL`);
    this.#pageAt = db.prepare(`SELECT ${PAGE_COLUMNS} FROM pages WHERE last_id >= ? ORDER BY last_id LIMIT 1`);
    const blocks = 'FROM topic_blocks WHERE block >= ? AND block < ?';
    this.#sums = db.prepare<[number, number], number>(`SELECT total(count) ${blocks}`).pluck();
    this.#sumsOf = db.prepare<[string, number, number], number>('SELECT total(count) FROM topic_blocks WHERE topic = ? AND block >= ? AND block < ?').pluck();
    this.#sumsByTopic = db.prepare(`SELECT topic, sum(count) AS n ${blocks} GROUP BY topic`);
    this.#first = db.prepare<[], number | undefined>('SELECT first_id FROM pages ORDER BY last_id LIMIT 1').pluck();
  }

  /**
   * The messages of `pattern` with `after` < id <= `until`; of several
   * patterns (an MQTT kept session's), those matching any, each once.
   */
  *count(pattern: Patterns, after: number, until: number): Generator<void, number> {
    // Messages retention deleted are not counted; the summary of the block
    // they were in still counts them, so that block is counted page by page.
    after = Math.max(after, (this.#first.get() ?? until + 1) - 1);
    if (after >= until) return 0;
    const headBlock = blockOf(after + 1);
    const lastBlock = blockOf(until);
    if (headBlock === lastBlock) return this.#inPages(pattern, after, until);
    let count = this.#inPages(pattern, after, (headBlock + 1) * BLOCK_SIZE - 1);
    for (let block = headBlock + 1; block < lastBlock; block += STEP_BLOCKS) {
      yield;
      count += this.#inBlocks(pattern, block, Math.min(block + STEP_BLOCKS, lastBlock));
    }
    return count + this.#inPages(pattern, lastBlock * BLOCK_SIZE - 1, until);
  }

  /** Messages of `pattern` with after < id <= until, from the pages. */
  #inPages(pattern: Patterns, after: number, until: number): number {
    let count: number;
    if (pattern === '>') count = this.#inside.get(after, until, after) as number;
    else if (typeof pattern === 'string' && !isWildcardPattern(pattern)) count = (this.#insideOf.get(after, until, after, pattern) as number) + this.#inMixed(pattern, after, until);
    else {
      count = this.#inMixed(pattern, after, until);
      for (const { topic, n } of this.#insideByTopic.iterate(after, until, after)) if (matchesAny(pattern, topic)) count += n;
    }
    // The pages that go on past either end: at most two.
    const head = this.#pageAt.get(after + 1);
    if (head !== undefined && head.first_id <= until && (head.first_id <= after || head.last_id > until)) count += inPage(head, pattern, after, until);
    const tail = this.#pageAt.get(until);
    if (tail !== undefined && tail.first_id <= until && tail.last_id > until && tail.last_id !== head?.last_id) count += inPage(tail, pattern, after, until);
    return count;
  }

  /** Messages of `pattern` in the pages of several topics wholly inside after < id <= until. */
  #inMixed(pattern: Patterns, after: number, until: number): number {
    let count = 0;
    for (const row of this.#mixedInside.all(after, until, after)) count += inPage(row, pattern, after, until);
    return count;
  }

  /** Messages of `pattern` in blocks from..to-1, all summarized. */
  #inBlocks(pattern: Patterns, from: number, to: number): number {
    if (pattern === '>') return this.#sums.get(from, to) as number;
    if (typeof pattern === 'string' && !isWildcardPattern(pattern)) return this.#sumsOf.get(pattern, from, to) as number;
    let count = 0;
    for (const { topic, n } of this.#sumsByTopic.iterate(from, to)) if (matchesAny(pattern, topic)) count += n;
    return count;
  }
}

function matchesAny(pattern: Patterns, topic: string): boolean {
  return typeof pattern === 'string' ? matches(pattern, topic) : pattern.some((one) => matches(one, topic));
}

/** Messages of `pattern` in one page with after < id <= until. */
function inPage(row: PageRow, pattern: Patterns, after: number, until: number): number {
  if (row.topic !== null && !matchesAny(pattern, row.topic)) return 0;
  if (consecutive(row) && (row.topic !== null || pattern === '>')) return Math.max(0, Math.min(row.last_id, until) - Math.max(row.first_id, after + 1) + 1);
  let count = 0;
  const lines = new PageLines(row);
  while (lines.next()) {
    const id = lines.id;
    if (id > after && id <= until && matchesAny(pattern, lines.topic)) count++;
  }
  return count;
}
