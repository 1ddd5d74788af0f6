/**
 * The cursors table (PROTOCOL.md, "Durable cursors"): a user's named
 * position in the journal. Creating and forgetting are rare and written at
 * once; marks are frequent and written by the broker's next commit
 * (bus/cursors.ts), inside its transaction.
 */
import type Database from 'better-sqlite3';

export interface StoredCursor {
  readonly user: string;
  readonly name: string;
  readonly pattern: string;
  mark: number;
}

export class CursorStore {
  readonly #all: Database.Statement<[], StoredCursor>;
  readonly #create: Database.Statement<[string, string, string, number, number]>;
  readonly #mark: Database.Statement<[number, string, string]>;
  readonly #forget: Database.Statement<[string, string]>;

  constructor(db: Database.Database) {
    this.#all = db.prepare('SELECT user, name, pattern, mark FROM cursors ORDER BY user, name');
    this.#create = db.prepare('INSERT INTO cursors (user, name, pattern, mark, created) VALUES (?, ?, ?, ?, ?)');
    this.#mark = db.prepare('UPDATE cursors SET mark = ? WHERE user = ? AND name = ?');
    this.#forget = db.prepare('DELETE FROM cursors WHERE user = ? AND name = ?');
  }

  all(): StoredCursor[] {
    return this.#all.all();
  }

  create(cursor: StoredCursor, now: number): void {
    this.#create.run(cursor.user, cursor.name, cursor.pattern, cursor.mark, now);
  }

  mark(cursor: StoredCursor): void {
    this.#mark.run(cursor.mark, cursor.user, cursor.name);
  }

  forget(user: string, name: string): void {
    this.#forget.run(user, name);
  }
}
