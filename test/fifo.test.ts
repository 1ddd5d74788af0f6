/**
 * The queue behind a connection's input and held output: against an
 * array under random pushes, takes and clears (bursts past the point where
 * it compacts and past the capacity an emptied queue keeps), and taken
 * items left to the garbage collector.
 */
import { setImmediate as nextTurn } from 'node:timers/promises';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import t from 'tap';
import { Fifo } from '../src/util/fifo.js';

/** A small deterministic generator, so a failure can be replayed. */
function random(seed: number): () => number {
  let state = seed;
  return () => {
    state = (Math.imul(state, 1103515245) + 12345) & 0x7fffffff;
    return state / 2 ** 31;
  };
}

t.test('takes in the order pushed, whatever the mix of pushes, takes and clears', async (t) => {
  for (const seed of [1, 2, 3]) {
    const next = random(seed);
    const fifo = new Fifo<number>();
    const model: number[] = [];
    let n = 0;
    let mismatches = 0;
    let drains = 0;
    for (let step = 0; step < 20_000; step++) {
      const roll = next();
      // Bursts of up to 3000 pushes, drains to empty, and pushes and takes
      // at even odds: the queue compacts (1024 and more taken from a long
      // one), empties below and above the capacity it keeps, and is cleared.
      if (roll < 0.01) {
        const burst = Math.floor(next() * 3000);
        for (let k = 0; k < burst; k++) {
          fifo.push(n);
          model.push(n++);
        }
      } else if (roll < 0.015) {
        while (model.length > 0) if (fifo.take() !== model.shift()) mismatches++;
        drains++;
      } else if (roll < 0.5) {
        fifo.push(n);
        model.push(n++);
      } else if (roll < 0.999) {
        if (fifo.take() !== model.shift()) mismatches++;
      } else {
        fifo.clear();
        model.length = 0;
      }
      if (fifo.length !== model.length || fifo.peek() !== model[0]) mismatches++;
    }
    t.equal(mismatches, 0, `seed ${seed}: every take, peek and length as the array's`);
    t.ok(n > 100_000 && drains > 50, `seed ${seed}: ${n} items went through, ${drains} drains`);
  }
});

t.test('a long queue taken from compacts and keeps its order', async (t) => {
  const fifo = new Fifo<number>();
  for (let k = 0; k < 3000; k++) fifo.push(k);
  const taken: number[] = [];
  // The 1600th take compacts (1600 taken of 3000); pushes follow it.
  for (let k = 0; k < 1600; k++) taken.push(fifo.take() as number);
  for (let k = 3000; k < 3500; k++) fifo.push(k);
  t.same([fifo.length, fifo.peek()], [1900, 1600]);
  for (let item = fifo.take(); item !== undefined; item = fifo.take()) taken.push(item);
  t.same(taken, Array.from({ length: 3500 }, (_, k) => k), 'all 3500, in order');
  t.same([fifo.length, fifo.peek()], [0, undefined]);
});

t.test('an emptied or cleared queue takes new items', async (t) => {
  const fifo = new Fifo<string>();
  for (const round of [1, 2, 3]) {
    for (const item of ['a', 'b', 'c']) fifo.push(`${item}${round}`);
    t.same([fifo.take(), fifo.take(), fifo.peek(), fifo.length], [`a${round}`, `b${round}`, `c${round}`, 1]);
    t.equal(fifo.take(), `c${round}`);
    t.same([fifo.take(), fifo.peek(), fifo.length], [undefined, undefined, 0], `round ${round}: empty`);
  }
  fifo.push('x');
  fifo.clear();
  t.same([fifo.take(), fifo.length], [undefined, 0], 'cleared');
  fifo.push('y');
  t.equal(fifo.take(), 'y', 'and used again');
});

/** Pushes `count` new objects; the caller keeps only weak references (an async function's suspended frame would keep its locals). */
function pushWeakly(fifo: Fifo<object>, count: number): WeakRef<object>[] {
  const refs: WeakRef<object>[] = [];
  for (let k = 0; k < count; k++) {
    const item = { k };
    refs.push(new WeakRef(item));
    fifo.push(item);
  }
  return refs;
}

t.test('an item taken or cleared away is not kept alive by the queue', async (t) => {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  const fifo = new Fifo<object>();
  // Two taken while the others stay queued, then the rest cleared away:
  // 20 of them, more than an emptied queue's array may keep it for.
  const refs = pushWeakly(fifo, 20);
  const alive = (): string => refs.map((ref) => (ref.deref() === undefined ? '-' : 'o')).join('');
  fifo.take();
  fifo.take();
  const kept = fifo.peek();
  await nextTurn();
  gc();
  t.equal(alive(), `--${'o'.repeat(18)}`, 'the taken ones are collected');
  t.equal(kept, refs[2]?.deref());
  fifo.clear();
  await nextTurn();
  gc();
  t.equal(alive(), `--o${'-'.repeat(17)}`, 'so are the cleared ones (the test holds the third)');
});
