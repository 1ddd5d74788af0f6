/**
 * Why the MQTT door closes a connection, in one table (MQTT.md, "Refusals
 * and limits"). The key is stable: it is the `reason` label of
 * `linebus_mqtt_refused_total` and the word the log line starts with; the
 * text is for the operator reading that log and says what the client did.
 * MQTT 3.1.1 has no way to tell a client why (except CONNACK's codes), so
 * the log is where the answer is.
 */
export const MQTT_REFUSALS = {
  'too-large': 'the packet declares a remaining length over the limit (--max-line plus its headers)',
  malformed: 'the bytes are not a well-formed MQTT 3.1.1 or 3.1 packet',
  'reserved-flags': 'a reserved flag bit is set (fixed header, CONNECT flags or subscription options) [MQTT-2.2.2-2]',
  'first-not-connect': 'the first packet is not CONNECT [MQTT-3.1.0-1]',
  'second-connect': 'a second CONNECT on one connection [MQTT-3.1.0-2]',
  'server-packet': 'the client sent a packet only a server sends (CONNACK, SUBACK, UNSUBACK, PINGRESP)',
  'protocol-name': "the CONNECT's protocol name is neither 'MQTT' nor 'MQIsdp' [MQTT-3.1.2-1]",
  'protocol-version': 'the CONNECT asks for a protocol level other than 4 (MQTT 3.1.1) or 3 (MQTT 3.1); answered CONNACK 1 [MQTT-3.1.2-2]',
  'packet-id-zero': 'a packet identifier of 0 [MQTT-2.3.1-1]',
  'no-filters': 'a SUBSCRIBE or UNSUBSCRIBE without a topic filter [MQTT-3.8.3-3, MQTT-3.10.3-2]',
  'not-utf8': 'a string (topic, filter, client identifier, user name) is not valid UTF-8 [MQTT-1.5.3-1]',
  nul: 'a string contains U+0000 [MQTT-1.5.3-2]',
  'topic-empty': 'an empty topic name or filter [MQTT-4.7.3-1]',
  'topic-wildcard': "a topic name with '+' or '#' [MQTT-3.3.2-2]",
  'filter-wildcard': "a filter whose '+' or '#' is not a whole level, or whose '#' is not the last [MQTT-4.7.1-2, MQTT-4.7.1-3]",
  'topic-too-long': 'the topic or filter is over 255 bytes once mapped to a linebus name',
  'share-invalid': "a '$share/<group>/<filter>' whose group is not 1 to 64 letters, digits, '-', '_' or '.', or that has no filter",
  'payload-too-long': 'a PUBLISH payload (or will message) over --max-line bytes',
  'payload-newline': 'a PUBLISH payload (or will message) with LF or CR: a message is one line',
  'payload-nul': 'a PUBLISH payload (or will message) with a NUL byte',
  'payload-not-utf8': 'a PUBLISH payload (or will message) that is not UTF-8 text',
} as const;

export type MqttRefusalReason = keyof typeof MQTT_REFUSALS;

/** A refusal: the reason, what exactly was wrong, and the CONNACK code to answer first, if any. */
export interface MqttRefusal {
  readonly reason: MqttRefusalReason;
  readonly detail: string;
  /** Written as CONNACK before the close: 1 for an unacceptable protocol level. */
  readonly connack?: number;
}

/** A result that is either a value or the refusal that stops it. */
export type Checked<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly reason: MqttRefusalReason };

export function accepted<T>(value: T): Checked<T> {
  return { ok: true, value };
}

export function refused<T>(reason: MqttRefusalReason): Checked<T> {
  return { ok: false, reason };
}
