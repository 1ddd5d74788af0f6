/**
 * `linebus user add|del|list --cluster`: the users of a cluster, in the
 * key-value bucket `<stream>_users` that its daemons read (cluster/users.ts).
 * What they have to say goes to a Say (the command's stdout and stderr).
 */
import type { KV, NatsConnection } from 'nats';
import { findUsersBucket, userKey, userOf, usersBucket } from '../cluster/users.js';
import type { ClusterSettings } from '../cluster/subjects.js';
import { FatalError } from '../protocol/errors.js';
import type { UserRow } from '../store/users.js';

/** Where a command's lines go. */
export interface Say {
  /** Its result, a line on stdout. */
  out(line: string): void;
  /** A note for the operator, on stderr. */
  note(line: string): void;
}

/** Connects, finds the bucket (or makes it, with `make`, saying so), runs `work`, closes. */
async function withBucket<T>(settings: ClusterSettings, say: Say | undefined, work: (kv: KV, bucket: string) => Promise<T>): Promise<T> {
  const { connect } = await import('nats');
  const servers = settings.urls.join(',');
  let nc: NatsConnection;
  try {
    nc = await connect({ servers: [...settings.urls], name: 'linebus user' });
  } catch (error) {
    throw new FatalError(`cannot reach NATS at ${servers} (${(error as Error).message})`);
  }
  const bucket = usersBucket(settings.stream);
  try {
    let kv = await findUsersBucket(nc, settings.stream);
    if (kv === undefined && say !== undefined) {
      kv = await nc.jetstream().views.kv(bucket, { replicas: settings.replicas, history: 1 });
      say.note(`made bucket ${bucket} (${settings.replicas} replicas); daemons of stream ${settings.stream} check logins against it from their next start`);
    }
    if (kv === undefined) throw new FatalError(`no users bucket ${bucket} at ${servers}; 'linebus user add --cluster ${servers} <name>' makes it`);
    return await work(kv, bucket);
  } catch (error) {
    throw error instanceof FatalError ? error : new FatalError(`NATS at ${servers}: ${(error as Error).message}`);
  } finally {
    await nc.close();
  }
}

/** The user of key `name`, if the bucket has one. */
async function userIn(kv: KV, name: string): Promise<UserRow | undefined> {
  const entry = await kv.get(userKey(name));
  return entry === null || entry.operation !== 'PUT' ? undefined : userOf(entry);
}

/** Adds `name` with password `hash`, or changes their password; makes the bucket if missing. */
export function clusterUserAdd(name: string, hash: string, settings: ClusterSettings, say: Say): Promise<void> {
  return withBucket(settings, say, async (kv) => {
    const existing = await userIn(kv, name);
    const user: UserRow = { name, hash, created: existing?.created ?? Date.now() };
    await kv.put(userKey(name), JSON.stringify(user));
    say.out(`${existing === undefined ? 'added' : 'changed password of'} ${name}`);
  });
}

export function clusterUserDel(name: string, settings: ClusterSettings, say: Say): Promise<void> {
  return withBucket(settings, undefined, async (kv, bucket) => {
    if ((await userIn(kv, name)) === undefined) throw new FatalError(`no user '${name}' in bucket ${bucket}; 'linebus user list --cluster ...' shows who there is`);
    await kv.delete(userKey(name));
    say.out(`deleted ${name}`);
  });
}

/** Each user's name and when it was added, by name. */
export function clusterUserList(settings: ClusterSettings, say: Say): Promise<void> {
  return withBucket(settings, undefined, async (kv) => {
    // Every key first: the iterator of keys stops at a get made while it runs.
    const keys: string[] = [];
    for await (const key of await kv.keys()) keys.push(key);
    const users: UserRow[] = [];
    for (const key of keys) {
      const entry = await kv.get(key);
      const user = entry?.operation === 'PUT' ? userOf(entry) : undefined;
      if (user !== undefined) users.push(user);
    }
    users.sort((a, b) => (a.name < b.name ? -1 : 1));
    for (const user of users) say.out(`${user.name}\t${new Date(user.created).toISOString()}`);
  });
}
