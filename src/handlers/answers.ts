/**
 * This daemon's rows (views.ts): what `who`, `topics` and `pending` show
 * of it alone, and what it answers the other daemons of a cluster.
 */
import type { Broker } from '../bus/broker.js';
import { isWildcardPattern } from '../protocol/topic.js';
import type { QueueGroup } from '../queue/queue.js';
import type { ConnectionInfo, Services } from './context.js';
import type { ConnectionRow, JobRow, Question, ReceiverRow, TopicRow } from './views.js';

/**
 * How long a reply granted to another daemon's client holds the request:
 * longer than that daemon waits for JetStream to store the reply (5 s)
 * and for the copy to bring it here.
 */
export const REPLY_LEASE_MS = 15_000;

export function connectionRows(connections: Iterable<ConnectionInfo>): ConnectionRow[] {
  const rows: ConnectionRow[] = [];
  for (const c of connections) rows.push({ id: c.id, user: c.user ?? null, remote: c.remote, listener: c.listener, pendingBytes: c.pendingBytes(), patterns: [...c.patterns] });
  return rows;
}

/** The logins receiving `topic`, by name, with their connections. */
export function receiverRows(broker: Broker, topic: string): ReceiverRow[] {
  const connections = new Map<string, number>();
  for (const receiver of broker.receivers(topic)) {
    // A queue group receives too; its members are connections of their own (`who` alone).
    const user = receiver.user;
    if (user !== undefined) connections.set(user, (connections.get(user) ?? 0) + 1);
  }
  return [...connections].sort(([a], [b]) => (a < b ? -1 : 1));
}

/** Topics sent to since start, then every topic or pattern received that is not one of them. */
export function topicRows(broker: Broker): TopicRow[] {
  const rows = new Map<string, TopicRow>();
  for (const [topic, id] of broker.recentTopics()) rows.set(topic, { name: topic, receivers: broker.receivers(topic).size, lastId: id });
  for (const [pattern, receivers] of broker.subscriptions()) {
    if (rows.has(pattern)) continue;
    // A pattern counts its own receivers; an exact topic counts every
    // receiver whose pattern matches it.
    rows.set(pattern, { name: pattern, receivers: isWildcardPattern(pattern) ? receivers.size : broker.receivers(pattern).size, lastId: null });
  }
  return [...rows.values()];
}

export function jobRows(group: QueueGroup | undefined): JobRow[] {
  return [...(group?.jobs() ?? [])].map((job) => ({ id: job.id, worker: job.holder?.worker.user ?? null, tries: job.tries }));
}

/** This daemon's answer to a question of the cluster. */
export async function answer(services: Services, question: Question): Promise<readonly unknown[]> {
  const { requests } = services;
  switch (question.op) {
    case 'who':
      return connectionRows(services.connections());
    case 'receivers':
      return receiverRows(services.broker, question.topic);
    case 'topics':
      return topicRows(services.broker);
    case 'jobs':
      return jobRows(services.groups.get(question.group));
    case 'claim':
      // The reply may have come before the asker's own send knew its id.
      if (requests.topicOf(question.id) === undefined) await requests.numbered();
      return [requests.grant(question.id, question.responder, REPLY_LEASE_MS)];
    case 'release':
      requests.release(question.id, question.responder);
      return [];
  }
}
