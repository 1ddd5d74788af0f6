/**
 * The journal's newest pages, kept in memory as well, so that a replay or
 * catch-up of recent messages reads no disk and no SQLite: a page's bytes
 * go to the client as they are. Measured on a replay of 500k messages just
 * sent (the harness's): 92% of the daemon's time went to SQLite reading
 * pages back from the WAL (a pread and a copy per 4 kB overflow page, then
 * a copy into a Buffer, and its page faults).
 *
 * It holds every page whose last id is `from` or more, in id order, in
 * about `maxBytes` of memory (the oldest go first, a chunk at a time).
 * Only the daemon's own journal feeds it (Journal, as each commit
 * settles), which is the only writer of pages while it runs; retention
 * empties it.
 *
 * The lines are copied into chunks and the pages are rows
 * of typed arrays: at a few thousand commits a second, an object (and an
 * ArrayBuffer) kept per page made every young-generation GC copy them,
 * and doubled its pauses (0.8 to 1.9 ms, measured): the p99 of the
 * latency benchmark.
 */
import type { PageRow } from './page.js';

/** Not yet known: nothing is here until a commit settles. */
const NOWHERE = Number.MAX_SAFE_INTEGER;
/** The lines of many pages share a chunk of a sixteenth of the whole, 4 kB to 1 MiB; a longer page has one of its own. */
const MIN_CHUNK = 4096;
const MAX_CHUNK = 1 << 20;
/** What a page weighs besides its lines: its row of the index. */
const PAGE_OVERHEAD = 64;
/**
 * Chunks are cut from slabs of this many: each allocation of memory
 * outside V8's heap nudges its garbage collector, and one per chunk
 * doubled the GC's share of a 1 to 1 send run (7% to 14%, measured; 8%
 * with slabs). A slab is freed once its last chunk is dropped and read.
 */
const CHUNKS_PER_SLAB = 16;

export class RecentPages {
  readonly #maxBytes: number;
  readonly #chunkBytes: number;
  /** The chunks, oldest first; the first is chunk number #firstChunk. */
  #chunks: Buffer[] = [];
  #firstChunk = 0;
  /** Bytes used in the newest chunk. */
  #used = 0;
  /** The index: the pages from #head to #tail, oldest first. */
  #firstIds = new Float64Array(1024);
  #lastIds = new Float64Array(1024);
  #counts = new Float64Array(1024);
  #ts = new Float64Array(1024);
  #chunkOf = new Float64Array(1024);
  #starts = new Int32Array(1024);
  #ends = new Int32Array(1024);
  #topics: (string | null)[] = [];
  #head = 0;
  #tail = 0;
  #bytes = 0;
  /** Every page whose last id is this or more is here. */
  #from = NOWHERE;
  /** The slab new chunks are cut from, and how many it gave. */
  #slab: Buffer | undefined;
  #cut = 0;
  /** Pages of the commit under way: they join once it commits. */
  #pending: PageRow[] = [];

  /** `maxBytes` 0: none is kept. */
  constructor(maxBytes: number) {
    this.#maxBytes = maxBytes;
    this.#chunkBytes = Math.min(MAX_CHUNK, Math.max(MIN_CHUNK, Math.floor(maxBytes / 16)));
  }

  /** Whether every page that holds an id of `from` or more is here. */
  covers(from: number): boolean {
    return from >= this.#from;
  }

  /** A page of the commit under way. */
  add(page: PageRow): void {
    if (this.#maxBytes > 0) this.#pending.push(page);
  }

  /** The commit under way committed (`committed`) or rolled back. */
  settle(committed: boolean): void {
    const pending = this.#pending;
    if (pending.length === 0) return;
    this.#pending = [];
    if (!committed) return;
    // The first commit after a start or a clear: nothing came after the
    // journal's last page but these.
    if (this.#from === NOWHERE) this.#from = (pending[0] as PageRow).first_id;
    for (const page of pending) this.#keep(page);
    while (this.#bytes > this.#maxBytes && this.#chunks.length > 0) this.#dropOldestChunk();
  }

  /** Retention deleted pages: none is kept until the next commit. */
  clear(): void {
    this.#chunks = [];
    this.#firstChunk = 0;
    this.#used = 0;
    this.#topics = [];
    this.#head = 0;
    this.#tail = 0;
    this.#bytes = 0;
    this.#from = NOWHERE;
  }

  /** The last id of the page that holds `id`, or `id` when none does (covers(id) must hold). */
  bound(id: number): number {
    const k = this.#at(id);
    return k < this.#tail && (this.#firstIds[k] as number) <= id ? (this.#lastIds[k] as number) : id;
  }

  /**
   * The pages whose last id is from `from` to `to` (of `topic` and those
   * of several, when given), in id order, as many as about `limits` allow
   * (at least one), as the reader's SQL would select them; `complete` when
   * that is all of them. covers(from) must hold.
   */
  read(from: number, to: number, topic: string | undefined, limits: { readonly rows: number; readonly bytes: number }): { pages: PageRow[]; complete: boolean } {
    const pages: PageRow[] = [];
    let rows = 0;
    let bytes = 0;
    for (let k = this.#at(from); k < this.#tail; k++) {
      if ((this.#lastIds[k] as number) > to) break;
      const pageTopic = this.#topics[k - this.#head] as string | null;
      if (topic !== undefined && pageTopic !== null && pageTopic !== topic) continue;
      if (pages.length > 0 && (rows >= limits.rows || bytes >= limits.bytes)) return { pages, complete: false };
      const chunk = this.#chunks[(this.#chunkOf[k] as number) - this.#firstChunk] as Buffer;
      const data = chunk.subarray(this.#starts[k], this.#ends[k]);
      const count = this.#counts[k] as number;
      pages.push({ first_id: this.#firstIds[k] as number, last_id: this.#lastIds[k] as number, count, ts: this.#ts[k] as number, topic: pageTopic, data });
      rows += count;
      bytes += data.length;
    }
    return { pages, complete: true };
  }

  /** Copies a committed page in. */
  #keep(page: PageRow): void {
    const length = page.data.length;
    let chunk = this.#chunks[this.#chunks.length - 1];
    if (chunk === undefined || this.#used + length > chunk.length) {
      chunk = this.#newChunk(length);
      this.#chunks.push(chunk);
      this.#used = 0;
      this.#bytes += chunk.length;
    }
    chunk.set(page.data, this.#used);
    if (this.#tail === this.#firstIds.length) this.#makeRoom();
    const k = this.#tail++;
    this.#firstIds[k] = page.first_id;
    this.#lastIds[k] = page.last_id;
    this.#counts[k] = page.count;
    this.#ts[k] = page.ts;
    this.#chunkOf[k] = this.#firstChunk + this.#chunks.length - 1;
    this.#starts[k] = this.#used;
    this.#ends[k] = this.#used + length;
    // The topic as its own string: one cut from a client's input would hold all of it.
    const before = this.#topics[this.#topics.length - 1];
    this.#topics.push(page.topic === null ? null : page.topic === before ? before : Buffer.from(page.topic).toString());
    this.#used += length;
    this.#bytes += PAGE_OVERHEAD;
  }

  /** A chunk for a page of `length` bytes and the pages after it. */
  #newChunk(length: number): Buffer {
    if (length > this.#chunkBytes) return Buffer.allocUnsafeSlow(length);
    if (this.#slab === undefined || this.#cut === CHUNKS_PER_SLAB) {
      this.#slab = Buffer.allocUnsafeSlow(this.#chunkBytes * CHUNKS_PER_SLAB);
      this.#cut = 0;
    }
    return this.#slab.subarray(this.#cut * this.#chunkBytes, ++this.#cut * this.#chunkBytes);
  }

  /** The oldest chunk goes, and the pages whose lines it holds. */
  #dropOldestChunk(): void {
    const chunk = this.#chunks.shift() as Buffer;
    this.#bytes -= chunk.length;
    const gone = this.#firstChunk++;
    let head = this.#head;
    while (head < this.#tail && this.#chunkOf[head] === gone) head++;
    if (head > this.#head) this.#from = (this.#lastIds[head - 1] as number) + 1;
    this.#bytes -= (head - this.#head) * PAGE_OVERHEAD;
    this.#topics.splice(0, head - this.#head);
    this.#head = head;
    if (this.#chunks.length === 0) this.#used = 0;
  }

  /** Room for another page in the index: the pages gone make room first, else it doubles. */
  #makeRoom(): void {
    const live = this.#tail - this.#head;
    const size = live * 2 > this.#firstIds.length ? this.#firstIds.length * 2 : this.#firstIds.length;
    const move = <T extends Float64Array | Int32Array>(from: T, make: (n: number) => T): T => {
      const to = size === from.length ? from : make(size);
      to.set(from.subarray(this.#head, this.#tail));
      return to;
    };
    this.#firstIds = move(this.#firstIds, (n) => new Float64Array(n));
    this.#lastIds = move(this.#lastIds, (n) => new Float64Array(n));
    this.#counts = move(this.#counts, (n) => new Float64Array(n));
    this.#ts = move(this.#ts, (n) => new Float64Array(n));
    this.#chunkOf = move(this.#chunkOf, (n) => new Float64Array(n));
    this.#starts = move(this.#starts, (n) => new Int32Array(n));
    this.#ends = move(this.#ends, (n) => new Int32Array(n));
    this.#tail = live;
    this.#head = 0;
  }

  /** The index of the first page whose last id is `id` or more (#tail when none is). */
  #at(id: number): number {
    let low = this.#head;
    let high = this.#tail;
    while (low < high) {
      const mid = (low + high) >>> 1;
      if ((this.#lastIds[mid] as number) < id) low = mid + 1;
      else high = mid;
    }
    return low;
  }
}
