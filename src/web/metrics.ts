/**
 * `/metrics` (WEB.md): the figures of `stats` in the Prometheus text
 * format, through prom-client, `linebus_` names and `_total` for counters,
 * made at each scrape from one `stats` snapshot (nothing to keep in step);
 * beside them prom-client's process and Node.js collectors and the build,
 * which live as long as the daemon.
 */
import type { Registry } from 'prom-client';
import { version } from '../version.js';

/** stats name -> metric name and help; counters end in _total. */
const COUNTERS: Record<string, [string, string]> = {
  connections_total: ['linebus_connections_accepted_total', 'connections accepted since start'],
  messages_in: ['linebus_messages_in_total', 'messages journaled'],
  messages_out: ['linebus_deliveries_total', 'msg lines delivered live'],
  journal_commits: ['linebus_journal_commits_total', 'journal transactions'],
  journal_checkpoints: ['linebus_journal_checkpoints_total', 'WAL checkpoints'],
  journal_checkpoint_failures: ['linebus_journal_checkpoint_failures_total', 'WAL checkpoints that failed'],
  slow_disconnects: ['linebus_slow_disconnects_total', "clients cut off with 'err slow'"],
  jobs_delivered: ['linebus_group_jobs_delivered_total', 'jobs handed to queue group members'],
  jobs_acked: ['linebus_group_jobs_acked_total', 'jobs acknowledged'],
  jobs_redelivered: ['linebus_group_jobs_redelivered_total', 'jobs given out again'],
  jobs_dead: ['linebus_group_jobs_dead_total', 'jobs journaled on $dead.<group>'],
  retention_deleted: ['linebus_retention_deleted_total', 'messages deleted by retention'],
  logins_delayed: ['linebus_logins_delayed_total', 'logins slowed after failures from their address or for their user'],
  logins_refused: ['linebus_logins_refused_total', 'logins refused unchecked: too many at once from their address'],
  mqtt_publishes_denied: ['linebus_mqtt_publishes_denied_total', 'MQTT PUBLISHes and wills acknowledged and dropped: the access file, or a $ topic'],
  mqtt_unmapped: ['linebus_mqtt_unmapped_total', 'messages not delivered to an MQTT subscriber: their topic has no MQTT name'],
  mqtt_wills: ['linebus_mqtt_wills_total', 'MQTT wills published'],
};

const GAUGES: Record<string, [string, string, number]> = {
  uptime_s: ['linebus_uptime_seconds', 'seconds since start', 1],
  journal_bytes: ['linebus_journal_bytes', 'size of the journal and its WAL', 1],
  journal_first_id: ['linebus_journal_first_id', 'first id in the journal', 1],
  journal_last_id: ['linebus_journal_last_id', 'last id in the journal', 1],
  event_loop_delay_p99_ms: ['linebus_event_loop_delay_p99_seconds', "99th percentile of the event loop's delay", 0.001],
  event_loop_delay_max_ms: ['linebus_event_loop_delay_max_seconds', "longest delay of the event loop", 0.001],
  cursors: ['linebus_cursors', 'durable cursors', 1],
  groups: ['linebus_groups', 'queue groups', 1],
  jobs_pending: ['linebus_group_jobs_pending', 'un-acked and delayed jobs of every group', 1],
  requests_waiting: ['linebus_requests_waiting', 'requests waiting for a reply', 1],
  mqtt_sessions: ['linebus_mqtt_sessions', 'MQTT sessions kept (clean session 0)', 1],
  cluster_daemons: ['linebus_cluster_daemons', 'daemons of the cluster', 1],
  cluster_groups: ['linebus_cluster_groups', 'queue groups of the whole cluster', 1],
  cluster_jobs_pending: ['linebus_cluster_group_jobs_pending', 'un-acked and delayed jobs of every group of the cluster', 1],
  cluster_jobs_waiting: ['linebus_cluster_group_jobs_waiting', 'messages of every group of the cluster not handed out yet', 1],
};

/** Made at the first scrape: most daemons are never scraped, and prom-client loads then. */
export class Exporter {
  /** prom-client's default collectors (process_*, nodejs_*) and linebus_build_info. */
  #lasting: Promise<Registry> | undefined;

  /** The text of one scrape. */
  async scrape(stats: readonly [string, string | number][], listeners: ReadonlyMap<string, number>, lags: readonly { user: string; cursor: string; lag: number }[]): Promise<{ contentType: string; text: string }> {
    this.#lasting ??= lastingRegistry();
    const { Registry } = await import('prom-client');
    const merged = Registry.merge([await this.#lasting, await statsRegistry(stats, listeners, lags)]);
    return { contentType: merged.contentType, text: await merged.metrics() };
  }
}

async function lastingRegistry(): Promise<Registry> {
  const { collectDefaultMetrics, Gauge, Registry } = await import('prom-client');
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  new Gauge({ name: 'linebus_build_info', help: 'the linebus version and the Node.js it runs on; always 1', labelNames: ['version', 'node'], registers: [registry] }).set({ version: version(), node: process.version }, 1);
  return registry;
}

async function statsRegistry(stats: readonly [string, string | number][], listeners: ReadonlyMap<string, number>, lags: readonly { user: string; cursor: string; lag: number }[]): Promise<Registry> {
  const { Counter, Gauge, Registry } = await import('prom-client');
  const registry = new Registry();
  const closed = new Counter({ name: 'linebus_connections_closed_total', help: 'connections closed, by reason', labelNames: ['reason'], registers: [registry] });
  const refused = new Counter({ name: 'linebus_mqtt_refused_total', help: 'MQTT connections closed for what the client sent, by reason', labelNames: ['reason'], registers: [registry] });
  for (const [name, value] of stats) {
    if (typeof value !== 'number') continue;
    const counter = COUNTERS[name];
    const gauge = GAUGES[name];
    if (counter) new Counter({ name: counter[0], help: counter[1], registers: [registry] }).inc(value);
    else if (gauge) new Gauge({ name: gauge[0], help: gauge[1], registers: [registry] }).set(value * gauge[2]);
    else if (name.startsWith('closed.')) closed.inc({ reason: name.slice('closed.'.length) }, value);
    else if (name.startsWith('mqtt_refused.')) refused.inc({ reason: name.slice('mqtt_refused.'.length) }, value);
  }
  const connections = new Gauge({ name: 'linebus_connections', help: 'open connections, by listener', labelNames: ['listener'], registers: [registry] });
  for (const listener of ['tcp', 'tls', 'http', 'ws', 'mqtt', 'mqtt-tls', 'mqtt-ws']) connections.set({ listener }, listeners.get(listener) ?? 0);
  const lag = new Gauge({ name: 'linebus_cursor_lag', help: 'journaled messages after a cursor\'s mark', labelNames: ['user', 'cursor'], registers: [registry] });
  for (const cursor of lags) lag.set({ user: cursor.user, cursor: cursor.cursor }, cursor.lag);
  return registry;
}
