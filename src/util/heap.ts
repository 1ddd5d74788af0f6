/**
 * A binary min-heap whose items know their place in it, so one can be
 * removed or moved after its key changed in O(log n): the redelivery
 * timers of 100,000 pending jobs cost a few comparisons per ack or touch,
 * never a scan.
 */

export interface HeapItem {
  /** Its index in the heap it is in, or -1 when it is in none. */
  heapIndex: number;
}

export class Heap<T extends HeapItem> {
  readonly #items: T[] = [];
  /** Whether `a` comes out before `b`. */
  readonly #before: (a: T, b: T) => boolean;

  constructor(before: (a: T, b: T) => boolean) {
    this.#before = before;
  }

  get size(): number {
    return this.#items.length;
  }

  peek(): T | undefined {
    return this.#items[0];
  }

  push(item: T): void {
    item.heapIndex = this.#items.length;
    this.#items.push(item);
    this.#up(item.heapIndex);
  }

  pop(): T | undefined {
    const top = this.#items[0];
    if (top !== undefined) this.remove(top);
    return top;
  }

  /** Takes `item` out; nothing happens if it is in no heap. */
  remove(item: T): void {
    const index = item.heapIndex;
    if (index < 0) return;
    item.heapIndex = -1;
    const last = this.#items.pop() as T;
    if (last === item) return;
    this.#items[index] = last;
    last.heapIndex = index;
    this.#down(index);
    this.#up(last.heapIndex);
  }

  /** Puts `item`, whose key changed, back in its place. */
  update(item: T): void {
    if (item.heapIndex < 0) return;
    this.#up(item.heapIndex);
    this.#down(item.heapIndex);
  }

  #up(index: number): void {
    const items = this.#items;
    const item = items[index] as T;
    while (index > 0) {
      const parentIndex = (index - 1) >> 1;
      const parent = items[parentIndex] as T;
      if (!this.#before(item, parent)) break;
      items[index] = parent;
      parent.heapIndex = index;
      index = parentIndex;
    }
    items[index] = item;
    item.heapIndex = index;
  }

  #down(index: number): void {
    const items = this.#items;
    const item = items[index] as T;
    const half = items.length >> 1;
    while (index < half) {
      let childIndex = 2 * index + 1;
      let child = items[childIndex] as T;
      const right = items[childIndex + 1];
      if (right !== undefined && this.#before(right, child)) {
        childIndex++;
        child = right;
      }
      if (!this.#before(child, item)) break;
      items[index] = child;
      child.heapIndex = index;
      index = childIndex;
    }
    items[index] = item;
    item.heapIndex = index;
  }
}
