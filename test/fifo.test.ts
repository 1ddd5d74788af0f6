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
    state = (state * 1103515245 + 12345) % 2 ** 31;
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
    for (let step = 0; step < 20_000; step++) {
      const roll = next();
      // Bursts of up to 3000 pushes, then mostly takes: the queue empties,
      // compacts (1024 taken) and grows past what an emptied queue keeps.
      if (roll < 0.02) {
        const burst = Math.floor(next() * 3000);
        for (let k = 0; k < burst; k++) {
          fifo.push(n);
          model.push(n++);
        }
      } else if (roll < 0.45) {
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
    t.ok(n > 20_000, `seed ${seed}: ${n} items went through`);
  }
});

t.test('an emptied queue is used again, from its start', async (t) => {
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
  // Two taken while others stay queued, one cleared away.
  const refs = pushWeakly(fifo, 4);
  fifo.take();
  fifo.take();
  const kept = fifo.peek();
  await nextTurn();
  gc();
  t.same(refs.map((ref) => ref.deref() !== undefined), [false, false, true, true], 'the taken ones are collected');
  t.equal(kept, refs[2]?.deref());
  fifo.clear();
  await nextTurn();
  gc();
  t.same(refs.map((ref) => ref.deref() !== undefined), [false, false, true, false], 'so are the cleared ones (the test holds the third)');
});
