/**
 * The newest pages in memory (recent.ts): every read through them gives
 * what the same read through SQLite gives, whatever the wants, cursor,
 * end and step limits, across commits of several pages and topics, ids
 * with gaps, pages that left memory, a commit rolled back and retention.
 */
import t from 'tap';
import type { Test } from 'tap';
import { join } from 'node:path';
import { Store } from '../src/store/store.js';
import { JournalReader } from '../src/store/reader.js';
import type { PageLimits } from '../src/store/reader.js';
import { RecentPages } from '../src/store/recent.js';
import type { PageRow } from '../src/store/page.js';
import { Wants } from '../src/store/wants.js';
import type { Want } from '../src/store/wants.js';
import { tempDir } from './helpers.js';
import type { Teardown } from './helpers.js';

const WANTS: Want[][] = [
  [{ pattern: '>', after: 0 }],
  [{ pattern: 'a.*', after: 0 }],
  [{ pattern: 'b', after: 0 }],
  [{ pattern: 'a.1', after: 0 }, { pattern: 'b', after: 105 }],
  [{ pattern: 'rare', after: 0 }],
];
const LIMITS: PageLimits[] = [
  { rows: 3, bytes: 200 },
  { rows: 50, bytes: 4000 },
  { rows: 8000, bytes: 1 << 20 },
];

/** Every step of pageText and pageMessages from `cursor` to `until`, as text. */
function readAll(reader: JournalReader, wants: Want[], cursor: number, until: number, limits: PageLimits): string[] {
  const steps: string[] = [];
  for (const kind of ['text', 'messages'] as const) {
    let at = cursor;
    for (let n = 0; ; n++) {
      if (n > 10_000) throw new Error('never done');
      if (kind === 'text') {
        const page = reader.pageText(new Wants(wants), at, until, limits);
        steps.push(`${Buffer.concat(page.pieces).toString()}|${page.count} ${page.lastId} ${page.next} ${page.done}`);
        at = page.next;
        if (page.done) break;
      } else {
        const page = reader.pageMessages(new Wants(wants), at, until, limits);
        steps.push(`${JSON.stringify(page.messages)}|${page.next} ${page.done}`);
        at = page.next;
        if (page.done) break;
      }
    }
  }
  return steps;
}

/** Reads through `store`'s reader (its pages in memory) and through SQLite alone agree, from every cursor. */
function agree(t: Test, store: Store, what: string): void {
  const plain = new JournalReader(store.db);
  const last = plain.lastId();
  let mismatches = 0;
  for (const wants of WANTS) {
    for (const limits of LIMITS) {
      for (let cursor = 0; cursor <= last; cursor += 37) {
        for (const until of [last, Math.max(cursor, last - 20), Number.MAX_SAFE_INTEGER]) {
          const fast = readAll(store.reader, wants, cursor, until, limits);
          const slow = readAll(plain, wants, cursor, until, limits);
          if (JSON.stringify(fast) !== JSON.stringify(slow) && mismatches++ === 0) t.same(fast, slow, `${what}: ${JSON.stringify(wants)} from ${cursor} to ${until}, ${JSON.stringify(limits)}`);
        }
      }
    }
  }
  t.equal(mismatches, 0, `${what}: every read agrees`);
}

function open(t: Teardown, recentBytes: number): Store {
  const store = Store.open(join(tempDir(t), 'j.db'), { recentBytes });
  t.teardown(() => store.close());
  return store;
}

const topics = ['a.1', 'a.2', 'b'];

/** ids 1 to 169 (more in batches): single sends, and batches of several topics and pages. */
function fill(store: Store): void {
  for (let i = 1; i <= 30; i++) store.journal.append([{ topic: topics[i % 3] as string, sender: 's', body: `one ${i}` }], i);
  store.journal.append(Array.from({ length: 40 }, (_, k) => ({ topic: 'b', sender: 's', body: `b ${k}` })), 31);
  // A commit of several pages (about 16 kB each) and topics, ids 71 to 110
  // in pages from 71, 86 and 101. Lines of 1 kB: a step of a small byte
  // budget takes one line and decodes its whole page, so fewer, longer
  // lines fill the pages at less cost.
  store.journal.append(Array.from({ length: 40 }, (_, k) => ({ topic: topics[k % 3] as string, sender: 'søren', body: `${'é'.repeat(500)} ${k}` })), 32);
  store.journal.append([{ topic: 'rare', sender: 's', body: 'once' }], 33);
  for (let i = 0; i < 29; i++) store.journal.append([{ topic: topics[i % 2] as string, sender: 's', body: `two ${i}` }, { topic: 'b', sender: 's', body: `two ${i}` }], 40 + i);
}

t.test('reads of pages in memory and of SQLite agree', async (t) => {
  const store = open(t, 1 << 20);
  t.equal(store.reader.pageText(new Wants([{ pattern: '>', after: 0 }]), 0, 10).count, 0, 'an empty journal');
  fill(store);
  t.ok(store.db.prepare('SELECT count(*) AS n FROM pages WHERE topic IS NULL').get(), 'pages of several topics');
  agree(t, store, 'all in memory');
  // Read from memory, not SQLite: a page slipped into the file behind the journal's back is not seen.
  const last = store.reader.lastId();
  store.db.prepare('INSERT INTO pages (last_id, first_id, count, ts, topic, data, spans) VALUES (?, ?, 1, 1, ?, ?, ?)').run(last + 1, last + 1, 'b', Buffer.from(`msg b ${last + 1} s sneaked\n`), '{"0":22}');
  const wants = new Wants([{ pattern: '>', after: last }]);
  t.equal(new JournalReader(store.db).pageText(wants, last, last + 1).count, 1, 'SQLite has it');
  t.equal(store.reader.pageText(wants, last, last + 1).count, 0, 'memory has not');
});

t.test('only the newest pages stay; older ones are read from SQLite', async (t) => {
  const store = open(t, 40_000);
  fill(store);
  agree(t, store, 'a few kB in memory');
});

t.test('ids with gaps, a commit rolled back, and retention', async (t) => {
  const store = open(t, 1 << 20);
  const message = (id: number, topic: string, ts = 5): { id: number; ts: number; topic: string; sender: string; body: string } => ({ id, ts, topic, sender: 's', body: `m${id}` });
  store.journal.appendNumbered([message(3, 'a.1'), message(7, 'b'), message(8, 'a.2'), message(20, 'b')]);
  // Its first page (a run of one time) written, then a bad id: rolled back.
  t.throws(() => store.journal.appendNumbered([message(21, 'rare'), message(22, 'rare', 6), message(22, 'rare', 6)]), /not after/, 'rolled back');
  t.throws(() => store.journal.append([{ topic: 'rare', sender: 's', body: 'lost' }], 6, () => {
    throw new Error('also-write failed');
  }), /also-write failed/);
  store.journal.appendNumbered([message(30, 'b'), message(31, 'b'), message(40, 'a.1')]);
  agree(t, store, 'gaps and failed commits');
  t.equal(store.reader.pageText(new Wants([{ pattern: 'rare', after: 0 }]), 0, 100).count, 0, 'nothing of the failed commits');
  t.ok(store.journal.deleteOldest(20, 100) > 0, 'retention deleted');
  agree(t, store, 'after retention');
  fill(store);
  agree(t, store, 'commits after retention');
  store.journal.deleteOldest(store.reader.lastId(), 1_000_000);
  agree(t, store, 'retention took every message');
  store.journal.append([{ topic: 'b', sender: 's', body: 'after all' }], 100);
  agree(t, store, 'a commit after that');
});

t.test('RecentPages alone', async (t) => {
  const page = (first: number, last: number, topic: string | null, bytes: number): PageRow => ({ first_id: first, last_id: last, count: last - first + 1, ts: 1, topic, data: Buffer.alloc(bytes, 'x') });
  // Chunks of 4 kB: room for two, not three.
  const recent = new RecentPages(9000);
  t.notOk(recent.covers(1), 'nothing before a commit');
  recent.add(page(1, 10, 'a', 100));
  recent.settle(false);
  t.notOk(recent.covers(1), 'nor after one rolled back');
  recent.add(page(1, 10, 'a', 4000));
  recent.add(page(11, 12, null, 4000));
  recent.settle(true);
  t.ok(recent.covers(1));
  t.notOk(recent.covers(0));
  recent.add(page(13, 20, 'b', 4000));
  recent.settle(true);
  t.notOk(recent.covers(10), 'the oldest went');
  t.ok(recent.covers(11));
  t.equal(recent.bound(15), 20);
  t.equal(recent.bound(25), 25);
  const limits = { rows: 100, bytes: 100_000 };
  t.same(recent.read(11, 20, undefined, limits).pages.map((p) => p.last_id), [12, 20]);
  t.same(recent.read(11, 20, 'a', limits).pages.map((p) => p.last_id), [12], 'a topic: its pages and those of several');
  t.same(recent.read(13, 19, undefined, limits).pages.map((p) => p.last_id), [], 'pages that end in the range');
  t.same(recent.read(11, 20, undefined, { rows: 1, bytes: 1000 }), { pages: [page(11, 12, null, 4000)], complete: false });
  recent.clear();
  t.notOk(recent.covers(100), 'retention empties it');
  const none = new RecentPages(0);
  none.add(page(1, 1, 'a', 1));
  none.settle(true);
  t.notOk(none.covers(1), '0 bytes: nothing kept');
  // Many pages: the index grows, and makes room as chunks go.
  const many = new RecentPages(64 * 4096);
  for (let id = 1; id <= 5000; id++) {
    many.add(page(id, id, id % 2 ? 'odd' : 'even', 300));
    many.settle(true);
  }
  // 16 kB chunks of 54 pages each, about 12 of them in 256 kB.
  t.notOk(many.covers(4000), 'the oldest chunks went');
  t.ok(many.covers(4500));
  const read = many.read(4500, 5000, 'odd', { rows: 10_000, bytes: 1 << 30 }).pages;
  t.same([read.length, read[0]?.last_id, read[0]?.topic, read[read.length - 1]?.last_id, read[0]?.data.length], [250, 4501, 'odd', 4999, 300]);
});
