/**
 * The block summaries (topic_blocks, schema.ts): for each block of
 * BLOCK_SIZE ids and each topic in it, its first and last id and count.
 * A block is summarized by the commit that completes it, in that commit's
 * transaction, from the sums of the blocks not yet complete, kept here as
 * commits go by (a run of one topic is one step). Reading the pages of the
 * block back instead cost 6% of the daemon's CPU on 50 topics interleaved
 * (a page of several topics is read line by line). The sums start from
 * the pages of the journal's last block, read once, at the first commit.
 */
import type Database from 'better-sqlite3';
import { BLOCK_SIZE, blockOf } from './schema.js';
import { PageLines } from './page.js';

interface Sum {
  first: number;
  last: number;
  count: number;
}

/** topic -> its sum in one block. */
type BlockSums = Map<string, Sum>;

type SummaryRow = { first_id: number; last_id: number; count: number; ts: number; topic: string | null; data: Buffer | null };

export class BlockSummaries {
  readonly #pages: Database.Statement<[number], SummaryRow>;
  readonly #insert: Database.Statement<[number, string, number, number, number]>;
  /** Committed messages of the blocks not yet summarized; undefined until read from the pages. */
  #open: Map<number, BlockSums> | undefined;
  /** The messages of the commit under way, in runs: block, topic, first id, last id, count. */
  readonly #pending: [block: number, topic: string, first: number, last: number, count: number][] = [];

  constructor(db: Database.Database) {
    // A page of one topic and no gap in its ids adds up without its data.
    this.#pages = db.prepare(
      'SELECT first_id, last_id, count, ts, topic, CASE WHEN topic IS NULL OR last_id - first_id + 1 != count THEN data END AS data FROM pages WHERE last_id >= ? ORDER BY last_id',
    );
    this.#insert = db.prepare('INSERT INTO topic_blocks (block, topic, first_id, last_id, count) VALUES (?, ?, ?, ?, ?)');
  }

  /**
   * Messages of the commit under way, in id order: `count` of `topic`,
   * ids `first` to `last` of one block, with no other between. `before`:
   * the journal's last id before the commit (the sums start from the
   * pages after its block, the first time).
   */
  add(topic: string, first: number, last: number, count: number, before: number): void {
    this.#open ??= this.#read(before);
    this.#pending.push([blockOf(first), topic, first, last, count]);
  }

  /**
   * Writes the summaries of the blocks the commit completed (it took the
   * journal's last id from `before` to `last`); inside its transaction.
   */
  write(before: number, last: number): void {
    const to = blockOf(last);
    for (let block = blockOf(before); block < to; block++) {
      const sums = this.#sums(block);
      for (const [topic, sum] of sums) this.#insert.run(block, topic, sum.first, sum.last, sum.count);
      // A cluster's ids may skip many blocks: only those with messages.
      const next = this.#nextBlock(block, to);
      if (next > block + 1) block = next - 1;
    }
  }

  /** The commit is over: its messages count from now on, or, rolled back, never. */
  settle(committed: boolean, last: number): void {
    if (committed && this.#open !== undefined) {
      for (const [block, topic, first, lastId, count] of this.#pending) add(this.#open, block, topic, first, lastId, count);
      for (const block of this.#open.keys()) if (block < blockOf(last)) this.#open.delete(block);
    }
    this.#pending.length = 0;
  }

  /** The sums of `block`: committed ones and the commit's under way. */
  #sums(block: number): BlockSums {
    const sums = new Map<string, Sum>();
    for (const [topic, sum] of this.#open?.get(block) ?? []) sums.set(topic, { ...sum });
    const open = new Map([[block, sums]]);
    for (const [runBlock, topic, first, last, count] of this.#pending) if (runBlock === block) add(open, block, topic, first, last, count);
    return sums;
  }

  /** The first block after `block`, below `to`, with a message, or `to`. */
  #nextBlock(block: number, to: number): number {
    let next = to;
    for (const key of this.#open?.keys() ?? []) if (key > block && key < next) next = key;
    for (const [runBlock] of this.#pending) if (runBlock > block && runBlock < next) next = runBlock;
    return next;
  }

  /** The sums of the blocks not yet summarized, from the pages (the journal's last id is `last`). */
  #read(last: number): Map<number, BlockSums> {
    const open = new Map<number, BlockSums>();
    const low = blockOf(last) * BLOCK_SIZE;
    for (const row of this.#pages.all(low)) {
      if (row.data === null) {
        // One topic, consecutive ids: its part of each block, by arithmetic.
        const topic = row.topic as string;
        for (let id = Math.max(row.first_id, low); id <= row.last_id; id = (blockOf(id) + 1) * BLOCK_SIZE) {
          const end = Math.min(row.last_id, (blockOf(id) + 1) * BLOCK_SIZE - 1);
          add(open, blockOf(id), topic, id, end, end - id + 1);
        }
        continue;
      }
      const lines = new PageLines({ ...row, data: row.data });
      while (lines.next()) {
        const id = lines.id;
        if (id >= low) add(open, blockOf(id), lines.topic, id, id, 1);
      }
    }
    return open;
  }
}

/** Adds a run of `count` messages of `topic`, `first` to `last`, to the sums of `block`. */
function add(open: Map<number, BlockSums>, block: number, topic: string, first: number, last: number, count: number): void {
  let sums = open.get(block);
  if (sums === undefined) open.set(block, (sums = new Map()));
  const sum = sums.get(topic);
  if (sum === undefined) sums.set(topic, { first, last, count });
  else {
    sum.last = last;
    sum.count += count;
  }
}
