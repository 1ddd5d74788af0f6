// Start-up time on a big journal: nothing may scan it at start. Builds a
// journal of `rows` messages (commits of 256 of 1000 topics), then times
// `linebus serve` from spawn to its 'listening on' line.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Store } from '../dist/src/index.js';

export async function startup(rows) {
  const dir = mkdtempSync(join(tmpdir(), 'linebus-bench-startup-'));
  try {
    const db = join(dir, 'big.db');
    const store = Store.open(db);
    const body = 'x'.repeat(100);
    store.db.exec('BEGIN');
    for (let first = 1; first <= rows; first += 256) {
      const batch = [];
      for (let x = first; x < Math.min(rows + 1, first + 256); x++) batch.push({ topic: `topic.${x % 1000}`, sender: 'seed', body });
      store.journal.append(batch, 1700000000000 + first);
    }
    store.db.exec('COMMIT');
    store.close();
    const started = process.hrtime.bigint();
    const child = spawn(process.execPath, [fileURLToPath(new URL('../bin/linebus', import.meta.url)), 'serve', '--port', '0', '--db', db]);
    await new Promise((resolve, reject) => {
      let seen = '';
      child.stderr.on('data', (chunk) => {
        seen += chunk;
        if (seen.includes('listening on')) resolve();
      });
      child.on('exit', (code) => reject(new Error(`linebus exited ${code}: ${seen}`)));
    });
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    await exited;
    return { rows, seconds };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
