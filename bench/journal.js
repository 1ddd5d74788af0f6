// How fast the journal answers on a big file:
//   node bench/journal.js [rows] [path of another checkout's bin/linebus]
//
// Builds a version-1 journal of `rows` messages (default 10,000,000: 50
// busy topics, and 'rare', one message in 100,000) with one SQL statement,
// lets `linebus serve` migrate it, then times, over TCP, the first line and
// the whole answer of catch-ups, replays and `last` on the rare topic and a
// busy one, and `linebus tail --topic`. Prints one line per measurement.
import Database from 'better-sqlite3';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MIGRATIONS } from '../dist/src/store/schema.js';

const rows = Number(process.argv[2] ?? 10_000_000);
const bin = process.argv[3] ?? fileURLToPath(new URL('../bin/linebus', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'linebus-bench-journal-'));
const db = join(dir, 'big.db');
const seconds = (start) => (Number(process.hrtime.bigint() - start) / 1e9).toFixed(3);

try {
  let start = process.hrtime.bigint();
  const v1 = new Database(db);
  v1.pragma('journal_mode = WAL');
  v1.exec(`${MIGRATIONS[0].sql}; PRAGMA user_version = 1;`);
  v1.exec(`WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < ${rows})
    INSERT INTO messages (ts, topic, sender, body)
    SELECT 1700000000000 + x, CASE WHEN x % 100000 = 777 THEN 'rare' ELSE 'busy.' || (x % 50) END, 'seed', printf('%0100d', x) FROM n`);
  v1.close();
  console.log(`built a version-1 journal of ${rows.toLocaleString('en-US')} rows: ${seconds(start)} s`);

  start = process.hrtime.bigint();
  const server = spawn(process.execPath, [bin, 'serve', '--port', '0', '--db', db]);
  const port = await new Promise((resolve, reject) => {
    let seen = '';
    server.stderr.on('data', (chunk) => {
      seen += chunk;
      const match = /listening on [^\s]+:(\d+)/.exec(seen);
      if (match) resolve(Number(match[1]));
    });
    server.on('exit', (code) => reject(new Error(`serve exited ${code}: ${seen}`)));
  });
  console.log(`listening (after any migration): ${seconds(start)} s`);

  /** Sends `command` on a logged-in connection; times the first line and the line ending the answer. */
  async function time(command, isEnd) {
    const socket = connect(port, '127.0.0.1');
    socket.setEncoding('utf8');
    let buffer = '';
    let lines = 0;
    const greeted = new Promise((resolve) => socket.once('data', resolve));
    await greeted;
    socket.write('login bench bench\n');
    await new Promise((resolve) => socket.once('data', resolve));
    const begin = process.hrtime.bigint();
    let first;
    const done = new Promise((resolve) => {
      socket.on('data', (text) => {
        buffer += text;
        let at;
        while ((at = buffer.indexOf('\n')) !== -1) {
          const line = buffer.slice(0, at);
          buffer = buffer.slice(at + 1);
          if (line.startsWith('msg ')) {
            lines++;
            first ??= seconds(begin);
          }
          if (isEnd(line, lines)) resolve(seconds(begin));
        }
      });
    });
    socket.write(`${command}\n`);
    const total = await done;
    socket.destroy();
    console.log(`${command.padEnd(34)} first msg ${first ?? '-'} s, done ${total} s, ${lines} msgs`);
  }

  const rare = Math.floor(rows / 100000);
  await time('recv rare since 0', (_, n) => n === rare);
  await time('replay rare since 0', (line) => line.startsWith('ok replay'));
  await time('replay rare last 1', (line) => line.startsWith('ok replay'));
  await time(`replay rare since ${rows - 1000}`, (line) => line.startsWith('ok replay'));
  await time('replay busy.7 last 1000', (line) => line.startsWith('ok replay'));
  await time(`replay busy.7 since ${rows - 50000}`, (line) => line.startsWith('ok replay'));
  await time('replay busy.* last 1000', (line) => line.startsWith('ok replay'));
  await time('replay > last 100000', (line) => line.startsWith('ok replay'));
  await time('recv rare since 1h', (line) => line.startsWith('ok recv'));

  for (const args of [['--topic', 'rare', '-n', '5'], ['--topic', 'busy.7', '-n', '5']]) {
    start = process.hrtime.bigint();
    const tail = spawnSync(process.execPath, [bin, 'tail', '--db', db, ...args], { encoding: 'utf8' });
    console.log(`linebus tail ${args.join(' ').padEnd(21)} ${seconds(start)} s (process start included), ${tail.stdout.split('\n').length - 1} lines`);
  }
  server.kill('SIGTERM');
  await new Promise((resolve) => server.once('exit', resolve));
} finally {
  rmSync(dir, { recursive: true, force: true });
}
