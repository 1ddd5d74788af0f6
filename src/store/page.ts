/**
 * A page of the journal: the messages of one commit (up to about 16 kB of
 * them: pageBytes) in one row of `pages` (schema.ts). `data` holds their
 * `msg` lines, UTF-8, each with its LF,
 * exactly as a line client receives them, so a page whose every message is
 * wanted goes out as it is stored. `spans` is a JSON object from each
 * line's byte offset in `data` to its length: SQLite's json_each walks it
 * in one pass, which is how the `messages` view expands a page without any
 * function of ours (a split of the text itself would copy the rest of the
 * page at every line).
 */
import type Database from 'better-sqlite3';
import { isAscii } from 'node:buffer';
import { MsgWriter, writeDigits } from '../protocol/wire.js';

/**
 * The journal's messages as rows, from the pages (page.ts), in plain SQL
 * (the sqlite3 shell has nothing of ours): json_each lists each line's
 * place in a page's data, and the fields are cut from those bytes by
 * byte offsets (the positions of the first three spaces; topics, ids and
 * senders hold none and are at most 255, 20 and 64 bytes long), so each
 * line costs the same wherever it is in its page, and a body may hold any
 * character. Writing to a view fails by itself: the rows stay append-only.
 */
export const MESSAGES_VIEW = `CREATE VIEW messages (id, ts, topic, sender, body) AS
SELECT CAST(CAST(substr(data, at + t, i - 1) AS TEXT) AS INTEGER), ts, CAST(substr(data, at, t - 1) AS TEXT),
  CAST(substr(data, at + t + i, s - 1) AS TEXT), CAST(substr(data, at + t + i + s, bytes - 5 - t - i - s) AS TEXT)
FROM (SELECT data, ts, at, bytes, t, i, instr(substr(data, at + t + i, 65), x'20') AS s
  FROM (SELECT data, ts, at, bytes, t, instr(substr(data, at + t, 21), x'20') AS i
    FROM (SELECT p.data AS data, p.ts AS ts, j.key + 5 AS at, j.value AS bytes, instr(substr(p.data, j.key + 5, 256), x'20') AS t
      FROM pages AS p, json_each(p.spans) AS j)))`;

/** A row of `pages`, as the reader and the journal select it. */
export interface PageRow {
  readonly first_id: number;
  readonly last_id: number;
  readonly count: number;
  readonly ts: number;
  /** The topic of every message of the page, or null when they have several. */
  readonly topic: string | null;
  readonly data: Buffer;
}

/** The columns of a PageRow, for SELECTs. */
export const PAGE_COLUMNS = 'first_id, last_id, count, ts, topic, data';

/** Whether the ids of a page run from its first to its last without a gap (a cluster's may skip). */
export function consecutive(row: { readonly first_id: number; readonly last_id: number; readonly count: number }): boolean {
  return row.last_id - row.first_id + 1 === row.count;
}

/**
 * A page of no message, after `lastId` (its first id is the next to come):
 * what holds the journal's last id once retention has taken every message,
 * so that ids go on from it. Retention takes it once a commit follows it.
 */
export function emptyPage(insert: Database.Statement<[number, number, number, number, string | null, Buffer, string]>, lastId: number, ts: number): void {
  insert.run(lastId, lastId + 1, 0, ts, null, Buffer.alloc(0), '{}');
}

/**
 * The bytes of lines and spans a page holds at most (one line longer than
 * that is a page of its own), for the database's page size: four of its
 * pages, less room for the row's other columns (a topic is at most 255
 * bytes). A row longer than one page of SQLite's is read whole each time
 * the view reads one of its lines, so the view's cost per line grows with
 * this; the reader's per row shrinks. Measured on a million messages of
 * 100 bytes (sqlite3 3.40 for the view; server CPU for a replay):
 *
 *   page bytes          view, one topic  view, every body  replay
 *   one commit (33 kB)  2.2 s            16.6 s            245 ns/message
 *   four pages (16 kB)  0.6 s             5.6 s            265 ns/message
 *   one page (3.7 kB)   0.4 s             2.4 s            370 ns/message
 */
export function pageBytes(sqlitePageSize: number): number {
  return 4 * sqlitePageSize - 35 - 300;
}

/** One page of a commit: lines `from` to `to` - 1 of its lines. */
export interface BuiltPage {
  readonly firstId: number;
  readonly lastId: number;
  readonly count: number;
  readonly topic: string | null;
  /** Its lines: a piece of the commit's bytes. */
  readonly data: Buffer;
  readonly spans: string;
}

/** A commit's lines, made once for its pages and for the receivers of its messages. */
export interface BuiltCommit {
  /** The lines as UTF-8: a buffer of its own, which receivers may hold on to. */
  readonly data: Buffer;
  /** Where each line ends in `data` (it starts where the one before ends). */
  readonly ends: readonly number[];
  readonly pages: readonly BuiltPage[];
}

/** The builder's buffer to start with: a commit of a thousand short messages or so. */
const BUILDER_BYTES = 128 * 1024;
/** What the builder holds until its constructor gives it its buffer (see there). */
const NO_BYTES = Buffer.alloc(0);

/**
 * Builds the pages of a commit: add() its messages in id order, then
 * build(). The lines are written as bytes into one buffer, and each
 * page's spans as they come; a page closes when the next line would make
 * it (lines and spans) longer than `maxBytes`.
 */
export class PageBuilder {
  readonly #maxBytes: number;
  readonly #writer = new MsgWriter();
  /** The lines so far: bytes 0 to #at. */
  #bytes: Buffer = NO_BYTES;
  #at = 0;
  #ends: number[] = [];
  #pages: { firstId: number; lastId: number; count: number; topic: string | null; start: number; end: number; spans: string }[] = [];
  /** The open page: where its lines start, its ids, count and topic. */
  #pageStart = 0;
  #firstId = 0;
  #lastId = 0;
  #count = 0;
  #topic: string | null = null;
  /** Its spans so far, `{` and each span with the comma before it, as ASCII bytes. */
  #spans: Buffer = Buffer.allocUnsafe(4096);
  #spansAt = 0;

  /** `maxBytes`: pageBytes() of the database. */
  constructor(maxBytes: number) {
    this.#maxBytes = maxBytes;
    // Written a second time here on purpose: V8 compiles code that takes
    // a field written only once for a constant, and the first commit that
    // grows the buffer would throw that code (the whole send path) away
    // in the middle of a fresh daemon's first busy second.
    this.#bytes = Buffer.allocUnsafe(BUILDER_BYTES);
  }

  add(topic: string, id: number, sender: string, body: string): void {
    const needed = this.#at + this.#writer.maxBytes(topic, sender, body);
    if (needed > this.#bytes.length) this.#bytes = grown(this.#bytes, this.#at, needed);
    const start = this.#at;
    const end = (this.#at = this.#writer.write(this.#bytes, start, topic, id, sender, body));
    this.#ends.push(end);
    // `"<offset>":<length>`, and a comma before all but the first.
    const spanBytes = 3 + digitCount(start - this.#pageStart) + digitCount(end - start);
    // The page is full: this line starts the next.
    if (this.#count > 0 && end - this.#pageStart + this.#spansAt - 1 + spanBytes + 1 > this.#maxBytes) this.#close(start);
    if (this.#count === 0) {
      this.#firstId = id;
      this.#topic = topic;
      this.#spansAt = 0;
      this.#spans[this.#spansAt++] = 0x7b;
    } else {
      if (topic !== this.#topic) this.#topic = null;
      this.#spans[this.#spansAt++] = 0x2c;
    }
    if (this.#spansAt + spanBytes + 1 > this.#spans.length) this.#spans = grown(this.#spans, this.#spansAt, 2 * (this.#spansAt + spanBytes + 1));
    const spans = this.#spans;
    spans[this.#spansAt] = 0x22;
    this.#spansAt = writeDigits(spans, this.#spansAt + 1, start - this.#pageStart);
    spans[this.#spansAt++] = 0x22;
    spans[this.#spansAt++] = 0x3a;
    this.#spansAt = writeDigits(spans, this.#spansAt, end - start);
    this.#lastId = id;
    this.#count++;
  }

  /** Closes the open page where `end` is. */
  #close(end: number): void {
    this.#spans[this.#spansAt++] = 0x7d;
    const spans = this.#spans.toString('latin1', 0, this.#spansAt);
    this.#pages.push({ firstId: this.#firstId, lastId: this.#lastId, count: this.#count, topic: this.#topic, start: this.#pageStart, end, spans });
    this.#pageStart = end;
    this.#count = 0;
  }

  build(): BuiltCommit {
    if (this.#count > 0) this.#close(this.#at);
    // A buffer of its own: receivers may hold on to it; the builder's is written again.
    const data = Buffer.allocUnsafe(this.#at);
    this.#bytes.copy(data, 0, 0, this.#at);
    const pages: BuiltPage[] = this.#pages.map((page) => ({ firstId: page.firstId, lastId: page.lastId, count: page.count, topic: page.topic, data: data.subarray(page.start, page.end), spans: page.spans }));
    const ends = this.#ends;
    this.#ends = [];
    this.#pages = [];
    this.#at = 0;
    // A commit of long lines made it grow: it does not keep that much.
    if (this.#bytes.length > 16 * BUILDER_BYTES) this.#bytes = Buffer.allocUnsafe(BUILDER_BYTES);
    this.#pageStart = 0;
    return { data, ends, pages };
  }
}

/** A copy of the first `used` bytes of `buffer` in a bigger one, of at least `least` bytes. */
function grown(buffer: Buffer, used: number, least: number): Buffer {
  const bigger = Buffer.allocUnsafe(Math.max(least, 2 * buffer.length));
  buffer.copy(bigger, 0, 0, used);
  return bigger;
}

/** The number of decimal digits of `n` (an integer, 0 or more). */
function digitCount(n: number): number {
  let count = 1;
  for (let rest = n; rest >= 10; rest = Math.floor(rest / 10)) count++;
  return count;
}

/**
 * The lines of one page, decoded, and a cursor over them: `next()` moves
 * to the next line and finds its fields, which are then read from `text`
 * (topicEnd etc. are offsets in it). One string per page; a field becomes
 * a string only when asked for.
 */
export class PageLines {
  readonly row: PageRow;
  readonly text: string;
  /** Every line is ASCII: offsets in `text` are offsets in `row.data`. */
  readonly ascii: boolean;
  readonly #consecutive: boolean;
  /** The line under the cursor: its index, start and end (after its LF). */
  index = -1;
  start = 0;
  end = 0;
  #topicEnd = 0;
  #idEnd = 0;

  constructor(row: PageRow) {
    this.row = row;
    this.ascii = isAscii(row.data);
    this.text = row.data.toString(this.ascii ? 'latin1' : 'utf8');
    this.#consecutive = consecutive(row);
  }

  /** Moves to the next line; false past the last. */
  next(): boolean {
    this.start = this.end;
    if (this.start >= this.text.length) return false;
    this.index++;
    const text = this.text;
    this.end = text.indexOf('\n', this.start) + 1;
    // `msg <topic> <id> <sender> <body>`: topic, id and sender hold no space.
    this.#topicEnd = text.indexOf(' ', this.start + 4);
    this.#idEnd = text.indexOf(' ', this.#topicEnd + 1);
    return true;
  }

  get id(): number {
    return this.#consecutive ? this.row.first_id + this.index : Number(this.text.slice(this.#topicEnd + 1, this.#idEnd));
  }

  get topic(): string {
    return this.row.topic ?? this.text.slice(this.start + 4, this.#topicEnd);
  }

  get sender(): string {
    return this.text.slice(this.#idEnd + 1, this.text.indexOf(' ', this.#idEnd + 1));
  }

  get body(): string {
    return this.text.slice(this.text.indexOf(' ', this.#idEnd + 1) + 1, this.end - 1);
  }

  /** The bytes of `text` from `start` to `end` (a line's start, a line's end). */
  bytesBetween(start: number, end: number): Buffer {
    if (this.ascii) return this.row.data.subarray(start, end);
    return Buffer.from(this.text.slice(start, end));
  }
}
