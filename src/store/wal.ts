/**
 * The WAL file's size, decided ahead. A commit that appends to the WAL past
 * the blocks the file has makes ext4 allocate new ones, and allocation
 * waits for the writeback of the file that a checkpoint's fsync starts:
 * measured on this project's VM (perf sched, a thread's kernel stack), a
 * daemon stalled in ext4_da_get_block_prep for 100 ms to over 20 s, sends
 * waiting all the while. So the daemon's WAL gets its blocks when the
 * journal opens, before anyone sends (zeros past its end, made durable,
 * which SQLite never reads: frames are told by their checksums), and the
 * checkpoint thread starts the WAL over once it holds WAL_RESTART_BYTES,
 * so commits keep overwriting blocks the file has.
 */
import type Database from 'better-sqlite3';
import { closeSync, fstatSync, fsyncSync, ftruncateSync, openSync, writeSync } from 'node:fs';

/** Past this size the checkpoint thread starts the WAL over. */
export const WAL_RESTART_BYTES = 64 << 20;
/** The WAL's blocks: room for the commits until a start over comes. */
export const WAL_PREALLOCATE_BYTES = 2 * WAL_RESTART_BYTES;

const CHUNK = 1 << 20;

/**
 * Grows the WAL of `db` (the file `path`) to `bytes`, its blocks written
 * and synced. Where the disk has no room for that, the WAL is left as it
 * was, to grow as commits need (the journal needs the room more).
 */
export function preallocateWal(db: Database.Database, path: string, bytes: number = WAL_PREALLOCATE_BYTES): void {
  // The write lock: no commit appends to the WAL meanwhile (and the WAL
  // file exists).
  db.exec('BEGIN IMMEDIATE');
  try {
    const fd = openSync(`${path}-wal`, 'r+');
    const size = fstatSync(fd).size;
    try {
      if (size >= bytes) return;
      const zeros = Buffer.alloc(CHUNK);
      for (let at = size; at < bytes; at += CHUNK) writeSync(fd, zeros, 0, Math.min(CHUNK, bytes - at), at);
      fsyncSync(fd);
    } catch {
      ftruncateSync(fd, size);
    } finally {
      closeSync(fd);
    }
  } finally {
    db.exec('COMMIT');
  }
}
