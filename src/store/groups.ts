/**
 * The groups and jobs tables (PROTOCOL.md, "Work queues"). A group is a
 * pattern and a position in the journal; a job row exists only for a
 * message handed out and not yet acked (or delayed by a nack). Groups are
 * created at once; job and position changes are written by the broker's
 * next commit (queue/group.ts), inside its transaction.
 */
import type Database from 'better-sqlite3';

export interface StoredGroup {
  readonly name: string;
  readonly pattern: string;
  readonly position: number;
  readonly waitMs: number;
  /** Deliveries before a job is dead; 0: never. */
  readonly tries: number;
  readonly creator: string;
}

export interface StoredJob {
  readonly id: number;
  readonly tries: number;
  /** Delayed until this ms; 0: not delayed. */
  readonly due: number;
}

export class GroupStore {
  readonly #all: Database.Statement<[], StoredGroup>;
  readonly #jobs: Database.Statement<[string], StoredJob>;
  readonly #create: Database.Statement<[string, string, number, number, number, string, number]>;
  readonly #position: Database.Statement<[number, string]>;
  readonly #saveJob: Database.Statement<[string, number, number, number]>;
  readonly #deleteJob: Database.Statement<[string, number]>;

  constructor(db: Database.Database) {
    this.#all = db.prepare('SELECT name, pattern, position, wait_ms AS waitMs, tries, creator FROM groups ORDER BY name');
    this.#jobs = db.prepare('SELECT id, tries, due FROM jobs WHERE grp = ? ORDER BY id');
    this.#create = db.prepare('INSERT INTO groups (name, pattern, position, wait_ms, tries, creator, created) VALUES (?, ?, ?, ?, ?, ?, ?)');
    this.#position = db.prepare('UPDATE groups SET position = ? WHERE name = ?');
    this.#saveJob = db.prepare('INSERT OR REPLACE INTO jobs (grp, id, tries, due) VALUES (?, ?, ?, ?)');
    this.#deleteJob = db.prepare('DELETE FROM jobs WHERE grp = ? AND id = ?');
  }

  all(): StoredGroup[] {
    return this.#all.all();
  }

  jobs(group: string): StoredJob[] {
    return this.#jobs.all(group);
  }

  create(group: StoredGroup, now: number): void {
    this.#create.run(group.name, group.pattern, group.position, group.waitMs, group.tries, group.creator, now);
  }

  position(group: string, position: number): void {
    this.#position.run(position, group);
  }

  saveJob(group: string, job: StoredJob): void {
    this.#saveJob.run(group, job.id, job.tries, job.due);
  }

  deleteJob(group: string, id: number): void {
    this.#deleteJob.run(group, id);
  }
}
