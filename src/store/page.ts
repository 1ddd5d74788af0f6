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
import { msgText } from '../protocol/wire.js';

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

/** Builds the pages of a commit: add() its messages in id order, then build(). */
export class PageBuilder {
  readonly #maxBytes: number;
  #lines: string[] = [];
  /** The characters of the lines so far. */
  #length = 0;
  #ends: number[] = [];
  #ids: number[] = [];
  #topics: string[] = [];

  /** `maxBytes`: pageBytes() of the database. */
  constructor(maxBytes: number) {
    this.#maxBytes = maxBytes;
  }

  add(topic: string, id: number, sender: string, body: string): void {
    // A string per line, joined at once: measured, a join of whole lines
    // costs a third less than one of their pieces (four times as many).
    const line = msgText(topic, id, sender, body);
    this.#lines.push(line);
    this.#length += line.length;
    this.#ends.push(this.#length);
    this.#ids.push(id);
    this.#topics.push(topic);
  }

  build(): BuiltCommit {
    const text = this.#lines.join('');
    const data = Buffer.from(text);
    let ends = this.#ends;
    const ids = this.#ids;
    const topics = this.#topics;
    this.#lines = [];
    this.#length = 0;
    this.#ends = [];
    this.#ids = [];
    this.#topics = [];
    // Not all ASCII: the lines' bytes are not their characters; each ends
    // at its LF (a body holds none).
    if (data.length !== text.length) {
      ends = [];
      for (let at = data.indexOf(10); at !== -1; at = data.indexOf(10, at + 1)) ends.push(at + 1);
    }
    const pages: BuiltPage[] = [];
    let first = 0;
    let pageStart = 0;
    let spans = '';
    let topic: string | null = topics[0] ?? null;
    const close = (to: number): void => {
      const end = ends[to - 1] as number;
      pages.push({ firstId: ids[first] as number, lastId: ids[to - 1] as number, count: to - first, topic, data: data.subarray(pageStart, end), spans: `{${spans}}` });
    };
    for (let k = 0; k < ends.length; k++) {
      const start = k === 0 ? 0 : (ends[k - 1] as number);
      const span = `"${start - pageStart}":${(ends[k] as number) - start}`;
      // The page is full: this line starts the next.
      if (k > first && (ends[k] as number) - pageStart + spans.length + span.length + 1 > this.#maxBytes) {
        close(k);
        first = k;
        pageStart = start;
        spans = `"0":${(ends[k] as number) - start}`;
        topic = topics[k] as string;
        continue;
      }
      spans = k === first ? span : `${spans},${span}`;
      if (topics[k] !== topic) topic = null;
    }
    if (ends.length > 0) close(ends.length);
    return { data, ends, pages };
  }
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
