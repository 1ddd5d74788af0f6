/**
 * Shared subscriptions (MQTT.md, "Shared subscriptions"):
 * `$share/<group>/<filter>` is a membership of the queue group `<group>`
 * on the filter's pattern, made on first use as `take` makes it, with its
 * defaults. MQTT and line-protocol members share its jobs; an MQTT
 * member holds at most --mqtt-inflight of them, and its PUBACK (PUBCOMP)
 * acks one (outbound.ts).
 */
import { GROUP_DEFAULTS } from '../handlers/queue.js';
import { ProtocolError } from '../protocol/errors.js';
import type { MqttServices } from './context.js';
import type { Outbound } from './outbound.js';
import type { ShareSubscription } from './session.js';

/** Joins `share`'s group for `outbound`, making the group if need be; undefined, or why not. */
export async function joinShare(user: string, outbound: Outbound, share: ShareSubscription, services: MqttServices): Promise<string | undefined> {
  const { groups, policy, limits, turn, reader } = services;
  const pattern = share.filter.pattern;
  const denied = policy.receiveAll(user, pattern);
  if (denied) return denied.message;
  let group = groups.get(share.group);
  if (group === undefined) {
    if (groups.madeBy(user) >= limits.maxGroups) return `the user made ${limits.maxGroups} groups, the most one may (--max-groups)`;
    // Sends before the SUBSCRIBE are committed first; the group starts after them.
    await turn.ended();
    try {
      group = groups.get(share.group) ?? (await groups.create({ name: share.group, pattern, position: reader.lastId(), waitMs: GROUP_DEFAULTS.waitMs, tries: GROUP_DEFAULTS.tries, creator: user }));
    } catch (error) {
      // Cluster mode: the engine did not answer.
      if (!(error instanceof ProtocolError)) throw error;
      return error.message;
    }
  }
  if (group.pattern !== pattern) return `group ${group.name} takes ${group.pattern}, not ${pattern}`;
  outbound.attachments.joined(group.join(outbound, Math.min(limits.mqttInflight, limits.maxAckPending)));
  return undefined;
}

/** Leaves `share`'s group: its jobs go back at once. */
export function leaveShare(outbound: Outbound, share: ShareSubscription, services: MqttServices): void {
  const group = services.groups.get(share.group);
  if (group !== undefined) outbound.attachments.leaveGroup(group);
}
