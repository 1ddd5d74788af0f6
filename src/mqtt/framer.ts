/**
 * MQTT's fixed header, read byte by byte so that a packet is judged before
 * its body is buffered: its type and flags from the first byte, its
 * declared remaining length from the next one to four. mqtt-packet's
 * parser appends every byte it is given until the declared length has
 * arrived (it has no size limit), so it only ever sees whole packets that
 * passed here.
 */
import { MAX_TOPIC_BYTES } from '../protocol/topic.js';
import type { MqttRefusal } from './refusals.js';

export const PacketType = {
  CONNECT: 1,
  CONNACK: 2,
  PUBLISH: 3,
  PUBACK: 4,
  PUBREC: 5,
  PUBREL: 6,
  PUBCOMP: 7,
  SUBSCRIBE: 8,
  SUBACK: 9,
  UNSUBSCRIBE: 10,
  UNSUBACK: 11,
  PINGREQ: 12,
  PINGRESP: 13,
  DISCONNECT: 14,
} as const;

const NAMES = ['reserved', 'CONNECT', 'CONNACK', 'PUBLISH', 'PUBACK', 'PUBREC', 'PUBREL', 'PUBCOMP', 'SUBSCRIBE', 'SUBACK', 'UNSUBSCRIBE', 'UNSUBACK', 'PINGREQ', 'PINGRESP', 'DISCONNECT', 'reserved'];

export function packetName(type: number): string {
  return NAMES[type] ?? 'reserved';
}

/**
 * A CONNECT's bytes besides its will message: protocol name and level,
 * flags, keep-alive, client identifier, will topic, user name, password.
 */
export const CONNECT_HEADER_BYTES = 4096;
/**
 * A PUBLISH's bytes besides its payload: the topic's length, the topic
 * (mapping never shrinks a name, so one over 255 bytes could not be
 * published anyway) and a packet identifier. A bigger PUBLISH would be
 * refused once parsed: refusing it from its header loses nothing.
 */
export const PUBLISH_HEADER_BYTES = 2 + MAX_TOPIC_BYTES + 2;

/** The largest remaining length a packet of `type` may declare, or its exact one. */
export function remainingLengthLimit(type: number, maxLine: number): { max: number; exact: boolean } {
  switch (type) {
    case PacketType.CONNECT:
      return { max: maxLine + CONNECT_HEADER_BYTES, exact: false };
    case PacketType.PUBLISH:
      return { max: maxLine + PUBLISH_HEADER_BYTES, exact: false };
    case PacketType.SUBSCRIBE:
    case PacketType.UNSUBSCRIBE:
      // A packet identifier and the filters, a line's worth of them.
      return { max: maxLine + 2, exact: false };
    case PacketType.PUBACK:
    case PacketType.PUBREC:
    case PacketType.PUBREL:
    case PacketType.PUBCOMP:
      return { max: 2, exact: true };
    default:
      // PINGREQ and DISCONNECT (the only other types that get this far).
      return { max: 0, exact: true };
  }
}

/** The flags each client packet type must carry in the first byte's low four bits [MQTT-2.2.2-1]. */
const REQUIRED_FLAGS: Readonly<Record<number, number>> = {
  [PacketType.CONNECT]: 0,
  [PacketType.PUBACK]: 0,
  [PacketType.PUBREC]: 0,
  [PacketType.PUBREL]: 2,
  [PacketType.SUBSCRIBE]: 2,
  [PacketType.PUBCOMP]: 0,
  [PacketType.UNSUBSCRIBE]: 2,
  [PacketType.PINGREQ]: 0,
  [PacketType.DISCONNECT]: 0,
};

/** MQTT 3.1 let PUBREL, SUBSCRIBE and UNSUBSCRIBE carry DUP when sent again. */
export const MQTT31_DUP = 0x08;

/**
 * Why a packet whose first byte is `first` is refused, or undefined.
 * `connected`: a CONNECT came before; `level`: its protocol level.
 */
export function firstByteProblem(first: number, connected: boolean, level: number | undefined): MqttRefusal | undefined {
  const type = first >> 4;
  const flags = first & 0x0f;
  const name = packetName(type);
  if (type === 0 || type === 15) return { reason: 'malformed', detail: `packet type ${type} is reserved` };
  if (!connected && type !== PacketType.CONNECT) return { reason: 'first-not-connect', detail: `the first packet is ${name}` };
  if (connected && type === PacketType.CONNECT) return { reason: 'second-connect', detail: 'a second CONNECT' };
  if (type === PacketType.CONNACK || type === PacketType.SUBACK || type === PacketType.UNSUBACK || type === PacketType.PINGRESP) {
    return { reason: 'server-packet', detail: `the client sent ${name}` };
  }
  if (type === PacketType.PUBLISH) {
    const qos = (flags >> 1) & 3;
    if (qos === 3) return { reason: 'malformed', detail: 'PUBLISH with QoS 3 [MQTT-3.3.1-4]' };
    if (qos === 0 && flags & 0x08) return { reason: 'malformed', detail: 'PUBLISH with QoS 0 and DUP set [MQTT-3.3.1-2]' };
    return undefined;
  }
  const required = REQUIRED_FLAGS[type] as number;
  if (flags === required || (level === 3 && required === 2 && flags === (required | MQTT31_DUP))) return undefined;
  return { reason: 'reserved-flags', detail: `${name} with flags 0x${flags.toString(16)}, not 0x${required.toString(16)}` };
}

/** Why a packet of `type` declaring `remaining` bytes is refused, or undefined. */
export function lengthProblem(type: number, remaining: number, maxLine: number): MqttRefusal | undefined {
  const { max, exact } = remainingLengthLimit(type, maxLine);
  const name = packetName(type);
  if (exact && remaining !== max) return { reason: 'malformed', detail: `${name} with remaining length ${remaining}, not ${max}` };
  if (remaining > max) return { reason: 'too-large', detail: `${name} declares ${remaining} bytes, over the limit of ${max}` };
  return undefined;
}

/**
 * Reads fixed headers from a stream of bytes, one byte at a time. `push`
 * returns undefined while the header is unfinished, then the header, or a
 * refusal; `reset` starts the next one.
 */
export class FixedHeaderReader {
  readonly #bytes: number[] = [];

  /** How many bytes of the header are in. */
  get length(): number {
    return this.#bytes.length;
  }

  get bytes(): readonly number[] {
    return this.#bytes;
  }

  push(byte: number): { remaining: number } | { refusal: MqttRefusal } | undefined {
    this.#bytes.push(byte);
    if (this.#bytes.length === 1) return undefined;
    if (byte & 0x80) {
      // Four length bytes at most [MQTT-2.2.3]: a fifth would be malformed.
      if (this.#bytes.length === 5) return { refusal: { reason: 'malformed', detail: 'a remaining length of more than four bytes' } };
      return undefined;
    }
    let remaining = 0;
    for (let i = this.#bytes.length - 1; i >= 1; i--) remaining = remaining * 128 + ((this.#bytes[i] as number) & 0x7f);
    return { remaining };
  }

  reset(): void {
    this.#bytes.length = 0;
  }
}
