/**
 * The bus over one store: broker, feed, policy, cursors, queue groups
 * and requests, wired together once for the daemon (server.ts) and for tests
 * that drive sessions without sockets.
 */
import { Broker } from './bus/broker.js';
import type { Upstream } from './bus/upstream.js';
import { Cursors } from './bus/cursors.js';
import { Feed } from './bus/feed.js';
import { Policy } from './bus/policy.js';
import { Requests } from './bus/requests.js';
import type { Stats } from './bus/stats.js';
import type { Turn } from './bus/turn.js';
import type { Logger } from './log.js';
import { Groups } from './queue/groups.js';
import type { QueueGroups } from './queue/queue.js';
import type { Store } from './store/store.js';

export interface Bus {
  readonly broker: Broker;
  readonly feed: Feed;
  readonly policy: Policy;
  readonly cursors: Cursors;
  readonly groups: QueueGroups;
  readonly requests: Requests;
}

/**
 * Where sends go and groups are kept instead of the journal (cluster
 * mode): made once the broker and the cursors are.
 */
export type UpstreamMaker = (broker: Broker, cursors: Cursors) => { readonly upstream: Upstream; readonly groups: QueueGroups };

/**
 * Loads the cursors and groups of `store` (their pending jobs go out
 * again); or, with `makeUpstream`, sends go upstream and the groups are
 * the upstream's.
 */
export function assembleBus(store: Store, turn: Turn, stats: Stats, logger: Logger, limits: { readonly maxAckPending: number }, makeUpstream?: UpstreamMaker): Bus {
  const broker = new Broker(store.journal, turn, stats, logger);
  const cursors = new Cursors(store.cursors, broker);
  const policy = new Policy(store.users, logger, (id) => store.reader.message(id)?.topic);
  const upstream = makeUpstream?.(broker, cursors);
  if (upstream !== undefined) broker.upstream = upstream.upstream;
  return {
    broker,
    feed: new Feed(store.reader, store.starts, turn, cursors, store.lag, policy),
    policy,
    cursors,
    groups: upstream?.groups ?? new Groups({ reader: store.reader, broker, turn, store: store.groups, counters: stats, limits, logger }),
    requests: new Requests(),
  };
}
