/**
 * `topics`, `who`, `stats`: what an operator asks from telnet. With `all`
 * in a cluster, `topics` counts the receivers of every daemon and `who`
 * names the daemon of each connection or login (`<daemon>/<id>`,
 * `<daemon>/<login>`); without a cluster, `all` is this daemon.
 */
import type { CommandOf } from '../protocol/commands.js';
import type { ProtocolError } from '../protocol/errors.js';
import { isWildcardPattern } from '../protocol/topic.js';
import { ok } from '../protocol/events.js';
import { item } from '../protocol/wire.js';
import { connectionRows, receiverRows, topicRows } from './answers.js';
import type { Conn, Services } from './context.js';
import type { ConnectionRow, DaemonAnswer, ReceiverRow, TopicRow } from './views.js';

/** Answers `conn` with what the cluster says, or with its refusal; the next commands wait. */
export function fromCluster<T>(conn: Conn, ask: () => Promise<T>, write: (answer: T) => void | Promise<void>): void {
  conn.hold(async () => {
    let answer: T;
    try {
      answer = await ask();
    } catch (refusal) {
      // The view refuses with a ProtocolError only (views.ts).
      conn.reply(refusal as ProtocolError);
      return;
    }
    await write(answer);
  });
}

/** Rows of this daemon alone, as if it were a cluster of one with no name. */
function alone<R>(rows: readonly R[]): DaemonAnswer<R>[] {
  return [{ daemon: '', rows }];
}

/** `<daemon>/<name>` in a cluster's view, `<name>` on this daemon's. */
function where(daemon: string, name: string | number): string {
  return daemon === '' ? String(name) : `${daemon}/${name}`;
}

/** Topics sent to since start, and every topic or pattern received. */
export function topics(conn: Conn, { all }: CommandOf<'topics'>, services: Services): void {
  const cluster = all ? services.cluster : undefined;
  if (cluster === undefined) writeTopics(conn, services, topicRows(services.broker));
  else fromCluster(conn, () => cluster.ask({ op: 'topics' }), (answers) => writeTopics(conn, services, mergeTopics(answers)));
}

/** One row per name: the receivers of every daemon, the highest last id. */
function mergeTopics(answers: readonly DaemonAnswer<TopicRow>[]): TopicRow[] {
  const merged = new Map<string, TopicRow>();
  for (const { rows } of answers) {
    for (const row of rows) {
      const seen = merged.get(row.name);
      const lastId = row.lastId === null ? (seen?.lastId ?? null) : Math.max(seen?.lastId ?? 0, row.lastId);
      merged.set(row.name, { name: row.name, receivers: (seen?.receivers ?? 0) + row.receivers, lastId });
    }
  }
  return [...merged.values()];
}

function writeTopics(conn: Conn, { policy, starts }: Services, rows: readonly TopicRow[]): void {
  const user = conn.user as string;
  // A topic sent to is shown to those who may read it; a pattern to those who may read some of it.
  const shown = rows.filter((row) => (row.lastId === null ? policy.reach(user, row.name) !== 'none' : policy.mayRead(user, row.name)));
  shown.sort((a, b) => (a.name < b.name ? -1 : 1));
  for (const { name, receivers, lastId } of shown) conn.reply(item('topic', name, receivers, lastId ?? (isWildcardPattern(name) ? '-' : starts.lastIdOf(name))));
  conn.reply(ok('topics', shown.length));
}

export function who(conn: Conn, { topic, all }: CommandOf<'who'>, services: Services): void {
  const cluster = all ? services.cluster : undefined;
  if (topic === undefined) {
    if (cluster === undefined) writeConnections(conn, services, alone(connectionRows(services.connections())));
    else fromCluster(conn, () => cluster.ask({ op: 'who' }), (answers) => writeConnections(conn, services, answers));
    return;
  }
  if (!services.policy.mayRead(conn.user, topic)) writeReceivers(conn, topic, []);
  else if (cluster === undefined) writeReceivers(conn, topic, alone(receiverRows(services.broker, topic)));
  else fromCluster(conn, () => cluster.ask({ op: 'receivers', topic }), (answers) => writeReceivers(conn, topic, answers));
}

function writeConnections(conn: Conn, { policy }: Services, answers: readonly DaemonAnswer<ConnectionRow>[]): void {
  const user = conn.user as string;
  // Under an access file, who is on the bus and from where is for those
  // who may read every topic (the operators); others see their own.
  const everyone = policy.reach(user, '>') === 'all';
  let count = 0;
  for (const { daemon, rows } of answers) {
    for (const c of rows) {
      if (!everyone && c.user !== user) continue;
      const patterns = c.patterns.filter((pattern) => policy.reach(user, pattern) !== 'none');
      conn.reply(item('conn', where(daemon, c.id), c.user ?? '-', c.remote, c.listener, c.pendingBytes, ...patterns));
      count++;
    }
  }
  conn.reply(ok('who', count));
}

function writeReceivers(conn: Conn, topic: string, answers: readonly DaemonAnswer<ReceiverRow>[]): void {
  let count = 0;
  for (const { daemon, rows } of answers) {
    for (const [user, connections] of rows) {
      conn.reply(item('user', where(daemon, user), connections));
      count++;
    }
  }
  conn.reply(ok('who', topic, count));
}

export function stats(conn: Conn, _command: CommandOf<'stats'>, services: Services): void {
  const cluster = services.cluster;
  if (cluster === undefined) writeStats(conn, services);
  else fromCluster(conn, () => cluster.refresh(), () => writeStats(conn, services));
}

function writeStats(conn: Conn, services: Services): void {
  const pairs = services.stats();
  for (const [name, value] of pairs) conn.reply(item('stat', name, value));
  conn.reply(ok('stats', pairs.length));
}
