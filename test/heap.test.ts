/**
 * The heap and the timers behind work-queue deadlines: against a sorted
 * array under random pushes, pops, removals and key changes; and timers
 * that fire in due order, once, and touch only what is due.
 */
import t from 'tap';
import { Heap } from '../src/util/heap.js';
import { Timers } from '../src/util/timers.js';
import type { Timed } from '../src/util/timers.js';

interface Item {
  key: number;
  heapIndex: number;
}

/** A small deterministic generator, so a failure can be replayed. */
function random(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state * 1103515245 + 12345) % 2 ** 31;
    return state / 2 ** 31;
  };
}

t.test('the heap agrees with a sorted array through 20,000 random operations', async (t) => {
  const next = random(7);
  const heap = new Heap<Item>((a, b) => a.key < b.key);
  const model: Item[] = [];
  let mismatches = 0;
  for (let step = 0; step < 20_000; step++) {
    const roll = next();
    if (roll < 0.4 || model.length === 0) {
      const item = { key: Math.floor(next() * 1000), heapIndex: -1 };
      heap.push(item);
      model.push(item);
    } else if (roll < 0.6) {
      const top = heap.pop() as Item;
      const least = Math.min(...model.map((i) => i.key));
      if (top.key !== least || top.heapIndex !== -1) mismatches++;
      model.splice(model.indexOf(top), 1);
    } else if (roll < 0.8) {
      const item = model[Math.floor(next() * model.length)] as Item;
      heap.remove(item);
      heap.remove(item);
      model.splice(model.indexOf(item), 1);
    } else {
      const item = model[Math.floor(next() * model.length)] as Item;
      item.key = Math.floor(next() * 1000);
      heap.update(item);
    }
    if (heap.size !== model.length) mismatches++;
    if (model.length > 0 && heap.peek()?.key !== Math.min(...model.map((i) => i.key))) mismatches++;
  }
  t.equal(mismatches, 0);
  const drained: number[] = [];
  for (let item = heap.pop(); item !== undefined; item = heap.pop()) drained.push(item.key);
  t.same(drained, model.map((i) => i.key).sort((a, b) => a - b), 'pops come out sorted');
  const inside: Item = { key: 5, heapIndex: -1 };
  const outside: Item = { key: 1, heapIndex: -1 };
  heap.push(inside);
  heap.update(outside);
  t.same([heap.size, heap.peek(), outside.heapIndex], [1, inside, -1], 'updating an item not in the heap changes nothing');
});

t.test('timers fire in due order, once each, and only when due', { timeout: 5000 }, async (t) => {
  const timers = new Timers();
  t.teardown(() => timers.stop());
  // The timers do not keep a process alive (the daemon's listener does).
  const alive = setInterval(() => {}, 1000);
  t.teardown(() => clearInterval(alive));
  const fired: string[] = [];
  const now = Date.now();
  let last: () => void = () => {};
  const done = new Promise<void>((resolve) => (last = resolve));
  const make = (name: string, due: number, id = 0): Timed => ({
    id,
    due,
    heapIndex: -1,
    expire: () => {
      fired.push(name);
      if (name === 'c') last();
    },
  });
  const a = make('a', now + 30);
  const b = make('b', now + 10);
  const c = make('c', now + 60);
  const never = make('never', now + 20);
  const later = make('later', now + 3_600_000);
  for (const item of [a, b, c, never, later]) timers.set(item);
  timers.remove(never);
  b.due = now + 40;
  timers.set(b);
  t.equal(timers.size, 4);
  await done;
  t.same(fired, ['a', 'b', 'c'], 'moved and removed items are honoured');
  t.equal(timers.size, 1, 'the far one waits');
  t.ok(Date.now() >= now + 60, 'nothing fired early');
});

t.test('timers due at once fire in id order, whatever order they were set in', { timeout: 5000 }, async (t) => {
  const timers = new Timers();
  t.teardown(() => timers.stop());
  const alive = setInterval(() => {}, 1000);
  t.teardown(() => clearInterval(alive));
  const due = Date.now() + 5;
  const ids = [31, 30, 33, 29, 32, 34, 28];
  const fired: number[] = [];
  const all = new Promise<void>((resolve) => {
    for (const id of ids) timers.set({ id, due, heapIndex: -1, expire: () => fired.push(id) === ids.length && resolve() });
  });
  await all;
  t.same(fired, [28, 29, 30, 31, 32, 33, 34]);
});

t.test('a deadline past what setTimeout can wait is reached in steps', async (t) => {
  const timers = new Timers();
  t.teardown(() => timers.stop());
  timers.set({ id: 1, due: Date.now() + 40 * 86_400_000, heapIndex: -1, expire: () => t.fail('fired 40 days early') });
  t.equal(timers.size, 1);
});
