/**
 * The block summaries (topic_blocks, schema.ts): for each block of
 * BLOCK_SIZE ids and each topic in it, its first and last id and count.
 * A block is summarized by the commit that completes it, from its pages,
 * in that commit's transaction: a page of one topic adds up without being
 * read, a page of several is read line by line. So the summaries cost a
 * read of each page once, when its block is done, not a write per message.
 */
import type Database from 'better-sqlite3';
import { BLOCK_SIZE, blockOf } from './schema.js';
import { PageLines } from './page.js';

interface Summary {
  block: number;
  topic: string;
  first: number;
  last: number;
  count: number;
}

type SummaryRow = { first_id: number; last_id: number; count: number; ts: number; topic: string | null; data: Buffer | null };

export class BlockSummaries {
  readonly #pages: Database.Statement<[number, number], SummaryRow>;
  readonly #insert: Database.Statement<[number, string, number, number, number]>;

  constructor(db: Database.Database) {
    // A page of one topic and no gap in its ids adds up without its data.
    this.#pages = db.prepare(
      'SELECT first_id, last_id, count, ts, topic, CASE WHEN topic IS NULL OR last_id - first_id + 1 != count THEN data END AS data FROM pages WHERE last_id BETWEEN ? AND ? ORDER BY last_id',
    );
    this.#insert = db.prepare('INSERT INTO topic_blocks (block, topic, first_id, last_id, count) VALUES (?, ?, ?, ?, ?)');
  }

  /**
   * Summarizes the blocks a commit completed: it took the journal's last
   * id from `before` to `last`, so every block from the one of `before` up
   * to the one before `last`'s is complete. Blocks with no message get no
   * row (a cluster's ids may skip many).
   */
  completed(before: number, last: number): void {
    const from = blockOf(before);
    const to = blockOf(last);
    if (from === to) return;
    const low = from * BLOCK_SIZE;
    const high = to * BLOCK_SIZE - 1;
    const blocks = new Map<number, Map<string, Summary>>();
    const add = (id: number, topic: string, count: number, lastId: number): void => {
      const block = blockOf(id);
      let sums = blocks.get(block);
      if (sums === undefined) blocks.set(block, (sums = new Map()));
      const sum = sums.get(topic);
      if (sum === undefined) sums.set(topic, { block, topic, first: id, last: lastId, count });
      else {
        sum.last = lastId;
        sum.count += count;
      }
    };
    // The pages that hold ids low..high: the last one may go on past high.
    for (const row of this.#pages.all(low, last)) {
      if (row.first_id > high) break;
      if (row.data === null) {
        // One topic, consecutive ids: its part of each block, by arithmetic.
        const topic = row.topic as string;
        for (let id = Math.max(row.first_id, low); id <= Math.min(row.last_id, high); id = (blockOf(id) + 1) * BLOCK_SIZE) {
          const end = Math.min(row.last_id, high, (blockOf(id) + 1) * BLOCK_SIZE - 1);
          add(id, topic, end - id + 1, end);
        }
        continue;
      }
      const lines = new PageLines({ ...row, data: row.data });
      while (lines.next()) {
        const id = lines.id;
        if (id >= low && id <= high) add(id, lines.topic, 1, id);
      }
    }
    for (const sums of blocks.values()) for (const sum of sums.values()) this.#insert.run(sum.block, sum.topic, sum.first, sum.last, sum.count);
  }
}
