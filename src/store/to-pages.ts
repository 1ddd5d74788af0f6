/**
 * Schema version 5: the rows of the table `messages` move into pages
 * (page.ts), in place, inside the migration's transaction; `messages`
 * becomes a view over the pages. The rows committed in the same ms (one
 * commit, or a few) fill pages, as a commit's messages do. The
 * block summaries (topic_blocks) stay as they are: their blocks are
 * ranges of ids, which do not move.
 */
import type Database from 'better-sqlite3';
import { emptyPage, MESSAGES_VIEW, PageBuilder, pageBytes } from './page.js';

/** Rows built into pages at once, at most (a run of one time may be any length). */
const RUN_ROWS = 4096;
/** Rows read per statement. */
const READ_ROWS = 65536;

type Row = [id: number, ts: number, topic: string, sender: string, body: string];

export function movePages(db: Database.Database): void {
  const read = db.prepare<[number, number], Row>('SELECT id, ts, topic, sender, body FROM messages WHERE id > ? ORDER BY id LIMIT ?').raw();
  const insert = db.prepare<[number, number, number, number, string | null, Buffer, string]>('INSERT INTO pages (last_id, first_id, count, ts, topic, data, spans) VALUES (?, ?, ?, ?, ?, ?, ?)');
  const builder = new PageBuilder(pageBytes(db.pragma('page_size', { simple: true }) as number));
  let count = 0;
  let last = 0;
  let ts = 0;
  const flush = (): void => {
    if (count === 0) return;
    for (const page of builder.build().pages) insert.run(page.lastId, page.firstId, page.count, ts, page.topic, page.data, page.spans);
    count = 0;
  };
  for (;;) {
    const rows = read.all(last, READ_ROWS);
    for (const [id, rowTs, rowTopic, sender, body] of rows) {
      if (count > 0 && (rowTs !== ts || count === RUN_ROWS)) flush();
      ts = rowTs;
      builder.add(rowTopic, id, sender, body);
      count++;
      last = id;
    }
    if (rows.length < READ_ROWS) break;
  }
  flush();
  // Ids never start over: where retention emptied the table, only
  // AUTOINCREMENT's high-water mark knew the last id; an empty page keeps it.
  const highest = db.prepare<[], number>("SELECT seq FROM sqlite_sequence WHERE name = 'messages'").pluck().get() ?? 0;
  if (last === 0 && highest > 0) emptyPage(insert, highest, 0);
  db.exec(`DROP TABLE messages; ${MESSAGES_VIEW};`);
}
