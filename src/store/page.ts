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
import { isAscii } from 'node:buffer';

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

/** A page's lines encoded for its row: `data` is valid until the next encode. */
export interface EncodedPage {
  readonly data: Buffer;
  readonly spans: string;
}

/** A page holds this many messages at most: the broker's largest commit. */
export const PAGE_MESSAGES = 256;

/** Pages up to this many bytes are encoded in place, with no allocation. */
const SCRATCH_BYTES = 1 << 20;

/** Encodes pages for the journal's commits, reusing one buffer (its owner's). */
export class PageEncoder {
  readonly #scratch = Buffer.allocUnsafe(SCRATCH_BYTES);

  /** `lines`: the msg lines of the page, each with its LF, in id order. */
  encode(lines: readonly string[]): EncodedPage {
    const text = lines.length === 1 ? (lines[0] as string) : lines.join('');
    // UTF-8 takes at most 3 bytes per UTF-16 unit.
    let data: Buffer;
    if (text.length * 3 <= SCRATCH_BYTES) data = this.#scratch.subarray(0, this.#scratch.write(text, 0, 'utf8'));
    else data = Buffer.from(text);
    // All ASCII (the common case): each line's bytes are its characters.
    const ascii = data.length === text.length;
    let spans = '{';
    let at = 0;
    for (let k = 0; k < lines.length; k++) {
      const line = lines[k] as string;
      const bytes = ascii ? line.length : Buffer.byteLength(line);
      spans += k === 0 ? `"${at}":${bytes}` : `,"${at}":${bytes}`;
      at += bytes;
    }
    return { data, spans: `${spans}}` };
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
