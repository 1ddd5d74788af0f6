/** The users table: who may log in, with their password hashes. */
import type Database from 'better-sqlite3';

export interface UserRow {
  name: string;
  hash: string;
  created: number;
}

export class Users {
  readonly #get: Database.Statement<[string], UserRow>;
  readonly #any: Database.Statement<[], unknown>;
  readonly #put: Database.Statement<[string, string, number]>;
  readonly #delete: Database.Statement<[string]>;
  readonly #list: Database.Statement<[], UserRow>;

  constructor(db: Database.Database) {
    this.#get = db.prepare('SELECT name, hash, created FROM users WHERE name = ?');
    this.#any = db.prepare('SELECT 1 FROM users LIMIT 1');
    this.#put = db.prepare('INSERT INTO users (name, hash, created) VALUES (?, ?, ?) ON CONFLICT (name) DO UPDATE SET hash = excluded.hash');
    this.#delete = db.prepare('DELETE FROM users WHERE name = ?');
    this.#list = db.prepare('SELECT name, hash, created FROM users ORDER BY name');
  }

  get(name: string): UserRow | undefined {
    return this.#get.get(name);
  }

  /** Whether there is any user at all (no users: open mode). */
  any(): boolean {
    return this.#any.get() !== undefined;
  }

  /** Adds or replaces a user; returns true if the user is new. */
  put(name: string, hash: string): boolean {
    const existed = this.get(name) !== undefined;
    this.#put.run(name, hash, Date.now());
    return !existed;
  }

  delete(name: string): boolean {
    return this.#delete.run(name).changes > 0;
  }

  list(): UserRow[] {
    return this.#list.all();
  }
}
