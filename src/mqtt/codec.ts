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
    // Where the packet whose header is being read began in this chunk (-1: in an earlier one).
    let start = -1;
    while (at < chunk.length && !this.#refused) {
      const packet = this.#packet;
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
      if (this.#header.length === 0) start = at;
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
      const headerLength = this.#header.length;
      const total = headerLength + header.remaining;
      if (start !== -1 && start + total <= chunk.length) {
        // The whole packet is in this chunk: no copy.
        this.#header.reset();
        at = start + total;
        this.#handle(chunk.subarray(start, at));
        continue;
      }
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

/** A packet for the client, in its protocol level's encoding. */
export function encode(packet: ServerPacket, level: ProtocolLevel): Buffer {
  // MQTT 3.1's CONNACK has no session-present flag: the byte is reserved.
  const sent = packet.cmd === 'connack' && level === 3 ? { ...packet, sessionPresent: false } : packet;
  return generate(sent as Packet, { protocolVersion: level });
}
