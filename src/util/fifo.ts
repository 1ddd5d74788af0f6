/**
 * A first-in first-out queue whose take is O(1): Array#shift moves every
 * element, which a client pipelining thousands of short lines would turn
 * into quadratic work. An emptied queue keeps its array if it had more
 * than KEPT_MIN and at most KEPT_CAPACITY places: a busy connection's
 * queue empties every turn, and growing a new array each time cost a
 * fresh daemon 4% of its 50-to-1 throughput (the harness's generator,
 * 200,000 sends); an idle connection's few lines leave no array behind.
 */
const KEPT_MIN = 16;
const KEPT_CAPACITY = 256;
/** Taken places at the front are dropped once there are this many and they are half the array. */
const COMPACT_AFTER = 1024;

export class Fifo<T> {
  #items: (T | undefined)[] = [];
  #head = 0;
  #tail = 0;

  get length(): number {
    return this.#tail - this.#head;
  }

  push(item: T): void {
    if (this.#tail < this.#items.length) this.#items[this.#tail] = item;
    else this.#items.push(item);
    this.#tail++;
  }

  /** The first item, without taking it. */
  peek(): T | undefined {
    return this.#head < this.#tail ? this.#items[this.#head] : undefined;
  }

  take(): T | undefined {
    if (this.#head >= this.#tail) return undefined;
    const item = this.#items[this.#head] as T;
    // Taken items are not kept alive by the array.
    this.#items[this.#head] = undefined;
    this.#head++;
    if (this.#head === this.#tail) this.clear();
    else if (this.#head >= COMPACT_AFTER && this.#head * 2 >= this.#tail) {
      this.#items = this.#items.slice(this.#head, this.#tail);
      this.#tail -= this.#head;
      this.#head = 0;
    }
    return item;
  }

  clear(): void {
    if (this.#items.length <= KEPT_MIN || this.#items.length > KEPT_CAPACITY) this.#items = [];
    else this.#items.fill(undefined, this.#head, this.#tail);
    this.#head = 0;
    this.#tail = 0;
  }
}
