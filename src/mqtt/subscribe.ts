/**
 * SUBSCRIBE and UNSUBSCRIBE (MQTT.md, "Topics", "Identity and access",
 * "Shared subscriptions"). A filter the user may read no topic of, or one
 * over --max-subscriptions, gets 0x80 and the others of the packet are
 * granted; a kept session's filters are written before the SUBACK; a new
 * subscription (or a repeated one) gets its retained messages after it.
 */
import type { ISubscribePacket, IUnsubscribePacket } from 'mqtt-packet';
import type { Qos } from '../protocol/events.js';
import type { StoredSubscription } from '../store/mqtt.js';
import type { MqttClient } from './client.js';
import type { MqttServices } from './context.js';
import { who } from './context.js';
import { SUBACK_FAILURE } from './qos.js';
import { sendRetained } from './retained.js';
import { joinShare, leaveShare } from './shares.js';
import { filterPatterns, parseSubscriptionFilter } from './topics.js';
import type { MqttFilter } from './topics.js';

export function subscribe(client: MqttClient, packet: ISubscribePacket, services: MqttServices): void {
  client.hold(async () => {
    const { session, outbound, user } = client;
    const { policy, limits, reader, store, logger } = services;
    const granted: number[] = [];
    const retainedFor: { filter: MqttFilter; qos: Qos }[] = [];
    const kept: StoredSubscription[] = [];
    const refuse = (filter: string, why: string): void => {
      granted.push(SUBACK_FAILURE);
      logger.log('info', 'mqtt subscription refused', { ...who(client), filter, why });
    };
    for (const { topic: text, qos } of packet.subscriptions) {
      const parsed = parseSubscriptionFilter(text);
      if (!parsed.ok) return client.refuse({ reason: parsed.reason, detail: `SUBSCRIBE filter ${JSON.stringify(text)}` });
      const { group, filter } = parsed.value;
      const had = group === undefined ? session.subscriptions.get(text) !== undefined : session.shares.has(text);
      if (!had && session.filterCount >= limits.maxSubscriptions) {
        refuse(text, `the session has ${session.filterCount} subscriptions, the most one may (--max-subscriptions)`);
        continue;
      }
      if (group !== undefined) {
        const share = { text, group, filter, qos };
        const why = had ? undefined : await joinShare(user, outbound, share, services);
        if (why !== undefined) {
          refuse(text, why);
          continue;
        }
        session.shares.set(text, share);
        kept.push({ filter: text, qos, since: 0 });
        granted.push(qos);
        continue;
      }
      if (filterPatterns(filter).every((pattern) => policy.reach(user, pattern) === 'none')) {
        refuse(text, 'the access file lets the user read no topic of it');
        continue;
      }
      for (const pattern of session.subscriptions.subscribe(filter, qos, reader.lastId())) outbound.subscribe(pattern);
      kept.push({ filter: text, qos, since: (session.subscriptions.get(text) as { since: number }).since });
      retainedFor.push({ filter, qos });
      granted.push(qos);
    }
    if (session.kept && kept.length > 0) store.subscribe(session.key, kept);
    client.send({ cmd: 'suback', messageId: packet.messageId as number, granted });
    for (const { filter, qos } of retainedFor) await sendRetained(store, outbound, filter, qos);
  });
}

export function unsubscribe(client: MqttClient, packet: IUnsubscribePacket, services: MqttServices): void {
  const { session, outbound } = client;
  for (const text of packet.unsubscriptions) {
    const parsed = parseSubscriptionFilter(text);
    if (!parsed.ok) return client.refuse({ reason: parsed.reason, detail: `UNSUBSCRIBE filter ${JSON.stringify(text)}` });
    const share = session.shares.get(text);
    if (parsed.value.group === undefined) {
      for (const pattern of session.subscriptions.unsubscribe(text)) outbound.unsubscribe(pattern);
    } else if (share !== undefined) {
      session.shares.delete(text);
      leaveShare(outbound, share, services);
    }
  }
  if (session.kept) services.store.unsubscribe(session.key, packet.unsubscriptions);
  client.send({ cmd: 'unsuback', messageId: packet.messageId as number });
}
