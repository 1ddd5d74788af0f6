/**
 * A broker made only of src/mqtt's pure parts, for checking them against
 * real clients before the door is wired to the bus: it keeps no journal,
 * no session and no retained message; every PUBLISH goes to the
 * subscriptions that match it, the sender's own included, as MQTT does.
 * It listens on TCP and, for browsers, on WebSocket (`/mqtt`, subprotocols
 * `mqtt` and `mqttv3.1`) beside plain HTTP files.
 */
import { createServer as createHttpServer } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer } from 'node:net';
import type { AddressInfo, Server, Socket } from 'node:net';
import { WebSocketServer } from 'ws';
import { MqttDecoder, encode } from '../src/mqtt/codec.js';
import type { ClientPacket, ServerPacket } from '../src/mqtt/codec.js';
import type { ProtocolLevel } from '../src/mqtt/fields.js';
import { OutboundWindow } from '../src/mqtt/inflight.js';
import type { OutboundSend } from '../src/mqtt/inflight.js';
import { payloadBody } from '../src/mqtt/payload.js';
import { ReceivedQos2, SUBACK_FAILURE, deliveryQos } from '../src/mqtt/qos.js';
import type { Qos } from '../src/mqtt/qos.js';
import type { MqttRefusal } from '../src/mqtt/refusals.js';
import { SubscriptionSet } from '../src/mqtt/subscriptions.js';
import { linebusTopic, mqttTopicName, parseSubscriptionFilter } from '../src/mqtt/topics.js';

const MAX_LINE = 65536;

export interface Message {
  readonly id: number;
  readonly topic: string;
  readonly body: string;
}

/** What a test looks at: each client's packets, and each refusal. */
export interface Seen {
  readonly clientId: string;
  readonly packet: ClientPacket;
}

class Client {
  clientId = '?';
  level: ProtocolLevel = 4;
  readonly subscriptions = new SubscriptionSet();
  readonly window = new OutboundWindow<Message>(100);
  readonly received = new ReceivedQos2(100);
  readonly #write: (bytes: Buffer) => void;
  readonly #end: () => void;

  constructor(write: (bytes: Buffer) => void, end: () => void) {
    this.#write = write;
    this.#end = end;
  }

  send(packet: ServerPacket): void {
    this.#write(encode(packet, this.level));
  }

  sendAll(sends: OutboundSend<Message>[]): void {
    for (const send of sends) {
      if (send.kind === 'pubrel') {
        this.send({ cmd: 'pubrel', messageId: send.packetId });
        continue;
      }
      const topic = mqttTopicName(send.message.topic) as string;
      this.send({ cmd: 'publish', topic, payload: Buffer.from(send.message.body), qos: send.qos, dup: send.dup, retain: false, messageId: send.packetId });
    }
  }

  end(): void {
    this.#end();
  }
}

export class TinyBroker {
  readonly seen: Seen[] = [];
  readonly refusals: MqttRefusal[] = [];
  readonly published: Message[] = [];
  readonly #clients = new Set<Client>();
  readonly #tcp: Server;
  readonly #http = createHttpServer((req, res) => this.#serveFile(req, res));
  readonly #ws = new WebSocketServer({ noServer: true, handleProtocols: (protocols) => (protocols.has('mqtt') ? 'mqtt' : protocols.has('mqttv3.1') ? 'mqttv3.1' : false) });
  readonly #files: Map<string, { type: string; body: string }>;
  readonly #waiters: { match: (seen: Seen) => boolean; found: (seen: Seen) => void }[] = [];
  #nextId = 1;

  constructor(files: Map<string, { type: string; body: string }> = new Map()) {
    this.#files = files;
    this.#tcp = createServer((socket) => this.#tcpClient(socket));
    this.#http.on('upgrade', (req, socket, head) => {
      if (req.url !== '/mqtt') return socket.destroy();
      this.#ws.handleUpgrade(req, socket, head, (ws) => {
        const client = new Client((bytes) => ws.send(bytes), () => ws.close());
        const decoder = this.#decoder(client);
        ws.on('message', (data: Buffer) => decoder.write(data));
        ws.on('close', () => this.#clients.delete(client));
      });
    });
  }

  async listen(): Promise<{ tcp: number; http: number }> {
    await new Promise<void>((resolve) => this.#tcp.listen(0, '127.0.0.1', resolve));
    await new Promise<void>((resolve) => this.#http.listen(0, '127.0.0.1', resolve));
    return { tcp: (this.#tcp.address() as AddressInfo).port, http: (this.#http.address() as AddressInfo).port };
  }

  async close(): Promise<void> {
    for (const client of this.#clients) client.end();
    this.#http.closeAllConnections();
    await Promise.all([new Promise((resolve) => this.#tcp.close(resolve)), new Promise((resolve) => this.#http.close(resolve))]);
  }

  /** A message from elsewhere (what a line client's `send` will be), at QoS 1. */
  deliver(topic: string, body: string, published: Qos = 1): Message {
    const message = { id: this.#nextId++, topic, body };
    for (const client of this.#clients) {
      const qos = deliveryQos(published, client.subscriptions.grantedFor(topic, message.id));
      if (qos !== undefined) client.sendAll(client.window.offer(message, qos));
    }
    return message;
  }

  /** The first packet, seen or to come, that `match` accepts. */
  waitFor(match: (seen: Seen) => boolean): Promise<Seen> {
    const seen = this.seen.find(match);
    if (seen) return Promise.resolve(seen);
    return new Promise((found) => this.#waiters.push({ match, found }));
  }

  #tcpClient(socket: Socket): void {
    const client = new Client((bytes) => socket.write(bytes), () => socket.end());
    const decoder = this.#decoder(client);
    socket.on('data', (chunk) => decoder.write(chunk));
    socket.on('error', () => {});
    socket.on('close', () => this.#clients.delete(client));
  }

  #decoder(client: Client): MqttDecoder {
    this.#clients.add(client);
    return new MqttDecoder(MAX_LINE, (packet) => this.#packet(client, packet), (refusal) => {
      this.refusals.push(refusal);
      if (refusal.connack !== undefined) client.send({ cmd: 'connack', returnCode: refusal.connack, sessionPresent: false });
      client.end();
    });
  }

  #packet(client: Client, packet: ClientPacket): void {
    if (packet.cmd === 'connect') {
      client.clientId = packet.clientId;
      client.level = packet.protocolVersion === 3 ? 3 : 4;
    }
    const seen = { clientId: client.clientId, packet };
    this.seen.push(seen);
    for (const [i, waiter] of this.#waiters.entries()) {
      if (!waiter.match(seen)) continue;
      this.#waiters.splice(i, 1);
      waiter.found(seen);
      break;
    }
    switch (packet.cmd) {
      case 'connect':
        return client.send({ cmd: 'connack', returnCode: 0, sessionPresent: false });
      case 'subscribe': {
        const granted = packet.subscriptions.map(({ topic, qos }) => {
          const parsed = parseSubscriptionFilter(topic);
          if (!parsed.ok || parsed.value.group !== undefined) return SUBACK_FAILURE;
          client.subscriptions.subscribe(parsed.value.filter, qos, this.#nextId - 1);
          return qos;
        });
        return client.send({ cmd: 'suback', messageId: packet.messageId as number, granted });
      }
      case 'unsubscribe':
        for (const filter of packet.unsubscriptions) client.subscriptions.unsubscribe(filter);
        return client.send({ cmd: 'unsuback', messageId: packet.messageId as number });
      case 'publish': {
        const topic = linebusTopic(packet.topic);
        const body = payloadBody(packet.payload as Buffer, MAX_LINE);
        if (!topic.ok || !body.ok) return client.end();
        const repeat = packet.qos === 2 && client.received.publish(packet.messageId as number) === 'repeat';
        if (!repeat) this.published.push(this.deliver(topic.value, body.value, packet.qos));
        if (packet.qos === 1) client.send({ cmd: 'puback', messageId: packet.messageId as number });
        if (packet.qos === 2) client.send({ cmd: 'pubrec', messageId: packet.messageId as number });
        return;
      }
      case 'pubrel':
        client.received.release(packet.messageId as number);
        return client.send({ cmd: 'pubcomp', messageId: packet.messageId as number });
      case 'puback':
      case 'pubrec':
      case 'pubcomp': {
        const outcome = client.window[packet.cmd](packet.messageId as number);
        if (outcome.outcome === 'done' || outcome.outcome === 'released') client.sendAll(outcome.sends);
        return;
      }
      case 'pingreq':
        return client.send({ cmd: 'pingresp' });
      case 'disconnect':
        return client.end();
    }
  }

  #serveFile(req: IncomingMessage, res: ServerResponse): void {
    const file = this.#files.get(req.url ?? '');
    if (file === undefined) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': file.type }).end(file.body);
  }
}
