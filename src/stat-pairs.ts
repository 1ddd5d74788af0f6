/** What `stats` shows (PROTOCOL.md, "Introspection"), in order, as name and value pairs. */
import type { Bus } from './assemble.js';
import type { Stats } from './bus/stats.js';
import type { Cluster } from './cluster/cluster.js';
import { limitStats } from './limits.js';
import type { Limits } from './limits.js';
import type { MqttDoor } from './mqtt/door.js';
import type { Store } from './store/store.js';

export interface StatSources {
  readonly version: string;
  readonly stats: Stats;
  readonly connections: number;
  readonly store: Store;
  readonly bus: Bus;
  readonly limits: Limits;
  readonly cluster: Cluster | undefined;
  readonly mqtt: MqttDoor;
}

export function statPairs({ version, stats, connections, store, bus, limits, cluster, mqtt }: StatSources): [string, string | number][] {
  const reader = store.reader;
  const [uptime, ...counters] = stats.pairs();
  return [
    ['version', version],
    uptime as [string, number],
    ['connections', connections],
    ...counters,
    ['journal_bytes', store.bytes()],
    ['journal_first_id', reader.firstId()],
    ['journal_last_id', reader.lastId()],
    ['cursors', bus.cursors.size],
    ['groups', bus.groups.size],
    ['jobs_pending', bus.groups.pendingJobs()],
    ['requests_waiting', bus.requests.size],
    ['logins_delayed', bus.policy.throttle.delayed],
    ['logins_refused', bus.policy.throttle.refused],
    ...(cluster?.stats() ?? []),
    ...mqtt.stats(),
    ...limitStats(limits),
    ...stats.closeReasons(),
  ];
}
