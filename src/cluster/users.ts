/**
 * Users shared by the daemons of a cluster: the key-value bucket
 * `<stream>_users` (linebus(1), CLUSTER), one key per user (the name in
 * base64url: KV keys allow few characters), its value JSON
 * `{"name", "hash", "created"}` with the same salted scrypt hash as the
 * journal's users table. `linebus user add|del|list --cluster` writes it;
 * a daemon that finds it when its cluster is set up checks logins against
 * it (and follows its changes) instead of its journal's users.
 */
import type { KV, KvEntry, NatsConnection, NatsError } from 'nats';
import type { UserSource } from '../bus/policy.js';
import type { Logger } from '../log.js';
import type { UserRow } from '../store/users.js';
import { STREAM_NOT_FOUND } from './stream.js';
import { followBucket } from './watch.js';

export function usersBucket(stream: string): string {
  return `${stream}_users`;
}

export function userKey(name: string): string {
  return Buffer.from(name).toString('base64url');
}

/** The user of a bucket entry, or undefined if it is not one. */
export function userOf(entry: KvEntry): UserRow | undefined {
  try {
    const row = entry.json<Partial<UserRow>>();
    if (typeof row.name !== 'string' || userKey(row.name) !== entry.key || typeof row.hash !== 'string' || !Number.isSafeInteger(row.created)) return undefined;
    return { name: row.name, hash: row.hash, created: row.created as number };
  } catch {
    return undefined;
  }
}

/** The bucket, if it exists (made only by `linebus user add --cluster`). */
export async function findUsersBucket(nc: NatsConnection, stream: string): Promise<KV | undefined> {
  const bucket = usersBucket(stream);
  try {
    // A bucket is the stream KV_<bucket>.
    await (await nc.jetstreamManager()).streams.info(`KV_${bucket}`);
  } catch (error) {
    if ((error as NatsError).api_error?.err_code === STREAM_NOT_FOUND) return undefined;
    throw error;
  }
  return nc.jetstream().views.kv(bucket, { bindOnly: true });
}

export class SharedUsers implements UserSource {
  readonly #users = new Map<string, UserRow>();
  readonly #logger: Logger;
  #stop: (() => void) | undefined;
  /** The bucket's present state is here: changes from now on are logged. */
  #following = false;

  constructor(logger: Logger) {
    this.#logger = logger;
  }

  get size(): number {
    return this.#users.size;
  }

  get(name: string): UserRow | undefined {
    return this.#users.get(name);
  }

  any(): boolean {
    return this.#users.size > 0;
  }

  /** Takes what the bucket has, then follows it; resolves once its present state is here. */
  async follow(kv: KV): Promise<void> {
    this.#stop = await followBucket(kv, (entry) => this.#apply(entry));
    this.#following = true;
  }

  stop(): void {
    this.#stop?.();
  }

  #apply(entry: KvEntry): void {
    const name = Buffer.from(entry.key, 'base64url').toString();
    if (entry.operation !== 'PUT') {
      if (this.#users.delete(name) && this.#following) this.#logger.log('info', `cluster: user ${name} deleted from bucket ${entry.bucket}`);
      return;
    }
    const user = userOf(entry);
    if (user === undefined) {
      this.#logger.log('warn', `cluster: key ${entry.key} of bucket ${entry.bucket} is not a linebus user; ignored`);
      return;
    }
    this.#users.set(user.name, user);
    if (this.#following) this.#logger.log('info', `cluster: user ${name} added or changed in bucket ${entry.bucket}`);
  }
}
