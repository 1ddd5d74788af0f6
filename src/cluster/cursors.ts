/**
 * Cursors shared by the daemons of a cluster, through a JetStream
 * key-value bucket (`<stream>_cursors`, one key per user and cursor): each
 * daemon puts the changes its clients make and watches the bucket for the
 * others'. A mark only moves forward wherever it lands, so puts from two
 * daemons cannot take a cursor back.
 */
import type { KV, KvEntry } from 'nats';
import type { Cursor, CursorReplica, Cursors } from '../bus/cursors.js';
import type { Logger } from '../log.js';
import { followBucket } from './watch.js';

interface SharedCursor {
  readonly user: string;
  readonly name: string;
  readonly pattern: string;
  readonly mark: number;
}

/** A key of the bucket: user and name in base64url (KV keys allow few characters). */
export function cursorKey(user: string, name: string): string {
  return `${Buffer.from(user).toString('base64url')}.${Buffer.from(name).toString('base64url')}`;
}

/** The user and name of a key, or undefined for a key that is not one of ours. */
export function cursorOfKey(key: string): { user: string; name: string } | undefined {
  const [user, name, extra] = key.split('.');
  if (user === undefined || name === undefined || extra !== undefined || user === '' || name === '') return undefined;
  return { user: Buffer.from(user, 'base64url').toString(), name: Buffer.from(name, 'base64url').toString() };
}

export class SharedCursors implements CursorReplica {
  readonly #kv: KV;
  readonly #cursors: Cursors;
  readonly #logger: Logger;
  #stopped = false;
  #stop: (() => void) | undefined;

  constructor(kv: KV, cursors: Cursors, logger: Logger) {
    this.#kv = kv;
    this.#cursors = cursors;
    this.#logger = logger;
  }

  /** Takes what the bucket has, then follows it; resolves once the bucket's present state is applied. */
  async start(): Promise<void> {
    this.#cursors.replica = this;
    this.#stop = await followBucket(this.#kv, (entry) => this.#apply(entry));
  }

  stop(): void {
    this.#stopped = true;
    this.#stop?.();
  }

  created(cursor: Cursor): void {
    void this.#put(cursor);
  }

  marked(cursor: Cursor): Promise<void> {
    return this.#put(cursor);
  }

  async refresh(user: string, name: string): Promise<void> {
    try {
      const entry = await this.#kv.get(cursorKey(user, name));
      if (entry !== null) this.#apply(entry);
    } catch (error) {
      this.#failed(`read cursor ${name} of ${user}`, error as Error);
    }
  }

  forgotten(user: string, name: string): void {
    this.#kv.delete(cursorKey(user, name)).catch((error: Error) => this.#failed(`forget cursor ${name} of ${user}`, error));
  }

  #put(cursor: Cursor): Promise<void> {
    const shared: SharedCursor = { user: cursor.user, name: cursor.name, pattern: cursor.pattern, mark: cursor.mark };
    return this.#kv.put(cursorKey(cursor.user, cursor.name), JSON.stringify(shared)).then(
      () => undefined,
      (error: Error) => this.#failed(`share cursor ${cursor.name} of ${cursor.user}`, error),
    );
  }

  #apply(entry: KvEntry): void {
    const key = cursorOfKey(entry.key);
    if (key === undefined || this.#stopped) return;
    if (entry.operation !== 'PUT') {
      this.#cursors.drop(key.user, key.name);
      return;
    }
    try {
      const { pattern, mark } = entry.json<SharedCursor>();
      if (typeof pattern !== 'string' || !Number.isSafeInteger(mark)) throw new Error('not a cursor');
      this.#cursors.adopt(key.user, key.name, pattern, mark);
    } catch (error) {
      this.#logger.log('warn', `cluster: cursor key ${entry.key} is not a linebus cursor (${(error as Error).message}); ignored`);
    }
  }

  #failed(what: string, error: Error): void {
    if (!this.#stopped) this.#logger.log('warn', `cluster: could not ${what} with the other daemons (${error.message}); it holds on this daemon`);
  }
}
