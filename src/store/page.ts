/**
 * A page of the journal: the messages of one commit in one row of `pages`
 * (schema.ts). `data` holds their `msg` lines, UTF-8, each with its LF,
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

/** A page holds this many messages at most: the broker's largest commit. */
export const PAGE_MESSAGES = 256;

/**
 * A page of no message, after `lastId` (its first id is the next to come):
 * what holds the journal's last id once retention has taken every message,
 * so that ids go on from it. Retention takes it once a commit follows it.
 */
export function emptyPage(insert: Database.Statement<[number, number, number, number, string | null, Buffer, string]>, lastId: number, ts: number): void {
  insert.run(lastId, lastId + 1, 0, ts, null, Buffer.alloc(0), '{}');
}

/** A page made for its row and for the receivers of its messages. */
export interface BuiltPage {
  /** The lines as UTF-8: a buffer of its own, which receivers may hold on to. */
  readonly data: Buffer;
  /** Where each line ends in `data` (it starts where the one before ends). */
  readonly ends: readonly number[];
  readonly spans: string;
}

/** Builds a page: add() its messages in id order, then build(). */
export class PageBuilder {
  #text = '';
  #ends: number[] = [];

  add(topic: string, id: number, sender: string, body: string): void {
    this.#text += msgText(topic, id, sender, body);
    this.#ends.push(this.#text.length);
  }

  build(): BuiltPage {
    const text = this.#text;
    const data = Buffer.from(text);
    let ends = this.#ends;
    this.#text = '';
    this.#ends = [];
    // Not all ASCII: the lines' bytes are not their characters; each ends
    // at its LF (a body holds none).
    if (data.length !== text.length) {
      ends = [];
      for (let at = data.indexOf(10); at !== -1; at = data.indexOf(10, at + 1)) ends.push(at + 1);
    }
    let spans = '{';
    let start = 0;
    for (let k = 0; k < ends.length; k++) {
      const end = ends[k] as number;
      spans += k === 0 ? `"${start}":${end - start}` : `,"${start}":${end - start}`;
      start = end;
    }
    return { data, ends, spans: `${spans}}` };
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

  /** The line with its LF. */
  get line(): string {
    return this.text.slice(this.start, this.end);
  }

  /** The bytes of `text` from `start` to `end` (a line's start, a line's end). */
  bytesBetween(start: number, end: number): Buffer {
    if (this.ascii) return this.row.data.subarray(start, end);
    return Buffer.from(this.text.slice(start, end));
  }
}
