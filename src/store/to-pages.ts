/**
 * Schema version 5: the rows of the table `messages` move into pages
 * (page.ts), in place, inside the migration's transaction; `messages`
 * becomes a view over the pages. A page is a run of rows committed at the
 * same ms (one commit, or a few), at most PAGE_MESSAGES of them. The
 * block summaries (topic_blocks) stay as they are: their blocks are
 * ranges of ids, which do not move.
 */
import type Database from 'better-sqlite3';
import { msgText } from '../protocol/wire.js';
import { MESSAGES_VIEW, PAGE_MESSAGES, PageEncoder } from './page.js';
/** Rows read per statement. */
const READ_ROWS = 65536;

type Row = [id: number, ts: number, topic: string, sender: string, body: string];

export function movePages(db: Database.Database): void {
  const read = db.prepare<[number, number], Row>('SELECT id, ts, topic, sender, body FROM messages WHERE id > ? ORDER BY id LIMIT ?').raw();
  const insert = db.prepare('INSERT INTO pages (last_id, first_id, count, ts, topic, data, spans) VALUES (?, ?, ?, ?, ?, ?, ?)');
  const encoder = new PageEncoder();
  let lines: string[] = [];
  let first = 0;
  let last = 0;
  let ts = 0;
  let topic: string | null = null;
  const flush = (): void => {
    if (lines.length === 0) return;
    const page = encoder.encode(lines);
    insert.run(last, first, lines.length, ts, topic, page.data, page.spans);
    lines = [];
  };
  for (;;) {
    const rows = read.all(last, READ_ROWS);
    for (const [id, rowTs, rowTopic, sender, body] of rows) {
      if (lines.length > 0 && (rowTs !== ts || lines.length === PAGE_MESSAGES)) flush();
      if (lines.length === 0) {
        first = id;
        ts = rowTs;
        topic = rowTopic;
      } else if (rowTopic !== topic) {
        topic = null;
      }
      lines.push(msgText(rowTopic, id, sender, body));
      last = id;
    }
    if (rows.length < READ_ROWS) break;
  }
  flush();
  // Ids never start over, even where retention emptied the table:
  // AUTOINCREMENT's high-water mark moves to the pages.
  const highest = db.prepare<[], number>("SELECT seq FROM sqlite_sequence WHERE name = 'messages'").pluck().get() ?? 0;
  if (highest > last) {
    if (last > 0) db.prepare("UPDATE sqlite_sequence SET seq = ? WHERE name = 'pages'").run(highest);
    else db.prepare("INSERT INTO sqlite_sequence (name, seq) VALUES ('pages', ?)").run(highest);
  }
  db.exec(`DROP TABLE messages; ${MESSAGES_VIEW};`);
}
