// The move of a version-4 journal into pages (schema version 5), timed:
//   node bench/migrate.js [rows]
//
// Builds a journal at version 4 (the schema of linebus 2, applied from
// MIGRATIONS, which are never edited) holding `rows` messages (default
// 10,000,000: 50 busy topics and 'rare', one in 100,000; 100-byte bodies;
// commits of 256 rows, one ts each, as the daemon wrote them) with one SQL
// statement, then opens it with Store.open, which migrates it in place.
// Prints the build, the migration, the file sizes, and the time of one
// query on the rare topic through the sqlite3 shell before and after (the
// table of version 4, the view of version 5), if the shell is installed.
import Database from 'better-sqlite3';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MIGRATIONS } from '../dist/src/store/schema.js';
import { Store } from '../dist/src/store/store.js';

const rows = Number(process.argv[2] ?? 10_000_000);
const dir = mkdtempSync(join(tmpdir(), 'linebus-bench-migrate-'));
const path = join(dir, 'v4.db');
const seconds = (start) => (Number(process.hrtime.bigint() - start) / 1e9).toFixed(1);
const megabytes = () => ((statSync(path).size + (statSync(`${path}-wal`, { throwIfNoEntry: false })?.size ?? 0)) / 2 ** 20).toFixed(0);
const query = "SELECT id, ts, topic, sender, body FROM messages WHERE topic = 'rare' ORDER BY id";

function shell(label) {
  const start = process.hrtime.bigint();
  const run = spawnSync('sqlite3', ['-readonly', path, query], { encoding: 'utf8' });
  if (run.error) return console.log(`sqlite3 shell: ${run.error.message}`);
  console.log(`sqlite3 "${query}" (${label}): ${seconds(start)} s, ${run.stdout.split('\n').length - 1} rows`);
}

try {
  let start = process.hrtime.bigint();
  const v4 = new Database(path);
  v4.pragma('journal_mode = WAL');
  for (const migration of MIGRATIONS.slice(0, 4)) v4.exec(`${migration.sql}; PRAGMA user_version = ${migration.version};`);
  v4.exec(`WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < ${rows})
    INSERT INTO messages (ts, topic, sender, body)
    SELECT 1700000000000 + x / 256, CASE WHEN x % 100000 = 777 THEN 'rare' ELSE 'busy.' || (x % 50) END, 'seed', printf('%0100d', x) FROM n`);
  v4.pragma('wal_checkpoint(TRUNCATE)');
  v4.close();
  console.log(`built a version-4 journal of ${rows.toLocaleString('en-US')} messages: ${seconds(start)} s, ${megabytes()} MB`);
  shell('version 4, a table');

  start = process.hrtime.bigint();
  const store = Store.open(path);
  console.log(`migrated to version ${store.db.pragma('user_version', { simple: true })} in place: ${seconds(start)} s, ${megabytes()} MB with its WAL`);
  const pages = store.db.prepare('SELECT count(*) FROM pages').pluck().get();
  store.db.pragma('wal_checkpoint(TRUNCATE)');
  store.close();
  console.log(`${pages.toLocaleString('en-US')} pages; ${megabytes()} MB after a checkpoint (the old table's pages are free pages in the file)`);
  shell('version 5, the view');
} finally {
  rmSync(dir, { recursive: true, force: true });
}
