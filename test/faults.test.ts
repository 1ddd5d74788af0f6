/**
 * Faults of the disk and of other processes: the daemon says what
 * happened in one log line, counts it in `stats`, and goes on.
 */
import t from 'tap';
import Database from 'better-sqlite3';
import { execFileSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmdirSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Stats } from '../src/bus/stats.js';
import { Checkpointer } from '../src/store/checkpointer.js';
import { LineClient, startServer, tempDir } from './helpers.js';
import type { Teardown } from './helpers.js';

const stat = (pairs: [string, string | number][], name: string): number => Number(pairs.find(([k]) => k === name)?.[1]);

/** A tmpfs of `size` mounted on a fresh directory, or why there is none. */
function smallDisk(t: Teardown, size: string): string | Error {
  const dir = mkdtempSync(join(tmpdir(), 'linebus-disk-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir], { stdio: 'pipe' });
  } catch (error) {
    rmdirSync(dir);
    return new Error(`cannot mount a tmpfs here (needs root): ${(error as Error).message.split('\n')[0]}`);
  }
  t.teardown(() => {
    execFileSync('umount', ['-l', dir]);
    rmdirSync(dir);
  });
  return dir;
}

/** Writes zeros to `path` until the disk is full. */
function fillDisk(path: string): void {
  const fd = openSync(path, 'w');
  const block = Buffer.alloc(64 * 1024);
  try {
    for (;;) writeSync(fd, block);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOSPC') throw error;
  } finally {
    closeSync(fd);
  }
}

t.test('retention while another process holds the write lock: logged, counted, retried', { timeout: 20000 }, async (t) => {
  const { server, port, db, logs } = await startServer(t, { retainMessages: 1, retentionIntervalMs: 3600_000 });
  const c = await LineClient.login(port, 'tx');
  c.write('send a 1', 'send a 2', 'send a 3');
  await c.lines(3);
  const locker = new Database(db);
  t.teardown(() => locker.close());
  locker.exec('BEGIN IMMEDIATE');
  t.equal(await server.runRetention(), 0, 'nothing deleted while locked');
  t.ok(logs.some((l) => l.startsWith('error retention failed; will retry') && l.includes('database is locked')));
  t.equal(stat(server.stats(), 'retention_failures'), 1);
  c.write('ping alive');
  t.equal(await c.line(), 'pong alive');
  locker.exec('ROLLBACK');
  t.equal(await server.runRetention(), 2, 'the next pass deletes');
  c.close();
});

t.test('a full disk fails the checkpoints, not the daemon; they resume when there is room', { timeout: 60000 }, async (t) => {
  const disk = smallDisk(t, '8m');
  if (disk instanceof Error) {
    t.plan(0, disk.message);
    return;
  }
  const { server, port, waitForLog } = await startServer(t, { db: join(disk, 'bus.db') });
  const c = await LineClient.login(port, 'tx');
  const body = 'x'.repeat(1000);
  const checkpoints = (): number => stat(server.stats(), 'journal_checkpoints');
  // A WAL of about 2 MB, checkpointed into the database file.
  for (let i = 0; i < 8; i++) {
    c.write(...Array.from({ length: 256 }, () => `send t ${body}`));
    await c.lines(256);
  }
  for (let i = 0; i < 100000 && checkpoints() === 0; i++) await c.sync(`${i}`);
  t.ok(checkpoints() > 0, 'checkpointed while there was room');
  const filler = join(disk, 'filler');
  fillDisk(filler);
  // New commits reuse the WAL's space; the checkpoint needs the database
  // file to grow, and cannot.
  c.write(...Array.from({ length: 256 }, () => `send t ${body}`));
  const acks = await c.lines(256);
  t.match(acks[0], /^(ok send \d+|err internal )/, 'sends are answered, stored or refused');
  t.match(await waitForLog(/^error WAL checkpoint failed; retrying/), /database or disk is full|disk I\/O error/);
  t.ok(stat(server.stats(), 'journal_checkpoint_failures') > 0, 'counted in stats');
  t.same(await c.sync('alive'), [], 'the daemon answers');
  rmSync(filler);
  const before = checkpoints();
  for (let i = 0; i < 100000 && checkpoints() === before; i++) await c.sync(`r${i}`);
  t.ok(checkpoints() > before, 'checkpoints resume once there is room');
  c.write(`send t ${body}`);
  t.match(await c.line(), /^ok send \d+$/);
  c.close();
});

t.test('a checkpoint thread that dies is started again, and counted', { timeout: 20000 }, async (t) => {
  const dir = tempDir(t);
  const counts = new Stats();
  const lines: string[] = [];
  let failures = 0;
  const twice = new Promise<void>((resolve) => {
    const logger = {
      log: (level: string, message: string) => {
        lines.push(`${level} ${message}`);
        if (message.startsWith('checkpoint thread failed') && ++failures === 2) resolve();
      },
    };
    const script = new URL(`data:text/javascript,${encodeURIComponent('throw new Error("EMFILE: too many open files")')}`);
    const checkpointer = new Checkpointer(join(dir, 'none.db'), counts, logger, script);
    t.teardown(() => checkpointer.stop());
  });
  // The thread and its restart timer do not keep a process alive (the
  // daemon's listener does); this test must.
  const alive = setInterval(() => {}, 1000);
  await twice;
  clearInterval(alive);
  t.equal(lines[0], 'error checkpoint thread failed; starting it again');
  t.equal(counts.checkpointFailures, 2);
});
