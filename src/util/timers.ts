/**
 * Deadlines of many things (jobs whose wait runs out, nacked jobs whose
 * delay ends) on one heap and one Node timer, set for the earliest: no
 * scan of pending jobs per tick, and one timer however many jobs wait.
 */
import { Heap } from './heap.js';
import type { HeapItem } from './heap.js';

export interface Timed extends HeapItem {
  /** When it is due, in ms since the Unix epoch. */
  due: number;
  /** Of two due at once, the lower goes first (jobs handed out in one millisecond come back in id order). */
  readonly id: number;
  /** Its time came (it is already off the heap). */
  expire(now: number): void;
}

/** setTimeout's longest delay; a later deadline is reached in steps. */
const MAX_DELAY_MS = 2 ** 31 - 1;

export class Timers {
  readonly #heap = new Heap<Timed>((a, b) => a.due < b.due || (a.due === b.due && a.id < b.id));
  #timer: NodeJS.Timeout | undefined;
  /** The due time the Node timer is set for. */
  #armedFor = Number.POSITIVE_INFINITY;
  #stopped = false;

  get size(): number {
    return this.#heap.size;
  }

  /** Adds `item`, or moves it if its due time changed. */
  set(item: Timed): void {
    if (item.heapIndex < 0) this.#heap.push(item);
    else this.#heap.update(item);
    this.#arm();
  }

  remove(item: Timed): void {
    this.#heap.remove(item);
    this.#arm();
  }

  /** No more expiries (the daemon is stopping). */
  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #arm(): void {
    const next = this.#heap.peek();
    if (this.#stopped || next === undefined || next.due === this.#armedFor) return;
    clearTimeout(this.#timer);
    this.#armedFor = next.due;
    this.#timer = setTimeout(this.#fire, Math.min(MAX_DELAY_MS, Math.max(0, next.due - Date.now())));
    // Jobs waiting keep no process alive; the listener does.
    this.#timer.unref();
  }

  readonly #fire = (): void => {
    this.#armedFor = Number.POSITIVE_INFINITY;
    this.#timer = undefined;
    const now = Date.now();
    for (let item = this.#heap.peek(); item !== undefined && item.due <= now; item = this.#heap.peek()) {
      this.#heap.remove(item);
      item.expire(now);
    }
    this.#arm();
  };
}
