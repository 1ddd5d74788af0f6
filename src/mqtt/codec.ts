/**
 * Bytes in, MQTT packets out, over mqtt-packet (the parser and generator of
 * the MQTT.js project, as aedes uses them), with what it leaves to its
 * caller checked here: the size of a packet before it is buffered
 * (framer.ts), the protocol level before the CONNECT is parsed (mqtt-packet
 * would parse a level-5 CONNECT as MQTT 5), the UTF-8 of every string
 * (mqtt-packet decodes leniently, turning bad bytes into U+FFFD), NUL,
 * zero packet identifiers, empty SUBSCRIBEs, reserved bits of CONNECT
 * flags and subscription options, and the order of CONNECT.
 *
 * The decoder stops at the first refusal: the door closes the connection
 * (after CONNACK 1 for an unacceptable protocol level) and nothing the
 * client sent after it is read.
 */
import { generate, parser as packetParser } from 'mqtt-packet';
import type {
  IConnackPacket,
  IConnectPacket,
  IDisconnectPacket,
  IPingreqPacket,
  IPingrespPacket,
  IPubackPacket,
  IPubcompPacket,
  IPublishPacket,
  IPubrecPacket,
  IPubrelPacket,
  ISubackPacket,
  ISubscribePacket,
  IUnsubackPacket,
  IUnsubscribePacket,
  Packet,
} from 'mqtt-packet';
import type { Qos } from '../protocol/events.js';
import { Fields, connectProblem, fieldsProblem } from './fields.js';
import { FixedHeaderReader, MQTT31_DUP, PacketType, firstByteProblem, lengthProblem, packetName } from './framer.js';
import type { ProtocolLevel } from './fields.js';
import type { MqttRefusal } from './refusals.js';

export type ClientPacket =
  | IConnectPacket
  | IPublishPacket
  | IPubackPacket
  | IPubrecPacket
  | IPubrelPacket
  | IPubcompPacket
  | ISubscribePacket
  | IUnsubscribePacket
  | IPingreqPacket
  | IDisconnectPacket;

export type ServerPacket =
  | IConnackPacket
  | IPublishPacket
  | IPubackPacket
  | IPubrecPacket
  | IPubrelPacket
  | IPubcompPacket
  | ISubackPacket
  // mqtt-packet's type wants MQTT 5's reason codes, which MQTT 3.1.1's UNSUBACK has not.
  | Omit<IUnsubackPacket, 'granted'>
  | IPingrespPacket;

/**
 * One connection's decoder: `write` its bytes as they come; each whole,
 * valid packet goes to `onPacket`, in order; the first refusal goes to
 * `onRefused`, after which input is ignored.
 */
export class MqttDecoder {
  readonly #maxLine: number;
  readonly #onPacket: (packet: ClientPacket) => void;
  readonly #onRefused: (refusal: MqttRefusal) => void;
  readonly #parser = packetParser({ protocolVersion: 4 });
  readonly #header = new FixedHeaderReader();
  /** The packet being filled, header and all, once its header is read. */
  #packet: Buffer | undefined;
  #filled = 0;
  #level: ProtocolLevel | undefined;
  #refused = false;
  #parsed: Packet | undefined;
  #parseError: Error | undefined;

  constructor(maxLine: number, onPacket: (packet: ClientPacket) => void, onRefused: (refusal: MqttRefusal) => void) {
    this.#maxLine = maxLine;
    this.#onPacket = onPacket;
    this.#onRefused = onRefused;
    this.#parser.on('packet', (packet: Packet) => (this.#parsed = packet));
    this.#parser.on('error', (error: Error) => (this.#parseError = error));
  }

  /** The CONNECT's protocol level, once one was accepted. */
  get level(): ProtocolLevel | undefined {
    return this.#level;
  }

  /** Bytes held for a packet not yet whole. */
  get buffered(): number {
    return this.#header.length + this.#filled;
  }

  write(chunk: Buffer): void {
    let at = 0;
    while (at < chunk.length && !this.#refused) {
      const packet = this.#packet;
      if (packet === undefined && this.#header.length === 0) {
        const whole = this.#wholePacketAt(chunk, at);
        if (whole > 0) {
          this.#handle(chunk.subarray(at, at + whole));
          at += whole;
          continue;
        }
      }
      if (packet !== undefined) {
        const take = Math.min(chunk.length - at, packet.length - this.#filled);
        chunk.copy(packet, this.#filled, at, at + take);
        this.#filled += take;
        at += take;
        if (this.#filled === packet.length) {
          this.#packet = undefined;
          this.#filled = 0;
          this.#handle(packet);
        }
        continue;
      }
      const byte = chunk[at++] as number;
      const header = this.#header.push(byte);
      if (this.#header.length === 1) {
        const problem = firstByteProblem(byte, this.#level !== undefined, this.#level);
        if (problem) this.#refuse(problem);
        continue;
      }
      if (header === undefined) continue;
      if ('refusal' in header) {
        this.#refuse(header.refusal);
        continue;
      }
      const problem = lengthProblem((this.#header.bytes[0] as number) >> 4, header.remaining, this.#maxLine);
      if (problem) {
        this.#refuse(problem);
        continue;
      }
      // A packet whole in this chunk went by #wholePacketAt: this one is cut.
      const headerLength = this.#header.length;
      const total = headerLength + header.remaining;
      const whole = Buffer.allocUnsafe(total);
      whole.set(this.#header.bytes);
      this.#header.reset();
      if (total === headerLength) {
        this.#handle(whole);
      } else {
        this.#packet = whole;
        this.#filled = headerLength;
      }
    }
  }

  /**
   * The length of the packet starting at `at` when all of it is in
   * `chunk` and its fixed header passes (most packets, most of the time:
   * judged without the byte-by-byte reader); 0 otherwise, and then the
   * reader takes it, refusals included, as it comes.
   */
  #wholePacketAt(chunk: Buffer, at: number): number {
    let remaining = 0;
    let multiplier = 1;
    for (let i = at + 1; i < chunk.length && i <= at + 4; i++) {
      const byte = chunk[i] as number;
      remaining += (byte & 0x7f) * multiplier;
      multiplier *= 128;
      if (byte & 0x80) continue;
      const total = i + 1 - at + remaining;
      const first = chunk[at] as number;
      if (at + total > chunk.length || firstByteProblem(first, this.#level !== undefined, this.#level) || lengthProblem(first >> 4, remaining, this.#maxLine)) return 0;
      return total;
    }
    return 0;
  }

  #refuse(problem: MqttRefusal): void {
    this.#refused = true;
    this.#packet = undefined;
    this.#filled = 0;
    this.#header.reset();
    this.#onRefused(problem);
  }

  /** A whole packet whose fixed header passed. */
  #handle(bytes: Buffer): void {
    const first = bytes[0] as number;
    const type = first >> 4;
    let body = 1;
    while ((bytes[body++] as number) & 0x80);
    const fields = new Fields(bytes, body);
    const problem = type === PacketType.CONNECT ? connectProblem(fields) : fieldsProblem(type, (first >> 1) & 3, fields);
    if (problem) return this.#refuse(problem);
    if (type === PacketType.PUBLISH) return this.#onPacket(publishOf(bytes, body, first));
    // mqtt-packet knows MQTT 3.1's DUP on these only as reserved flags.
    const input = first & MQTT31_DUP && type !== PacketType.PUBLISH ? Buffer.from(bytes).fill(first & ~MQTT31_DUP, 0, 1) : bytes;
    this.#parsed = undefined;
    this.#parseError = undefined;
    this.#parser.parse(input);
    // Both are set by the parser's events, synchronously, inside parse().
    const parsed = this.#parsed as ClientPacket | undefined;
    const error = this.#parseError as Error | undefined;
    if (error || parsed === undefined) return this.#refuse({ reason: 'malformed', detail: `${packetName(type)}: ${error?.message ?? 'not parsed'}` });
    if (parsed.cmd === 'connect') this.#level = parsed.protocolVersion === 3 ? 3 : 4;
    this.#onPacket(parsed);
  }
}

/**
 * A PUBLISH whose fields passed fieldsProblem, read here rather than by
 * mqtt-packet: every message in is one, and its parser (a BufferList, a
 * debug check per field) was the door's largest cost per message in.
 * The same packet, tested against mqtt-packet's.
 */
function publishOf(bytes: Buffer, body: number, first: number): IPublishPacket {
  const qos = ((first >> 1) & 3) as Qos;
  const topicEnd = body + 2 + bytes.readUInt16BE(body);
  const packet: IPublishPacket = { cmd: 'publish', retain: (first & 0x01) !== 0, qos, dup: (first & 0x08) !== 0, length: bytes.length - body, topic: bytes.toString('utf8', body + 2, topicEnd), payload: bytes.subarray(qos > 0 ? topicEnd + 2 : topicEnd) };
  if (qos > 0) packet.messageId = bytes.readUInt16BE(topicEnd);
  return packet;
}

/** The first byte of the acknowledgements that are only a packet identifier. */
const ACKS: Readonly<Record<string, number>> = { puback: 0x40, pubrec: 0x50, pubrel: 0x62, pubcomp: 0x70 };

/** A packet for the client, in its protocol level's encoding. */
export function encode(packet: ServerPacket, level: ProtocolLevel): Buffer {
  const ack = ACKS[packet.cmd];
  if (ack !== undefined) {
    // The busiest packets after PUBLISH: four bytes, not worth the generator.
    const id = (packet as IPubackPacket).messageId as number;
    return Buffer.from([ack, 2, id >> 8, id & 0xff]);
  }
  // MQTT 3.1's CONNACK has no session-present flag: the byte is reserved.
  const sent = packet.cmd === 'connack' && level === 3 ? { ...packet, sessionPresent: false } : packet;
  return generate(sent as Packet, { protocolVersion: level });
}

/**
 * A PUBLISH for the client, encoded by hand: every delivery makes one, and
 * this is several times faster than mqtt-packet's generate (which checks
 * and converts what is known to be right here). Same bytes, tested.
 */
export function encodePublish(topic: string, body: string, qos: Qos, dup: boolean, retain: boolean, packetId: number | undefined): Buffer {
  const topicBytes = Buffer.byteLength(topic);
  const remaining = 2 + topicBytes + (qos > 0 ? 2 : 0) + Buffer.byteLength(body);
  const lengthBytes = remaining < 0x80 ? 1 : remaining < 0x4000 ? 2 : remaining < 0x200000 ? 3 : 4;
  const packet = Buffer.allocUnsafe(1 + lengthBytes + remaining);
  packet[0] = 0x30 | (dup ? 0x08 : 0) | (qos << 1) | (retain ? 0x01 : 0);
  let at = 1;
  let rest = remaining;
  do {
    const byte = rest & 0x7f;
    rest >>>= 7;
    packet[at++] = rest > 0 ? byte | 0x80 : byte;
  } while (rest > 0);
  packet.writeUInt16BE(topicBytes, at);
  at += 2 + packet.write(topic, at + 2, 'utf8');
  if (qos > 0) at = packet.writeUInt16BE(packetId as number, at);
  packet.write(body, at, 'utf8');
  return packet;
}
