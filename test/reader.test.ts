/** Paging edge cases of the journal reader, with tiny pages. */
import t from 'tap';
import { join } from 'node:path';
import { Store } from '../src/store/store.js';
import { Wants } from '../src/store/wants.js';
import type { JournalReader } from '../src/store/reader.js';
import { tempDir } from './helpers.js';
import { runSteps } from '../src/store/steps.js';
import type { Teardown } from './helpers.js';

function setup(t: Teardown): { reader: JournalReader; store: Store } {
  const store = Store.open(join(tempDir(t), 'r.db'));
  t.teardown(() => store.close());
  // ids 1..20: a.1 a.2 b a.1 a.2 b ... ; ts = id * 1000
  for (let i = 1; i <= 20; i++) store.journal.append([{ topic: ['a.1', 'a.2', 'b'][(i - 1) % 3] as string, sender: 's', body: 'x'.repeat(i) }], i * 1000);
  return { reader: store.reader, store };
}

const small = { rows: 4, bytes: 1000 };

function readAll(reader: JournalReader, wants: { pattern: string; after: number }[], until: number, limits = small): { ids: number[]; steps: number } {
  const ids: number[] = [];
  let cursor = new Wants(wants).lowest;
  for (let steps = 1; steps < 100; steps++) {
    const page = reader.page(new Wants(wants), cursor, until, limits);
    ids.push(...page.rows.map((r) => r.id));
    cursor = page.next;
    if (page.done) return { ids, steps };
  }
  throw new Error('never done');
}

t.test('pages by topic index and by id window agree', async (t) => {
  const { reader } = setup(t);
  t.same(readAll(reader, [{ pattern: 'b', after: 0 }], Number.MAX_SAFE_INTEGER), { ids: [3, 6, 9, 12, 15, 18], steps: 2 });
  t.same(readAll(reader, [{ pattern: 'a.*', after: 10 }], 16).ids, [11, 13, 14, 16]);
  t.same(readAll(reader, [{ pattern: 'a.1', after: 0 }, { pattern: 'b', after: 12 }], 20).ids, [1, 4, 7, 10, 13, 15, 16, 18, 19]);
  const text: string[] = [];
  let cursor = 0;
  for (let steps = 0; steps < 100; steps++) {
    const page = reader.pageText(new Wants([{ pattern: '>', after: 0 }]), cursor, Number.MAX_SAFE_INTEGER, { rows: 100, bytes: 50 });
    text.push(Buffer.concat(page.pieces).toString());
    cursor = page.next;
    if (page.done) break;
  }
  t.equal(text[0], 'msg a.1 1 s x\nmsg a.2 2 s xx\nmsg b 3 s xxx\nmsg a.1 4 s xxxx\n', 'msg lines, as the pages hold them');
  for (const page of text.slice(0, -1)) {
    const withoutLast = page.slice(0, page.lastIndexOf('\n', page.length - 2) + 1);
    t.ok(page.length >= 50 && withoutLast.length < 50, 'a page stops at the first line that reaches the byte limit', { diagnostic: false });
  }
  t.equal(text.length, 8);
  t.equal(text.join('').split('\n').length, 21, 'every line once');
  t.same(reader.page(new Wants([]), 0, 10), { rows: [], next: 0, done: true });
  t.same(reader.page(new Wants([{ pattern: '>', after: 0 }]), 10, 10), { rows: [], next: 10, done: true });
});

t.test('start of the last n', async (t) => {
  const { store } = setup(t);
  const run = (pattern: string, n: number, until = 20): number => {
    const steps = store.starts.startOfLast(pattern, n, until, small);
    for (;;) {
      const step = steps.next();
      if (step.done) return step.value;
    }
  };
  t.equal(run('b', 2), 14, 'b: 15 and 18');
  t.equal(run('b', 6), 2);
  t.equal(run('b', 7), 0, 'fewer than n');
  t.equal(run('b', 0), 20);
  t.equal(run('a.*', 3), 16, 'a.*: 17, 19, 20');
  t.equal(run('a.*', 14), 0);
  t.equal(run('>', 5, 10), 5);
  t.equal(run('b', 1, 0), 0, 'an empty range');
});

t.test('first id at or after a time, with gaps', async (t) => {
  const { reader, store } = setup(t);
  t.equal(store.starts.afterTime(0, 1, 20), 0);
  t.equal(store.starts.afterTime(7000, 1, 20), 6);
  t.equal(store.starts.afterTime(7500, 1, 20), 7);
  t.equal(store.starts.afterTime(99000, 1, 20), 20, 'after everything');
  store.db.exec('DROP TRIGGER pages_no_delete; DELETE FROM pages WHERE last_id BETWEEN 5 AND 12;');
  t.equal(store.starts.afterTime(7000, 1, 20), 4, 'after 4 comes 13, the first row at 7 s or later');
  t.equal(reader.firstId(), 1);
  t.equal(reader.lastId(), 20);
});

t.test('a cursor past the end stays where it is', async (t) => {
  const { reader } = setup(t);
  t.same(reader.page(new Wants([{ pattern: '>', after: 1000 }]), 1000, Number.MAX_SAFE_INTEGER), { rows: [], next: 1000, done: true });
  t.same(reader.page(new Wants([{ pattern: 'b', after: 1000 }]), 1000, Number.MAX_SAFE_INTEGER), { rows: [], next: 1000, done: true });
  const page = reader.page(new Wants([{ pattern: 'b', after: 0 }]), 0, Number.MAX_SAFE_INTEGER, { rows: 100, bytes: 10000 });
  t.same({ next: page.next, done: page.done }, { next: 20, done: true }, 'an exact topic read to the end stops at the last id, not at until');
});

/** Every id `wants` asks for, a text page at a time; and the ids by brute force. */
function textIds(reader: JournalReader, wants: { pattern: string; after: number }[], until: number, limits = { rows: 2000, bytes: 1 << 20 }): number[] {
  const ids: number[] = [];
  const compiled = new Wants(wants);
  let cursor = compiled.lowest;
  for (let steps = 0; steps < 10000; steps++) {
    const page = reader.pageText(compiled, cursor, until, limits);
    for (const line of Buffer.concat(page.pieces).toString().split('\n')) if (line !== '') ids.push(Number(line.split(' ')[2]));
    if (page.count > 0) t.equal(page.lastId, ids[ids.length - 1], 'lastId is the last line', { diagnostic: false });
    cursor = page.next;
    if (page.done) return ids;
  }
  throw new Error('never done');
}

t.test('block summaries: a rare topic in a journal of several blocks', async (t) => {
  const store = Store.open(join(tempDir(t), 'big.db'));
  t.teardown(() => store.close());
  const rare = new Set([5, 16384, 20000, 39000, 44990]);
  const topicOf = (id: number): string => (rare.has(id) ? 'rare' : id % 10 === 0 ? 'news.eu' : 'busy');
  // 45,000 rows in commits of 5,000: blocks 0 (ids 0 to 16383) and 1 are
  // summarized, block 2 is the last.
  for (let start = 1; start <= 45000; start += 5000) {
    store.journal.append(Array.from({ length: 5000 }, (_, i) => ({ topic: topicOf(start + i), sender: 's', body: `${start + i}` })), start);
  }
  const blocks = store.db.prepare("SELECT block, first_id, last_id, count FROM topic_blocks WHERE topic = 'rare' ORDER BY block").all();
  t.same(blocks, [{ block: 0, first_id: 5, last_id: 5, count: 1 }, { block: 1, first_id: 16384, last_id: 20000, count: 2 }], 'completed blocks are summarized, the last is not');
  const reader = store.reader;
  const all = Array.from({ length: 45000 }, (_, i) => i + 1);
  const oracle = (pattern: string, after: number, until = 45000): number[] => all.filter((id) => id > after && id <= until && (pattern === '>' || topicOf(id) === pattern || (pattern === 'news.*' && topicOf(id) === 'news.eu')));
  for (const [pattern, after, until] of [['rare', 0, 45000], ['rare', 5, 45000], ['rare', 16384, 39000], ['rare', 16383, 32767], ['rare', 39000, 45000], ['news.eu', 12345, 45000], ['news.*', 40000, 45000], ['>', 44000, 45000]] as const) {
    t.same(textIds(reader, [{ pattern, after }], until), oracle(pattern, after, until), `${pattern} after ${after} until ${until}`);
  }
  t.same(textIds(reader, [{ pattern: 'busy', after: 16000 }], 20000, { rows: 300, bytes: 1 << 20 }), oracle('busy', 16000, 20000), 'busy, in short pages across a block boundary');
  t.same(textIds(reader, [{ pattern: 'rare', after: 0 }, { pattern: 'news.eu', after: 44900 }], 45000), all.filter((id) => (topicOf(id) === 'rare') || (id > 44900 && topicOf(id) === 'news.eu')), 'two wants, two starts');
  const run = (pattern: string, n: number, until = 45000): number => {
    const steps = store.starts.startOfLast(pattern, n, until);
    for (;;) {
      const step = steps.next();
      if (step.done) return step.value;
    }
  };
  t.equal(run('rare', 1), 44989, 'the last one is in the last block');
  t.equal(run('rare', 2), 38999);
  t.equal(run('rare', 3), 19999, 'from the summaries');
  t.equal(run('rare', 4), 16383);
  t.equal(run('rare', 5), 4);
  t.equal(run('rare', 6), 0, 'fewer than n');
  t.equal(run('rare', 2, 20000), 16383, 'up to an id');
  const stepped = store.starts.startOfLast('rare', 5, 45000, { rows: 32, bytes: 1 << 20 });
  let steps = 0;
  for (let step = stepped.next(); ; step = stepped.next(), steps++) {
    if (!step.done) continue;
    t.equal(step.value, 4, 'a summary a step gives the same start');
    break;
  }
  t.ok(steps > 1, 'in steps of 32 messages, and of one page of summaries');
  t.equal(run('busy', 40000), oracle('busy', 0).slice(-40000)[0] as number - 1);
  t.equal(store.starts.lastIdOf('rare'), 44990, 'in the last block');
  t.equal(store.starts.lastIdOf('nothing'), 0);
  t.equal(store.starts.lastIdOf('news.eu'), 45000);
  t.equal(store.journal.deleteOldest(20000, 30000), 20000, 'retention');
  t.same(store.db.prepare("SELECT block FROM topic_blocks WHERE topic = 'rare' ORDER BY block").pluck().all(), [1], 'the summary of a block left empty goes');
  t.same(textIds(reader, [{ pattern: 'rare', after: 0 }], 45000), [39000, 44990]);
  t.equal(run('rare', 3), 0, 'counts of rows retention took do not invent ids');
  store.journal.append([{ topic: 'late', sender: 's', body: 'x' }], 1);
  t.equal(store.starts.lastIdOf('late'), 45001);
});

t.test('the publish QoS: one row of digits per commit that has any other than 1, read back with the messages, dropped by retention', async (t) => {
  const store = Store.open(join(tempDir(t), 'q.db'));
  t.teardown(() => store.close());
  const batch = (qos: (0 | 1 | 2 | undefined)[]): number => store.journal.append(qos.map((q, i) => ({ topic: 'q', sender: 's', body: String(i), qos: q })), 1000);
  // ids 1-3: all 1, no row; 4-7: 1 0 2 -; 8-9: 2 2; 10: 1 alone.
  t.same([batch([1, undefined, 1]), batch([1, 0, 2, undefined]), batch([2, 2]), batch([1])], [3, 7, 9, 10]);
  t.same(store.db.prepare('SELECT first_id, qos FROM message_qos ORDER BY first_id').raw().all(), [[4, '1021'], [8, '22']], 'one row per commit with a QoS other than 1');
  const qosOf = (from: number, limits = { rows: 100, bytes: 1 << 20 }): (number | undefined)[] => {
    const out: (number | undefined)[] = [];
    for (let cursor = from, done = false; !done; ) {
      const page = store.reader.pageMessages(new Wants([{ pattern: '>', after: cursor }]), cursor, Number.MAX_SAFE_INTEGER, limits);
      out.push(...page.messages.map((m) => m.qos));
      ({ next: cursor, done } = page);
    }
    return out;
  };
  t.same(qosOf(0), [undefined, undefined, undefined, undefined, 0, 2, undefined, 2, 2, undefined], 'absent is 1');
  t.same(qosOf(5), [2, undefined, 2, 2, undefined], 'a page that starts inside a commit');
  t.same(qosOf(0, { rows: 2, bytes: 1 << 20 }), qosOf(0), 'pages of two rows, cutting commits');
  t.same([4, 5, 6, 8].map((id) => store.reader.message(id, true)?.qos), [undefined, 0, 2, 2], 'one message, its QoS asked for');
  t.equal(store.reader.message(5)?.qos, undefined, 'not asked for: not read');
  // Retention takes whole pages (a commit of short messages is one).
  store.journal.deleteOldest(5, 100);
  t.same(store.db.prepare('SELECT first_id FROM message_qos').pluck().all(), [4, 8], 'a commit kept keeps its row');
  store.journal.deleteOldest(8, 100);
  t.same(store.db.prepare('SELECT first_id FROM message_qos').pluck().all(), [8], 'one deleted goes');
  t.same(qosOf(0), [2, 2, undefined]);
});

t.test('pages of non-ASCII lines and ids with gaps, read whole, in part and one by one', async (t) => {
  const store = Store.open(join(tempDir(t), 'gaps.db'));
  t.teardown(() => store.close());
  t.equal(store.journal.deleteOldest(10, 100), 0, 'retention on an empty journal');
  const message = (id: number, topic: string, body: string): { id: number; ts: number; topic: string; sender: string; body: string } => ({ id, ts: 5, topic, sender: 'søren', body });
  // One commit, one page: two topics, ids 3, 7, 8, 20.
  store.journal.appendNumbered([message(3, 'café', 'crème brûlée'), message(7, 'tea', 'earl grey'), message(8, 'café', 'ristretto ✓'), message(20, 'tea', 'matcha 抹茶')]);
  t.same(store.db.prepare('SELECT first_id, last_id, count, topic FROM pages').all(), [{ first_id: 3, last_id: 20, count: 4, topic: null }]);
  const reader = store.reader;
  t.same(reader.message(8), message(8, 'café', 'ristretto ✓'));
  t.equal(reader.message(5), undefined, 'an id of the gap');
  const text = (pattern: string, after: number): string => {
    const page = reader.pageText(new Wants([{ pattern, after }]), after, 100);
    t.equal(page.lastId, Number(Buffer.concat(page.pieces).toString().trimEnd().split('\n').pop()?.split(' ')[2]), 'lastId is the last line');
    return Buffer.concat(page.pieces).toString();
  };
  t.equal(text('café', 0), 'msg café 3 søren crème brûlée\nmsg café 8 søren ristretto ✓\n', 'cut line by line from a page of several topics');
  t.equal(text('>', 0), 'msg café 3 søren crème brûlée\nmsg tea 7 søren earl grey\nmsg café 8 søren ristretto ✓\nmsg tea 20 søren matcha 抹茶\n', 'the page whole');
  t.equal(text('>', 7), 'msg café 8 søren ristretto ✓\nmsg tea 20 søren matcha 抹茶\n', 'from the middle of the page');
  t.same(reader.pageMessages(new Wants([{ pattern: 'tea', after: 0 }]), 0, 100).messages, [message(7, 'tea', 'earl grey'), message(20, 'tea', 'matcha 抹茶')]);
  t.equal(runSteps(store.lag.count('café', 3, 20)), 1);
  t.equal(runSteps(store.starts.startOfLast('tea', 1, 20)), 19);
});

t.test('block sums survive a restart and forget a commit that failed', async (t) => {
  const path = join(tempDir(t), 'sums.db');
  const message = (id: number, topic: string, ts = 1): { id: number; ts: number; topic: string; sender: string; body: string } => ({ id, ts, topic, sender: 's', body: `${id}` });
  let store = Store.open(path);
  store.journal.appendNumbered(Array.from({ length: 10000 }, (_, i) => message(i + 1, i % 2 ? 'odd' : 'even')));
  store.close();
  // Read back from the pages after a restart: the first 10,000 still count.
  store = Store.open(path);
  t.teardown(() => store.close());
  // Its first page written, then a bad id: rolled back.
  t.throws(() => store.journal.appendNumbered([message(10001, 'lost'), message(10002, 'lost', 2), message(10002, 'lost', 2)]), /not after the journal's last id/, 'a commit that fails');
  store.journal.appendNumbered(Array.from({ length: 10000 }, (_, i) => message(10001 + i, i % 2 ? 'odd' : 'even')));
  const blocks = store.db.prepare('SELECT block, topic, first_id, last_id, count FROM topic_blocks ORDER BY block, topic').all();
  t.same(blocks, [
    { block: 0, topic: 'even', first_id: 1, last_id: 16383, count: 8192 },
    { block: 0, topic: 'odd', first_id: 2, last_id: 16382, count: 8191 },
  ], 'block 0 counts every message in it, before the restart and after, and not the failed commit\'s');
});
