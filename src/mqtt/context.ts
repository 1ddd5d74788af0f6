/**
 * What the MQTT door's parts work with: the bus's services, as the line
 * protocol's handlers have them (handlers/context.ts), and the limits.
 */
import type { Broker } from '../bus/broker.js';
import type { Cursors } from '../bus/cursors.js';
import type { Feed } from '../bus/feed.js';
import type { Policy } from '../bus/policy.js';
import type { Stats } from '../bus/stats.js';
import type { Turn } from '../bus/turn.js';
import type { Logger } from '../log.js';
import type { QueueGroups } from '../queue/queue.js';
import type { MqttStore } from '../store/mqtt.js';
import type { JournalReader } from '../store/reader.js';
import type { MqttCounters } from './counters.js';
import type { Sessions } from './sessions.js';

/** The limits the door applies, as they are now (SIGHUP may change them). */
export interface MqttLimits {
  readonly maxLine: number;
  readonly maxPending: number;
  readonly maxInput: number;
  readonly maxSubscriptions: number;
  readonly maxCursors: number;
  readonly maxGroups: number;
  readonly maxAckPending: number;
  /** QoS 1 and 2 messages unacknowledged on their way to one session's client (--mqtt-inflight). */
  readonly mqttInflight: number;
}

export interface MqttServices {
  readonly broker: Broker;
  readonly feed: Feed;
  readonly policy: Policy;
  readonly cursors: Cursors;
  readonly groups: QueueGroups;
  readonly reader: JournalReader;
  readonly store: MqttStore;
  readonly sessions: Sessions;
  readonly turn: Turn;
  readonly counters: Stats;
  readonly mqtt: MqttCounters;
  readonly logger: Logger;
  readonly limits: MqttLimits;
}

/** Log fields naming a client. */
export function who(client: { readonly id: number; readonly remote: string; readonly clientId: string; readonly user: string | undefined }): Record<string, string | number | undefined> {
  return { conn: client.id, client: client.clientId, user: client.user, remote: client.remote };
}
