/**
 * How many journaled messages of a pattern lie after an id: a cursor's lag
 * (`cursors`). The whole blocks in between are counted from their
 * summaries (topic_blocks), so the cost grows with the number of blocks and
 * topics, not of messages; only the first and the last block are counted
 * row by row. Steps of at most STEP_BLOCKS blocks, so callers can yield.
 */
import type Database from 'better-sqlite3';
import { isWildcardPattern, matches } from '../protocol/topic.js';
import { BLOCK_SIZE, blockOf } from './schema.js';

const STEP_BLOCKS = 64;

export class LagCounter {
  readonly #rows: Database.Statement<[number, number], number>;
  readonly #rowsOf: Database.Statement<[number, number, string], number>;
  readonly #topics: Database.Statement<[number, number], string>;
  readonly #sums: Database.Statement<[number, number], number>;
  readonly #sumsOf: Database.Statement<[string, number, number], number>;
  readonly #sumsByTopic: Database.Statement<[number, number], { topic: string; n: number }>;
  readonly #first: Database.Statement<[], number | null>;

  constructor(db: Database.Database) {
    const range = 'FROM messages WHERE id > ? AND id <= ?';
    this.#rows = db.prepare<[number, number], number>(`SELECT count(*) ${range}`).pluck();
    this.#rowsOf = db.prepare<[number, number, string], number>(`SELECT count(*) ${range} AND topic = ?`).pluck();
    this.#topics = db.prepare<[number, number], string>(`SELECT topic ${range}`).pluck();
    const blocks = 'FROM topic_blocks WHERE block >= ? AND block < ?';
    this.#sums = db.prepare<[number, number], number>(`SELECT total(count) ${blocks}`).pluck();
    this.#sumsOf = db.prepare<[string, number, number], number>('SELECT total(count) FROM topic_blocks WHERE topic = ? AND block >= ? AND block < ?').pluck();
    this.#sumsByTopic = db.prepare(`SELECT topic, sum(count) AS n ${blocks} GROUP BY topic`);
    this.#first = db.prepare<[], number | null>('SELECT min(id) FROM messages').pluck();
  }

  /**
   * The messages of `pattern` with `after` < id <= `until`; of several
   * patterns (an MQTT kept session's), those matching any, each once.
   */
  *count(pattern: string | readonly string[], after: number, until: number): Generator<void, number> {
    // Rows retention deleted are not counted; the summary of the block
    // they were in still counts them, so that block is counted row by row.
    after = Math.max(after, (this.#first.get() ?? until + 1) - 1);
    if (after >= until) return 0;
    const headBlock = blockOf(after + 1);
    const lastBlock = blockOf(until);
    if (headBlock === lastBlock) return this.#inRows(pattern, after, until);
    let count = this.#inRows(pattern, after, (headBlock + 1) * BLOCK_SIZE - 1);
    for (let block = headBlock + 1; block < lastBlock; block += STEP_BLOCKS) {
      yield;
      count += this.#inBlocks(pattern, block, Math.min(block + STEP_BLOCKS, lastBlock));
    }
    return count + this.#inRows(pattern, lastBlock * BLOCK_SIZE - 1, until);
  }

  #inRows(pattern: string | readonly string[], after: number, until: number): number {
    // count(*) and total() answer one row, also for no rows.
    if (pattern === '>') return this.#rows.get(after, until) as number;
    if (typeof pattern === 'string' && !isWildcardPattern(pattern)) return this.#rowsOf.get(after, until, pattern) as number;
    let count = 0;
    for (const topic of this.#topics.iterate(after, until)) if (matchesAny(pattern, topic)) count++;
    return count;
  }

  /** Messages of `pattern` in blocks from..to-1, all summarized. */
  #inBlocks(pattern: string | readonly string[], from: number, to: number): number {
    if (pattern === '>') return this.#sums.get(from, to) as number;
    if (typeof pattern === 'string' && !isWildcardPattern(pattern)) return this.#sumsOf.get(pattern, from, to) as number;
    let count = 0;
    for (const { topic, n } of this.#sumsByTopic.iterate(from, to)) if (matchesAny(pattern, topic)) count += n;
    return count;
  }
}

function matchesAny(pattern: string | readonly string[], topic: string): boolean {
  return typeof pattern === 'string' ? matches(pattern, topic) : pattern.some((one) => matches(one, topic));
}

/** Runs a counting generator to its end at once (where yielding is not needed). */
export function runSteps(steps: Generator<void, number>): number {
  let step = steps.next();
  while (!step.done) step = steps.next();
  return step.value;
}
