/** `take`, `ack`, `nack`, `touch`, `pending` (PROTOCOL.md, "Work queues"). */
import type { QueueGroup as Group, QueueMember as Member } from '../queue/queue.js';
import { ProtocolError } from '../protocol/errors.js';
import type { CommandOf } from '../protocol/commands.js';
import { err, ok } from '../protocol/events.js';
import type { Refusal } from '../protocol/events.js';
import { item } from '../protocol/wire.js';
import type { JournalReader } from '../store/reader.js';
import type { Conn, Services } from './context.js';
import { fromCluster } from './introspect.js';
import { subscriptionRefused } from './subscribe.js';
import type { ClusterView } from './views.js';

/** PROTOCOL.md's defaults for a new group. */
export const GROUP_DEFAULTS = { waitMs: 30_000, tries: 5 } as const;
/** `pending` waits for the client to read after this many lines. */
const PENDING_PAGE = 1000;

export function take(conn: Conn, command: CommandOf<'take'>, services: Services): void {
  const { pattern, group: name, start, max = 1 } = command;
  const { groups, limits, reader } = services;
  const existing = groups.get(name);
  // Taking a group again only changes this connection's max.
  const refusal = existing !== undefined && conn.attachments.has(existing) ? undefined : subscriptionRefused(conn, services);
  if (refusal !== undefined) {
    conn.reply(refusal);
    return;
  }
  const denied = services.policy.receiveAll(conn.user as string, pattern);
  if (denied) {
    conn.reply(denied);
    return;
  }
  if (max > limits.maxAckPending) {
    conn.reply(err('syntax', `max ${max} is over the ${limits.maxAckPending} un-acked jobs a group may have (--max-ack-pending); ask for fewer`));
    return;
  }
  if (existing !== undefined) {
    join(conn, existing, pattern, max);
    return;
  }
  const user = conn.user as string;
  const tooMany = (): boolean => {
    if (groups.madeBy(user) < limits.maxGroups) return false;
    conn.reply(err('busy', `you made ${limits.maxGroups} groups, the most one user may (--max-groups); take one of them`));
    return true;
  };
  if (tooMany()) return;
  conn.hold(async () => {
    const position = await services.feed.startOf(conn, pattern, start ?? { kind: 'id', id: reader.lastId() });
    if (position === undefined) return;
    let group: Group;
    try {
      const made = groups.get(name);
      // Checked again with the making, in one step: other connections of
      // this user may have made groups while the start was looked up.
      if (made === undefined && tooMany()) return;
      group =
        made ??
        (await groups.create({
          name,
          pattern,
          // A start in the future means: from now on.
          position: Math.min(position, reader.lastId()),
          waitMs: command.waitMs ?? GROUP_DEFAULTS.waitMs,
          tries: command.tries ?? GROUP_DEFAULTS.tries,
          creator: user,
        }));
    } catch (error) {
      // Cluster mode: the engine did not answer.
      if (!(error instanceof ProtocolError)) throw error;
      conn.reply(error);
      return;
    }
    join(conn, group, pattern, max);
  });
}

function join(conn: Conn, group: Group, pattern: string, max: number): void {
  if (group.pattern !== pattern) {
    conn.reply(err('syntax', `group ${group.name} takes ${group.pattern}; take ${group.pattern} as ${group.name}, or choose another group name`));
    return;
  }
  conn.reply(ok('take', pattern, 'as', group.name));
  conn.attachments.joined(group.join(conn, max));
  group.dispatch();
}

/** The membership of `conn` that holds job `id`. */
function holder(conn: Conn, id: number): Member | undefined {
  for (const member of conn.attachments.members()) if (member.held.has(id)) return member;
  return undefined;
}

function notHeld(id: number): Refusal {
  return err('notfound', `you hold no job ${id}: never had it, acked it already, or its wait ran out and it went to another worker`);
}

export function ack(conn: Conn, { id }: CommandOf<'ack'>): void {
  const member = holder(conn, id);
  if (member === undefined) conn.reply(notHeld(id));
  else member.group.ack(member, id, conn.later());
}

export function nack(conn: Conn, { id, delayMs }: CommandOf<'nack'>): void {
  const member = holder(conn, id);
  if (member === undefined) conn.reply(notHeld(id));
  else member.group.nack(member, id, delayMs, conn.later());
}

export function touch(conn: Conn, { id }: CommandOf<'touch'>): void {
  const member = holder(conn, id);
  const left = member?.group.touch(member, id);
  conn.reply(left === undefined ? notHeld(id) : ok('touch', id, Math.ceil(left / 1000)));
}

export function pending(conn: Conn, { group: name }: CommandOf<'pending'>, services: Services): void {
  if (services.cluster !== undefined) {
    pendingInCluster(conn, name, services, services.cluster);
    return;
  }
  const group = services.groups.get(name);
  if (group === undefined) {
    conn.reply(noGroup(name));
    return;
  }
  const denied = services.policy.receiveAll(conn.user as string, group.pattern);
  if (denied) {
    conn.reply(denied);
    return;
  }
  const jobs = [...group.jobs()];
  // An acked job of the list is left out, as it is written.
  const still = function* (): Generator<PendingJob> {
    for (const job of jobs) if (group.has(job)) yield { id: job.id, worker: job.holder?.worker.user ?? '-', tries: job.tries };
  };
  conn.hold(() => writePending(conn, services.reader, name, still()));
}

/** The group's jobs on every daemon of the cluster, held by `<daemon>/<login>`, or by none (delayed). */
function pendingInCluster(conn: Conn, name: string, { policy, reader }: Services, cluster: ClusterView): void {
  fromCluster(
    conn,
    async () => {
      const pattern = await cluster.groupPattern(name);
      if (pattern === undefined) throw noGroup(name);
      const denied = policy.receiveAll(conn.user as string, pattern);
      if (denied) throw denied;
      return cluster.ask({ op: 'jobs', group: name });
    },
    (answers) => {
      const jobs = answers.flatMap(({ daemon, rows }) => rows.map((job) => ({ id: job.id, worker: job.worker === null ? '-' : `${daemon}/${job.worker}`, tries: job.tries })));
      return writePending(conn, reader, name, jobs.sort((a, b) => a.id - b.id));
    },
  );
}

function noGroup(name: string): ProtocolError {
  return new ProtocolError('notfound', `no group ${name}; take <pattern> as ${name} makes it`);
}

interface PendingJob {
  readonly id: number;
  readonly worker: string;
  readonly tries: number;
}

/** `pending` lines, a page at a time as the client reads them; a job whose row retention deleted shows no topic or age. */
async function writePending(conn: Conn, reader: JournalReader, name: string, jobs: Iterable<PendingJob>): Promise<void> {
  const now = Date.now();
  let count = 0;
  for (const job of jobs) {
    const row = reader.message(job.id);
    const age = row === undefined ? '-' : Math.max(0, Math.floor((now - row.ts) / 1000));
    conn.reply(item('pending', job.id, row?.topic ?? '-', job.worker, age, job.tries));
    if (++count % PENDING_PAGE === 0 && !(await conn.room())) return;
  }
  conn.reply(ok('pending', name, count));
}
