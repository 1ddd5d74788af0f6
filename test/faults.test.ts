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
import { Store } from '../src/store/store.js';
import { LineClient, startServer, stat, tempDir } from './helpers.js';
import type { Teardown } from './helpers.js';
import { tool } from './tools.js';

/** A tmpfs of `size` mounted on a fresh directory, or why there is none. */
function smallDisk(t: Teardown, size: string): string | Error {
  const mount = tool('mount');
  const dir = mkdtempSync(join(tmpdir(), 'linebus-disk-'));
  try {
    execFileSync(mount, ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir], { stdio: 'pipe' });
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
  // One commit, one page, each: retention deletes whole pages.
  for (let i = 1; i <= 3; i++) {
    c.write(`send a ${i}`);
    t.equal(await c.line(), `ok send ${i}`);
  }
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

t.test('a full disk refuses sends with err internal, not the daemon; sends work again when there is room', { timeout: 60000 }, async (t) => {
  const disk = smallDisk(t, '8m');
  if (disk instanceof Error) {
    t.plan(0, disk.message);
    return;
  }
  const { port, waitForLog } = await startServer(t, { db: join(disk, 'bus.db') });
  const c = await LineClient.login(port, 'tx');
  const body = 'x'.repeat(1000);
  c.write(`send t ${body}`);
  t.match(await c.line(), /^ok send 1$/);
  const filler = join(disk, 'filler');
  fillDisk(filler);
  // A few megabytes more than the disk has left.
  c.write(...Array.from({ length: 4096 }, () => `send t ${body}`));
  const acks = await c.lines(4096);
  t.ok(acks.includes('err internal the journal could not store the message; nothing was sent, try again'), 'the sends that do not fit are refused');
  t.match(await waitForLog(/^error journal append failed/), /database or disk is full/);
  t.same(await c.sync('alive'), [], 'the daemon answers');
  rmSync(filler);
  c.write(`send t ${body}`);
  t.match(await c.line(), /^ok send \d+$/, 'and stores again');
  c.close();
});

t.test('a full disk fails the checkpoints, which resume when there is room', { timeout: 60000 }, async (t) => {
  const disk = smallDisk(t, '8m');
  if (disk instanceof Error) {
    t.plan(0, disk.message);
    return;
  }
  const path = join(disk, 'bus.db');
  const store = Store.open(path, { checkpointInBackground: true });
  t.teardown(() => store.close());
  // About 2 MB in the WAL, to be copied into a database file that cannot grow.
  store.journal.append(Array.from({ length: 2000 }, (_, i) => ({ topic: 't', sender: 's', body: `${i} ${'x'.repeat(1000)}` })), 1);
  const filler = join(disk, 'filler');
  fillDisk(filler);
  const counts = new Stats();
  let failed: (line: string) => void = () => {};
  let checkpointed: () => void = () => {};
  const logger = { log: (level: string, message: string, fields?: Record<string, unknown>) => failed(`${level} ${message} ${JSON.stringify(fields)}`) };
  const alive = setInterval(() => {}, 1000);
  const firstFailure = new Promise<string>((resolve) => (failed = resolve));
  const checkpointer = new Checkpointer(path, counts, logger, { onCheckpoint: () => checkpointed() });
  t.match(await firstFailure, /^error WAL checkpoint failed; retrying .*database or disk is full/);
  t.equal(counts.checkpoints, 0);
  t.ok(counts.checkpointFailures > 0, 'counted');
  failed = () => {};
  rmSync(filler);
  await new Promise<void>((resolve) => (checkpointed = resolve));
  t.ok(counts.checkpoints > 0, 'checkpoints resume once there is room');
  await checkpointer.stop();
  clearInterval(alive);
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
    const checkpointer = new Checkpointer(join(dir, 'none.db'), counts, logger, { script });
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

t.test('while messages flow the WAL does not start over, until it is over restartBytes; then the thread starts it over itself', { timeout: 30000 }, async (t) => {
  // The thread does not keep a process alive (the daemon's listener does).
  const alive = setInterval(() => {}, 1000);
  t.teardown(() => clearInterval(alive));
  for (const [restartBytes, restarts] of [[1 << 30, false], [0, true]] as const) {
    const path = join(tempDir(t), 'wal.db');
    const store = Store.open(path, { checkpointInBackground: true });
    const probe = new Database(path);
    let checkpointed: () => void = () => {};
    const checkpointer = new Checkpointer(path, new Stats(), { log() {} }, { restartBytes, onCheckpoint: () => checkpointed() });
    const batch = Array.from({ length: 1000 }, (_, i) => ({ topic: 't', sender: 's', body: `${i}` }));
    store.journal.append(batch, 1);
    await new Promise<void>((resolve) => (checkpointed = resolve));
    // No commit of the daemon's starts the WAL over (its header's fsync
    // would stall the event loop): the thread does, past restartBytes.
    const [now] = probe.pragma('wal_checkpoint(PASSIVE)') as { log: number }[];
    t.equal((now?.log ?? 0) <= 1, restarts, `restartBytes ${restartBytes}: the WAL holds ${now?.log} frames, with no commit since`);
    // The writer's next commit starts the WAL over only if it was all
    // checkpointed, which the thread's snapshot prevents.
    store.journal.append(batch.slice(0, 1), 2);
    const [after] = probe.pragma('wal_checkpoint(PASSIVE)') as { log: number }[];
    t.equal((after?.log ?? 0) <= 3, restarts, `restartBytes ${restartBytes}: the WAL holds ${after?.log} frames after one more commit`);
    await checkpointer.stop();
    probe.close();
    store.close();
  }
});
