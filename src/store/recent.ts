/**
 * The journal's newest pages, kept in memory as their commits built them,
 * so that a replay or catch-up of recent messages reads no disk and no
 * SQLite: the page's bytes go to the client as they are. Measured on a
 * replay of 500k messages just sent (the harness's): 92% of the daemon's
 * time went to SQLite reading pages back from the WAL (a pread and a copy
 * per 4 kB overflow page, then a copy into a Buffer).
 *
 * It holds every page whose last id is `from` or more, in id order, and
 * no more than about `maxBytes` of them, their lines and bookkeeping (the
 * oldest go first). Only the
 * daemon's own journal feeds it (Journal, as each commit settles), which
 * is the only writer of pages while it runs; retention empties it.
 */
import type { PageRow } from './page.js';

/** Not yet known: nothing is here until a commit settles. */
const NOWHERE = Number.MAX_SAFE_INTEGER;
/** What a page weighs besides its lines: its row, its Buffer. */
const PAGE_OVERHEAD = 256;
/**
 * Lines shorter than this were cut from Node's shared 8 kB pool
 * (Buffer.poolSize / 2): kept as they are, a few bytes would hold a whole
 * slab of it, so they get a copy of their own.
 */
const POOLED = Buffer.poolSize >>> 1;

/** What `page` weighs here. */
function weight(page: PageRow): number {
  return page.data.length + PAGE_OVERHEAD;
}

/** `page`, holding no more memory than its own lines. */
function own(page: PageRow): PageRow {
  if (page.data.length >= POOLED || page.data.byteLength === page.data.buffer.byteLength) return page;
  const data = Buffer.allocUnsafeSlow(page.data.length);
  page.data.copy(data);
  return { ...page, data };
}

export class RecentPages {
  readonly #maxBytes: number;
  /** The pages, oldest first, from #head on. */
  #pages: PageRow[] = [];
  #head = 0;
  #bytes = 0;
  /** Every page whose last id is this or more is here. */
  #from = NOWHERE;
  /** Pages of the commit under way: they join once it commits. */
  #pending: PageRow[] = [];

  /** `maxBytes` 0: none is kept. */
  constructor(maxBytes: number) {
    this.#maxBytes = maxBytes;
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
    for (const page of pending) {
      this.#pages.push(own(page));
      this.#bytes += weight(page);
    }
    while (this.#bytes > this.#maxBytes && this.#head < this.#pages.length) {
      const oldest = this.#pages[this.#head++] as PageRow;
      this.#bytes -= weight(oldest);
      this.#from = oldest.last_id + 1;
    }
    // The array is cut down now and then, not at every page that goes.
    if (this.#head > 1024 && this.#head * 2 > this.#pages.length) {
      this.#pages = this.#pages.slice(this.#head);
      this.#head = 0;
    }
  }

  /** Retention deleted pages: none is kept until the next commit. */
  clear(): void {
    this.#pages = [];
    this.#head = 0;
    this.#bytes = 0;
    this.#from = NOWHERE;
  }

  /** The last id of the page that holds `id`, or `id` when none does (covers(id) must hold). */
  bound(id: number): number {
    const page = this.#pages[this.#at(id)];
    return page !== undefined && page.first_id <= id ? page.last_id : id;
  }

  /**
   * The pages whose last id is from `from` to `to` (of `topic` and those
   * of several, when given), in id order, as many as about `limits` allow
   * (at least one), as the reader's SQL would select them; `complete` when
   * that is all of them. covers(from) must hold.
   */
  read(from: number, to: number, topic: string | undefined, limits: { readonly rows: number; readonly bytes: number }): { pages: PageRow[]; complete: boolean } {
    const all = this.#pages;
    const pages: PageRow[] = [];
    let rows = 0;
    let bytes = 0;
    for (let k = this.#at(from); k < all.length; k++) {
      const page = all[k] as PageRow;
      if (page.last_id > to) break;
      if (topic !== undefined && page.topic !== null && page.topic !== topic) continue;
      if (pages.length > 0 && (rows >= limits.rows || bytes >= limits.bytes)) return { pages, complete: false };
      pages.push(page);
      rows += page.count;
      bytes += page.data.length;
    }
    return { pages, complete: true };
  }

  /** The index of the first page whose last id is `id` or more (the end when none is). */
  #at(id: number): number {
    let low = this.#head;
    let high = this.#pages.length;
    while (low < high) {
      const mid = (low + high) >>> 1;
      if ((this.#pages[mid] as PageRow).last_id < id) low = mid + 1;
      else high = mid;
    }
    return low;
  }
}
