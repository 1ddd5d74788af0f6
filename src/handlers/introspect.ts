/** `topics`, `who`, `stats`: what an operator asks from telnet. */
import type { CommandOf } from '../protocol/commands.js';
import { isWildcardPattern } from '../protocol/topic.js';
import { ok } from '../protocol/events.js';
import { item } from '../protocol/wire.js';
import type { Line } from '../protocol/wire.js';
import type { Conn, Services } from './context.js';

/** Topics sent to since start, and every topic or pattern received. */
export function topics(conn: Conn, _command: CommandOf<'topics'>, { broker, reader, policy }: Services): void {
  const user = conn.user as string;
  const rows = new Map<string, Line>();
  for (const [topic, id] of broker.recentTopics()) {
    if (policy.mayRead(user, topic)) rows.set(topic, item('topic', topic, broker.receivers(topic).size, id));
  }
  for (const [pattern, receivers] of broker.subscriptions()) {
    if (rows.has(pattern) || policy.reach(user, pattern) === 'none') continue;
    // A pattern counts its own receivers and has no last id; an exact
    // topic counts every receiver whose pattern matches it.
    const line = isWildcardPattern(pattern)
      ? item('topic', pattern, receivers.size, '-')
      : item('topic', pattern, broker.receivers(pattern).size, reader.lastIdOf(pattern));
    rows.set(pattern, line);
  }
  const names = [...rows.keys()].sort();
  for (const name of names) conn.reply(rows.get(name) as Line);
  conn.reply(ok('topics', names.length));
}

export function who(conn: Conn, { topic }: CommandOf<'who'>, services: Services): void {
  if (topic === undefined) {
    let count = 0;
    // Under an access file, who is on the bus and from where is for those
    // who may read every topic (the operators); others see their own.
    const everyone = services.policy.reach(conn.user as string, '>') === 'all';
    for (const c of services.connections()) {
      if (!everyone && c.user !== conn.user) continue;
      const patterns = [...c.patterns].filter((pattern) => services.policy.reach(conn.user as string, pattern) !== 'none');
      conn.reply(item('conn', c.id, c.user ?? '-', c.remote, c.listener, c.pendingBytes(), ...patterns));
      count++;
    }
    conn.reply(ok('who', count));
    return;
  }
  const connections = new Map<string, number>();
  const receivers = services.policy.mayRead(conn.user, topic) ? services.broker.receivers(topic) : [];
  for (const receiver of receivers) {
    // A queue group receives too; its members are connections of their own (`who` alone).
    const user = receiver.user;
    if (user !== undefined) connections.set(user, (connections.get(user) ?? 0) + 1);
  }
  const users = [...connections.keys()].sort();
  for (const user of users) conn.reply(item('user', user, connections.get(user) as number));
  conn.reply(ok('who', topic, users.length));
}

export function stats(conn: Conn, _command: CommandOf<'stats'>, services: Services): void {
  const pairs = services.stats();
  for (const [name, value] of pairs) conn.reply(item('stat', name, value));
  conn.reply(ok('stats', pairs.length));
}
