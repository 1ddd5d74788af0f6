/**
 * A client's PUBLISH and PUBREL (MQTT.md, "Messages"). Every accepted
 * PUBLISH, whatever its QoS, is journaled before anyone receives it, as
 * the `send` handler does (Policy, then Broker): QoS 1 is answered PUBACK
 * and QoS 2 PUBREC after the commit, in the order the packets came. A
 * QoS 2 identifier is held from its PUBLISH to its PUBREL (kept in the
 * database with the message for a kept session), so a PUBLISH sent again
 * in between is answered and not journaled twice. A payload that is not
 * one line of UTF-8 closes the connection, journaling nothing.
 */
import type { IPublishPacket } from 'mqtt-packet';
import type { MqttClient } from './client.js';
import type { MqttServices } from './context.js';
import { who } from './context.js';
import { payloadBody } from './payload.js';
import { retainedWrite, together } from './retained.js';
import { linebusTopic } from './topics.js';

export function publish(client: MqttClient, packet: IPublishPacket, services: MqttServices): void {
  const topic = linebusTopic(packet.topic);
  if (!topic.ok) return client.refuse({ reason: topic.reason, detail: `PUBLISH topic ${JSON.stringify(packet.topic)}` });
  const payload = packet.payload as Buffer;
  const body = payloadBody(payload, services.limits.maxLine);
  if (!body.ok) return client.refuse({ reason: body.reason, detail: `PUBLISH to ${packet.topic}, ${payload.length} bytes` });
  const { qos } = packet;
  const packetId = packet.messageId as number;
  const denied = services.policy.send(client.user, topic.value);
  if (denied) {
    // MQTT 3.1.1 has no refusal of a PUBLISH: acknowledged as usual, and dropped.
    services.mqtt.publishesDenied++;
    services.logger.log('warn', 'mqtt publish denied', { ...who(client), topic: topic.value });
    if (qos === 1) client.send({ cmd: 'puback', messageId: packetId });
    if (qos === 2) client.send({ cmd: 'pubrec', messageId: packetId });
    return;
  }
  const session = client.session;
  if (qos === 2 && session.received.publish(packetId) === 'repeat') return client.send({ cmd: 'pubrec', messageId: packetId });
  const answer = qos === 0 ? undefined : client.later();
  services.broker.publish({
    origin: undefined,
    topic: topic.value,
    sender: client.user,
    body: body.value,
    qos,
    staged: together(qos === 2 ? session.receivedWrite(packetId) : undefined, packet.retain ? retainedWrite(services.store, topic.value, client.user, body.value, qos) : undefined),
    done: (result) => {
      if (typeof result === 'number') {
        if (answer !== undefined) answer({ cmd: qos === 1 ? 'puback' : 'pubrec', messageId: packetId });
        return;
      }
      if (qos === 2) session.received.release(packetId);
      // Unacknowledged, the client sends it again when it reconnects.
      answer?.(undefined);
      if (qos > 0) client.fail('journal failed', result.message);
    },
  });
}

/** PUBREL: the identifier is released (its row deleted first, for a kept session), then PUBCOMP. */
export function pubrel(client: MqttClient, packetId: number): void {
  const answer = client.later();
  const pubcomp = (): void => answer({ cmd: 'pubcomp', messageId: packetId });
  if (client.session.received.release(packetId) === 'released') client.session.released(packetId, pubcomp);
  else pubcomp();
}
