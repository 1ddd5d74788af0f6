/**
 * The checks mqtt-packet leaves to its caller, on a whole packet's bytes
 * before it parses them: the protocol name and level of a CONNECT (it
 * would parse a level-5 CONNECT as MQTT 5), the UTF-8 of every string (it
 * decodes leniently, turning bad bytes into U+FFFD), NUL, zero packet
 * identifiers, SUBSCRIBEs without filters, reserved bits of CONNECT flags
 * and subscription options, a password without a user name, and bytes
 * after a CONNECT's last field.
 */
import { isUtf8 } from 'node:buffer';
import { PacketType, packetName } from './framer.js';
import type { MqttRefusal, MqttRefusalReason } from './refusals.js';

/** 4: MQTT 3.1.1 ('MQTT'); 3: MQTT 3.1 ('MQIsdp'). */
export type ProtocolLevel = 3 | 4;

const PROTOCOLS: Readonly<Record<string, ProtocolLevel>> = { MQTT: 4, MQIsdp: 3 };

/** The fields of a packet's variable header and payload, read in order with bounds checked. */
export class Fields {
  pos: number;
  readonly #bytes: Buffer;

  constructor(bytes: Buffer, start: number) {
    this.#bytes = bytes;
    this.pos = start;
  }

  get left(): number {
    return this.#bytes.length - this.pos;
  }

  byte(): number | undefined {
    return this.left >= 1 ? this.#bytes[this.pos++] : undefined;
  }

  u16(): number | undefined {
    if (this.left < 2) return undefined;
    const value = this.#bytes.readUInt16BE(this.pos);
    this.pos += 2;
    return value;
  }

  /** A length-prefixed field's bytes. */
  binary(): Buffer | undefined {
    const length = this.u16();
    if (length === undefined || this.left < length) return undefined;
    this.pos += length;
    return this.#bytes.subarray(this.pos - length, this.pos);
  }

  /** A UTF-8 string [MQTT-1.5.3]: what is wrong with it, or undefined. */
  string(): MqttRefusalReason | undefined {
    const bytes = this.binary();
    if (bytes === undefined) return 'malformed';
    if (!isUtf8(bytes)) return 'not-utf8';
    if (bytes.includes(0)) return 'nul';
    return undefined;
  }
}

const CONNECT_WILL = 0x04;
const CONNECT_WILL_QOS = 0x18;
const CONNECT_WILL_RETAIN = 0x20;
const CONNECT_PASSWORD = 0x40;
const CONNECT_USER = 0x80;

function refusal(reason: MqttRefusalReason, detail: string): MqttRefusal {
  return { reason, detail };
}

/** Checks a whole CONNECT's bytes before mqtt-packet parses them. */
export function connectProblem(fields: Fields): MqttRefusal | undefined {
  const name = fields.binary();
  const level = fields.byte();
  if (name === undefined || level === undefined) return refusal('malformed', 'CONNECT too short for its protocol name and level');
  const protocol = name.toString('latin1');
  const wanted = PROTOCOLS[protocol];
  if (wanted === undefined) return refusal('protocol-name', `protocol name ${JSON.stringify(protocol)}`);
  if (level !== wanted) return { reason: 'protocol-version', detail: `protocol ${protocol} level ${level}`, connack: 1 };
  const flags = fields.byte();
  if (flags === undefined || fields.u16() === undefined) return refusal('malformed', 'CONNECT too short for its flags and keep-alive');
  if (flags & 0x01) return refusal('reserved-flags', 'CONNECT flags with the reserved bit 0 set [MQTT-3.1.2-3]');
  const will = (flags & CONNECT_WILL) !== 0;
  if ((flags & CONNECT_WILL_QOS) === CONNECT_WILL_QOS) return refusal('malformed', 'will QoS 3 [MQTT-3.1.2-14]');
  if (!will && flags & (CONNECT_WILL_QOS | CONNECT_WILL_RETAIN)) return refusal('malformed', 'will QoS or retain without a will [MQTT-3.1.2-13]');
  if (flags & CONNECT_PASSWORD && !(flags & CONNECT_USER)) return refusal('malformed', 'a password without a user name [MQTT-3.1.2-22]');
  const clientId = fields.string();
  if (clientId) return refusal(clientId, 'CONNECT client identifier');
  if (will) {
    const topic = fields.string();
    if (topic) return refusal(topic, 'CONNECT will topic');
    // The will message is binary to MQTT; payload.ts judges it as a body.
    if (fields.binary() === undefined) return refusal('malformed', 'CONNECT will message');
  }
  if (flags & CONNECT_USER) {
    const user = fields.string();
    if (user) return refusal(user, 'CONNECT user name');
  }
  if (flags & CONNECT_PASSWORD && fields.binary() === undefined) return refusal('malformed', 'CONNECT password');
  if (fields.left !== 0) return refusal('malformed', `${fields.left} bytes after the CONNECT's last field`);
  return undefined;
}

function packetIdProblem(fields: Fields, name: string): MqttRefusal | undefined {
  const id = fields.u16();
  if (id === undefined) return refusal('malformed', `${name} without its packet identifier`);
  return id === 0 ? refusal('packet-id-zero', name) : undefined;
}

/** Checks what mqtt-packet does not in any packet but CONNECT. */
export function fieldsProblem(type: number, qos: number, fields: Fields): MqttRefusal | undefined {
  const name = packetName(type);
  if (type === PacketType.PUBLISH) {
    const problem = fields.string();
    if (problem) return refusal(problem, 'PUBLISH topic name');
    return qos > 0 ? packetIdProblem(fields, name) : undefined;
  }
  if (type === PacketType.PINGREQ || type === PacketType.DISCONNECT) return undefined;
  const idProblem = packetIdProblem(fields, name);
  if (idProblem) return idProblem;
  if (type !== PacketType.SUBSCRIBE && type !== PacketType.UNSUBSCRIBE) return undefined;
  if (fields.left === 0) return refusal('no-filters', name);
  while (fields.left > 0) {
    const problem = fields.string();
    if (problem) return refusal(problem, `${name} topic filter`);
    if (type === PacketType.UNSUBSCRIBE) continue;
    const options = fields.byte();
    if (options === undefined) return refusal('malformed', 'SUBSCRIBE filter without its QoS byte');
    if (options & 0xfc) return refusal('reserved-flags', `SUBSCRIBE options 0x${options.toString(16)} [MQTT-3.8.3-4]`);
    if (options === 3) return refusal('malformed', 'SUBSCRIBE with QoS 3 [MQTT-3.8.3-4]');
  }
  return undefined;
}
