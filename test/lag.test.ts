/**
 * A cursor's lag counted from block summaries, against a count of every
 * row: exact topics, wildcards and everything, from marks inside, at the
 * edges of and past the blocks, before and after retention.
 */
import t from 'tap';
import { join } from 'node:path';
import { matches } from '../src/protocol/topic.js';
import { BLOCK_SIZE } from '../src/store/schema.js';
import { runSteps } from '../src/store/steps.js';
import { Store } from '../src/store/store.js';
import { tempDir } from './helpers.js';

const ROWS = 2 * BLOCK_SIZE + 7000;

t.test('lag equals a count of the rows, for every pattern and mark', { timeout: 60000 }, async (t) => {
  const store = Store.open(join(tempDir(t), 'lag.db'));
  t.teardown(() => store.close());
  const topicOf = (i: number): string => (i % 1000 === 7 ? 'rare' : i % 5 === 0 ? 'deep.a.b' : `busy.${i % 3}`);
  const batch = Array.from({ length: 256 }, () => ({ topic: '', sender: 's', body: 'x' }));
  for (let i = 1; i <= ROWS; i += batch.length) {
    const messages = batch.slice(0, Math.min(batch.length, ROWS - i + 1)).map((m, j) => ({ ...m, topic: topicOf(i + j) }));
    store.journal.append(messages, 1);
  }
  const topics = store.db.prepare<[], { id: number; topic: string }>('SELECT id, topic FROM messages ORDER BY id').all();
  const patterns = ['>', 'rare', 'busy.1', 'busy.*', '*', 'deep.>', 'deep.*.b', 'nothing'];
  const marks = [0, 7, BLOCK_SIZE - 1, BLOCK_SIZE, BLOCK_SIZE + 1, 2 * BLOCK_SIZE - 1, ROWS - 10, ROWS, ROWS + 5];
  const check = (label: string, rows: { id: number; topic: string }[]): void => {
    let wrong = 0;
    for (const pattern of patterns) {
      // Each row matched against the pattern once, not once per mark.
      const ids = rows.filter((r) => matches(pattern, r.topic)).map((r) => r.id);
      for (const mark of marks) {
        const expected = ids.filter((id) => id > mark).length;
        const counted = runSteps(store.lag.count(pattern, mark, ROWS));
        if (counted !== expected) {
          wrong++;
          t.fail(`${label}: ${pattern} after ${mark}: ${counted}, expected ${expected}`);
        }
      }
    }
    t.equal(wrong, 0, `${label}: ${patterns.length * marks.length} counts right`);
  };
  check('whole journal', topics);
  // Whole pages of 256: the first 65 go, the next stays whole.
  t.equal(store.journal.deleteOldest(BLOCK_SIZE + 300, 1_000_000), BLOCK_SIZE + 256);
  check('after retention', topics.filter((r) => r.id > BLOCK_SIZE + 256));
  t.equal(store.journal.deleteOldest(ROWS, 1_000_000), ROWS - BLOCK_SIZE - 256);
  check('after retention deleted every row', []);
});
