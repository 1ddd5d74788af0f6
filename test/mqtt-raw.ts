/**
 * An MQTT client of raw packets for the tests that must say exactly what
 * goes over the wire (a PUBLISH sent twice, a DUP, bad bytes): packets are
 * written as mqtt-packet objects or bytes, and read back one at a time,
 * awaited, never slept for. Real clients (mosquitto, paho, MQTT.js) do
 * the rest.
 */
import { connect } from 'node:net';
import type { Socket } from 'node:net';
import { generate, parser } from 'mqtt-packet';
import type { Packet } from 'mqtt-packet';

export class RawMqtt {
  readonly socket: Socket;
  readonly closed: Promise<void>;
  readonly #packets: Packet[] = [];
  #waiter: ((packet: Packet | undefined) => void) | undefined;
  #ended = false;

  private constructor(socket: Socket, level: 3 | 4) {
    this.socket = socket;
    const reader = parser({ protocolVersion: level });
    reader.on('packet', (packet: Packet) => {
      const waiter = this.#waiter;
      this.#waiter = undefined;
      if (waiter) waiter(packet);
      else this.#packets.push(packet);
    });
    reader.on('error', () => socket.destroy());
    socket.on('data', (chunk: Buffer) => reader.parse(chunk));
    socket.on('error', () => {});
    this.closed = new Promise((resolve) => {
      socket.on('close', () => {
        this.#ended = true;
        this.#waiter?.(undefined);
        resolve();
      });
    });
  }

  static async open(port: number, level: 3 | 4 = 4, host = '127.0.0.1'): Promise<RawMqtt> {
    const socket = connect(port, host);
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    return new RawMqtt(socket, level);
  }

  /** Opens, sends CONNECT with `fields`, and reads the CONNACK. */
  static async connect(port: number, fields: Record<string, unknown>, host?: string): Promise<{ client: RawMqtt; connack: Packet | undefined }> {
    const level = fields.protocolVersion === 3 ? 3 : 4;
    const client = await RawMqtt.open(port, level, host);
    client.send({ cmd: 'connect', protocolId: level === 3 ? 'MQIsdp' : 'MQTT', protocolVersion: level, clean: true, keepalive: 0, ...fields } as Packet);
    return { client, connack: await client.next() };
  }

  send(packet: Packet | Buffer): void {
    this.socket.write(Buffer.isBuffer(packet) ? packet : generate(packet));
  }

  /** The next packet; undefined once the server closed and nothing is left. */
  next(): Promise<Packet | undefined> {
    const queued = this.#packets.shift();
    if (queued !== undefined) return Promise.resolve(queued);
    if (this.#ended) return Promise.resolve(undefined);
    return new Promise((resolve) => (this.#waiter = resolve));
  }

  /** Every packet until the server closes the connection. */
  async rest(): Promise<Packet[]> {
    const out: Packet[] = [];
    for (let packet = await this.next(); packet !== undefined; packet = await this.next()) out.push(packet);
    return out;
  }

  /** A PINGREQ's answer: everything the server sent before it is in. */
  async sync(): Promise<Packet[]> {
    this.send({ cmd: 'pingreq' });
    const before: Packet[] = [];
    for (;;) {
      const packet = await this.next();
      if (packet === undefined) throw new Error('closed while syncing');
      if (packet.cmd === 'pingresp') return before;
      before.push(packet);
    }
  }

  close(): void {
    this.socket.destroy();
  }
}

/** A packet's fields that the tests compare: its command, topic, payload as text, QoS, flags, identifier. */
export function brief(packet: Packet | undefined): string {
  if (packet === undefined) return 'closed';
  switch (packet.cmd) {
    case 'publish':
      return `publish ${packet.topic} ${packet.payload.toString()} q${packet.qos}${packet.dup ? ' dup' : ''}${packet.retain ? ' retain' : ''}${packet.messageId === undefined ? '' : ` #${packet.messageId}`}`;
    case 'connack':
      return `connack ${packet.returnCode}${packet.sessionPresent ? ' present' : ''}`;
    case 'suback':
      return `suback #${packet.messageId} ${packet.granted.join(',')}`;
    case 'puback':
    case 'pubrec':
    case 'pubrel':
    case 'pubcomp':
    case 'unsuback':
      return `${packet.cmd} #${packet.messageId}`;
    default:
      return packet.cmd;
  }
}
