/** Paging edge cases of the journal reader, with tiny pages. */
import t from 'tap';
import { join } from 'node:path';
import { Store } from '../src/store/store.js';
import { Wants } from '../src/store/reader.js';
import type { JournalReader } from '../src/store/reader.js';
import { tempDir } from './helpers.js';
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
  t.same(readAll(reader, [{ pattern: '>', after: 0 }], Number.MAX_SAFE_INTEGER, { rows: 100, bytes: 50 }), { ids: Array.from({ length: 20 }, (_, i) => i + 1), steps: 10 }, 'the byte limit cuts pages: each line here is 31 to 50 bytes, so two per page');
  t.same(reader.page(new Wants([]), 0, 10), { rows: [], next: 0, done: true });
  t.same(reader.page(new Wants([{ pattern: '>', after: 0 }]), 10, 10), { rows: [], next: 10, done: true });
});

t.test('start of the last n', async (t) => {
  const { reader } = setup(t);
  const run = (pattern: string, n: number, until = 20): number => {
    const steps = reader.startOfLast(pattern, n, until, small);
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
  t.equal(reader.afterTime(0, 1, 20), 0);
  t.equal(reader.afterTime(7000, 1, 20), 6);
  t.equal(reader.afterTime(7500, 1, 20), 7);
  t.equal(reader.afterTime(99000, 1, 20), 20, 'after everything');
  store.db.exec('DROP TRIGGER messages_no_delete; DELETE FROM messages WHERE id BETWEEN 5 AND 12;');
  t.equal(reader.afterTime(7000, 1, 20), 4, 'after 4 comes 13, the first row at 7 s or later');
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
