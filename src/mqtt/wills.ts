/**
 * Wills (MQTT.md, "Retained messages and wills"): checked at CONNECT like
 * a PUBLISH (topic, payload, QoS), kept with the connection, dropped by
 * DISCONNECT, and published (journaled, then delivered, retained if
 * asked, the write rule checked) when the connection ends any other way.
 * Not on the daemon's own shutdown, and not across a crash: wills are not
 * kept in the database.
 */
import type { IConnectPacket } from 'mqtt-packet';
import type { Qos } from '../protocol/events.js';
import type { MqttServices } from './context.js';
import { payloadBody } from './payload.js';
import { accepted } from './refusals.js';
import type { Checked } from './refusals.js';
import { retainedWrite } from './retained.js';
import { linebusTopic } from './topics.js';

export interface Will {
  /** Its linebus topic. */
  readonly topic: string;
  readonly body: string;
  readonly qos: Qos;
  readonly retain: boolean;
}

/** The CONNECT's will, if it has one, or why it is refused. */
export function willOf(packet: IConnectPacket, maxLine: number): Checked<Will | undefined> {
  const will = packet.will;
  if (will === undefined || will === null) return accepted(undefined);
  const topic = linebusTopic(will.topic);
  if (!topic.ok) return topic;
  const body = payloadBody(will.payload as Buffer, maxLine);
  if (!body.ok) return body;
  return accepted({ topic: topic.value, body: body.value, qos: will.qos ?? 0, retain: will.retain === true });
}

/** Publishes `will` as `user`'s (the client's identity, for the log). */
export function publishWill(will: Will, user: string, client: Record<string, string | number | undefined>, services: MqttServices): void {
  const { policy, broker, logger, mqtt, store } = services;
  const denied = policy.send(user, will.topic);
  if (denied) {
    mqtt.publishesDenied++;
    logger.log('warn', 'mqtt will denied', { ...client, topic: will.topic, error: denied.message });
    return;
  }
  mqtt.wills++;
  broker.publish({
    origin: undefined,
    topic: will.topic,
    sender: user,
    body: will.body,
    qos: will.qos,
    staged: will.retain ? retainedWrite(store, will.topic, user, will.body, will.qos) : undefined,
    done: (result) => {
      if (typeof result === 'number') logger.log('info', 'mqtt will published', { ...client, topic: will.topic, id: result });
      else logger.log('error', 'mqtt will could not be journaled', { ...client, topic: will.topic, error: result.message });
    },
  });
}
