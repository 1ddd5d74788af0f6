import t from 'tap';
import { generate, parser as packetParser } from 'mqtt-packet';
import type { Packet } from 'mqtt-packet';
import { MqttDecoder, encode } from '../src/mqtt/codec.js';
import type { ClientPacket } from '../src/mqtt/codec.js';
import { CONNECT_HEADER_BYTES, PUBLISH_HEADER_BYTES } from '../src/mqtt/framer.js';
import type { MqttRefusal, MqttRefusalReason } from '../src/mqtt/refusals.js';

const MAX_LINE = 1000;

/** A remaining length as MQTT writes it. */
function varint(value: number): number[] {
  const bytes: number[] = [];
  do {
    let byte = value % 128;
    value = Math.floor(value / 128);
    if (value > 0) byte |= 0x80;
    bytes.push(byte);
  } while (value > 0);
  return bytes;
}

/** A packet from its first byte and body. */
function raw(first: number, ...body: (number | number[] | Buffer)[]): Buffer {
  const bytes = Buffer.from(body.flatMap((part) => (typeof part === 'number' ? [part] : [...part])));
  return Buffer.concat([Buffer.from([first, ...varint(bytes.length)]), bytes]);
}

/** A length-prefixed field. */
function field(content: string | number[]): number[] {
  const bytes = typeof content === 'string' ? [...Buffer.from(content, 'utf8')] : content;
  return [bytes.length >> 8, bytes.length & 255, ...bytes];
}

/** CONNECT's variable header and payload from its parts. */
function connectBody(protocol: string, level: number, flags: number, ...fields: number[][]): number[] {
  return [...field(protocol), level, flags, 0, 60, ...fields.flat()];
}

const CONNECT = generate({ cmd: 'connect', clientId: 'c1', protocolId: 'MQTT', protocolVersion: 4, clean: true, keepalive: 60 });
const CONNECT_31 = generate({ cmd: 'connect', clientId: 'old', protocolId: 'MQIsdp', protocolVersion: 3, clean: true, keepalive: 30 });

interface Run {
  packets: ClientPacket[];
  refusals: MqttRefusal[];
  decoder: MqttDecoder;
}

function run(pieces: Buffer[], maxLine = MAX_LINE): Run {
  const packets: ClientPacket[] = [];
  const refusals: MqttRefusal[] = [];
  const decoder = new MqttDecoder(maxLine, (packet) => packets.push(packet), (refusal) => refusals.push(refusal));
  for (const piece of pieces) decoder.write(piece);
  return { packets, refusals, decoder };
}

/** Every way of cutting `input` in two, plus one byte at a time (ws's receiver tests do the same). */
function splits(input: Buffer): Buffer[][] {
  const ways: Buffer[][] = [[input]];
  for (let i = 1; i < input.length; i++) ways.push([input.subarray(0, i), input.subarray(i)]);
  ways.push([...input].map((byte) => Buffer.from([byte])));
  return ways;
}

/** What a test compares of a packet: mqtt-packet's fields without its bookkeeping. */
function shape(packet: Packet): Record<string, unknown> {
  const { length: _length, ...rest } = packet as Packet & { length?: number };
  return JSON.parse(JSON.stringify(rest, (_key, value: unknown) => (value instanceof Object && (value as { type?: string }).type === 'Buffer' ? Buffer.from((value as { data: number[] }).data).toString('latin1') : value)));
}

const CLIENT_PACKETS: Packet[] = [
  { cmd: 'connect', clientId: 'sensor-1', protocolId: 'MQTT', protocolVersion: 4, clean: false, keepalive: 30, username: 'alice', password: Buffer.from('pw'), will: { topic: 'status/sensor-1', payload: Buffer.from('gone'), qos: 1, retain: true } },
  { cmd: 'publish', topic: 'home/kitchen/temp', payload: Buffer.from('21.5'), qos: 0, retain: false, dup: false },
  { cmd: 'publish', topic: 'a', payload: Buffer.alloc(0), qos: 1, retain: true, dup: false, messageId: 1 },
  { cmd: 'publish', topic: 'é/ü', payload: Buffer.from('x'.repeat(300)), qos: 2, retain: false, dup: true, messageId: 65535 },
  { cmd: 'puback', messageId: 7 },
  { cmd: 'pubrec', messageId: 8 },
  { cmd: 'pubrel', messageId: 8 },
  { cmd: 'pubcomp', messageId: 9 },
  { cmd: 'subscribe', messageId: 10, subscriptions: [{ topic: 'a/#', qos: 0 }, { topic: '$share/g/+/x', qos: 2 }, { topic: 'b', qos: 1 }] },
  { cmd: 'unsubscribe', messageId: 11, unsubscriptions: ['a/#', 'b'] },
  { cmd: 'pingreq' },
  { cmd: 'disconnect' },
];

t.test('a stream of client packets, cut anywhere, decodes to the same packets', async (t) => {
  const stream = Buffer.concat(CLIENT_PACKETS.map((packet) => generate(packet)));
  const expected = CLIENT_PACKETS.map((packet) => shape(generateAndParse(packet)));
  let ways = 0;
  for (const pieces of splits(stream)) {
    const { packets, refusals, decoder } = run(pieces);
    if (refusals.length > 0 || packets.length !== expected.length) t.fail(`${pieces.length} pieces: ${JSON.stringify(refusals)} ${packets.length}`);
    else if (JSON.stringify(packets.map(shape)) !== JSON.stringify(expected)) t.same(packets.map(shape), expected, `${pieces.length} pieces`);
    t.equal(decoder.buffered, 0);
    ways++;
  }
  t.equal(ways, stream.length + 1, `${ways} ways of cutting ${stream.length} bytes`);
  const { packets, decoder } = run([stream]);
  t.equal(decoder.level, 4);
  t.same(packets.map((packet) => packet.cmd), CLIENT_PACKETS.map((packet) => packet.cmd));
  const publish = packets[3];
  t.equal(publish?.cmd === 'publish' && publish.payload.toString(), 'x'.repeat(300));
});

/** mqtt-packet's own reading of a packet, to compare ours with. */
function generateAndParse(packet: Packet): Packet {
  let parsed: Packet | undefined;
  const parser = packetParser({ protocolVersion: 4 });
  parser.on('packet', (each: Packet) => (parsed = each));
  parser.parse(generate(packet));
  return parsed as Packet;
}

t.test('MQTT 3.1 (MQIsdp, level 3), and its DUP on SUBSCRIBE, PUBREL and UNSUBSCRIBE', async (t) => {
  const subscribeDup = raw(0x8a, 0, 5, field('a/b'), 1);
  const pubrelDup = raw(0x6a, 0, 6);
  const unsubscribeDup = raw(0xaa, 0, 7, field('a/b'));
  for (const pieces of splits(Buffer.concat([CONNECT_31, subscribeDup, pubrelDup, unsubscribeDup]))) {
    const { packets, refusals, decoder } = run(pieces);
    t.same(refusals, []);
    t.equal(decoder.level, 3);
    t.same(packets.map(shape), [
      { cmd: 'connect', retain: false, qos: 0, dup: false, topic: null, payload: null, protocolId: 'MQIsdp', protocolVersion: 3, clean: true, keepalive: 30, clientId: 'old' },
      { cmd: 'subscribe', retain: false, qos: 1, dup: false, topic: null, payload: null, subscriptions: [{ topic: 'a/b', qos: 1 }], messageId: 5 },
      { cmd: 'pubrel', retain: false, qos: 1, dup: false, topic: null, payload: null, messageId: 6 },
      { cmd: 'unsubscribe', retain: false, qos: 1, dup: false, topic: null, payload: null, unsubscriptions: ['a/b'], messageId: 7 },
    ]);
  }
  const { refusals } = run([CONNECT, subscribeDup]);
  t.same(refusals.map((each) => each.reason), ['reserved-flags'], 'MQTT 3.1.1 has no DUP there');
});

const C = CONNECT;
const MQTT_FLAGS_USER_PASSWORD = 0xc2;
/** [name, input, reason, CONNACK code, packets decoded before the refusal] */
const REFUSALS: [string, Buffer, MqttRefusalReason, number | undefined, number][] = [
  ['a PUBLISH first', raw(0x30, field('a'), 0x78), 'first-not-connect', undefined, 0],
  ['an HTTP request', Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'), 'first-not-connect', undefined, 0],
  ['a TLS ClientHello on the plain port', Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01]), 'reserved-flags', undefined, 0],
  ['a second CONNECT', Buffer.concat([C, C]), 'second-connect', undefined, 1],
  ['packet type 0', Buffer.concat([C, Buffer.from([0x00, 0x00])]), 'malformed', undefined, 1],
  ['packet type 15 (MQTT 5 AUTH)', Buffer.concat([C, Buffer.from([0xf0, 0x00])]), 'malformed', undefined, 1],
  ['CONNACK from a client', Buffer.concat([C, raw(0x20, 0, 0)]), 'server-packet', undefined, 1],
  ['SUBACK from a client', Buffer.concat([C, raw(0x90, 0, 1, 0)]), 'server-packet', undefined, 1],
  ['UNSUBACK from a client', Buffer.concat([C, raw(0xb0, 0, 1)]), 'server-packet', undefined, 1],
  ['PINGRESP from a client', Buffer.concat([C, raw(0xd0)]), 'server-packet', undefined, 1],
  ['PUBLISH QoS 3', Buffer.concat([C, raw(0x36, field('a'), 0, 1)]), 'malformed', undefined, 1],
  ['PUBLISH QoS 0 with DUP', Buffer.concat([C, raw(0x38, field('a'))]), 'malformed', undefined, 1],
  ['PUBREL without its flag', Buffer.concat([C, raw(0x60, 0, 1)]), 'reserved-flags', undefined, 1],
  ['SUBSCRIBE without its flag', Buffer.concat([C, raw(0x80, 0, 1, field('a'), 0)]), 'reserved-flags', undefined, 1],
  ['PINGREQ with a flag', Buffer.concat([C, raw(0xc1)]), 'reserved-flags', undefined, 1],
  ['PUBACK with a flag', Buffer.concat([C, raw(0x41, 0, 1)]), 'reserved-flags', undefined, 1],
  ['DISCONNECT with a body', Buffer.concat([C, raw(0xe0, 0)]), 'malformed', undefined, 1],
  ['PINGREQ with a body', Buffer.concat([C, raw(0xc0, 1, 2)]), 'malformed', undefined, 1],
  ['PUBACK of 3 bytes', Buffer.concat([C, raw(0x40, 0, 1, 2)]), 'malformed', undefined, 1],
  ['PUBCOMP of 1 byte', Buffer.concat([C, raw(0x70, 1)]), 'malformed', undefined, 1],
  ['a remaining length of five bytes', Buffer.concat([C, Buffer.from([0x30, 0xff, 0xff, 0xff, 0xff, 0x01])]), 'malformed', undefined, 1],
  ['a PUBLISH over --max-line plus headers', Buffer.concat([C, Buffer.from([0x30, ...varint(MAX_LINE + PUBLISH_HEADER_BYTES + 1)])]), 'too-large', undefined, 1],
  ['a CONNECT over --max-line plus headers', Buffer.from([0x10, ...varint(MAX_LINE + CONNECT_HEADER_BYTES + 1)]), 'too-large', undefined, 0],
  ['a SUBSCRIBE over --max-line', Buffer.concat([C, Buffer.from([0x82, ...varint(MAX_LINE + 3)])]), 'too-large', undefined, 1],
  ['MQTT 5', raw(0x10, connectBody('MQTT', 5, 2, [0], field('c'))), 'protocol-version', 1, 0],
  ['level 6', raw(0x10, connectBody('MQTT', 6, 2, field('c'))), 'protocol-version', 1, 0],
  ['MQTT at level 3', raw(0x10, connectBody('MQTT', 3, 2, field('c'))), 'protocol-version', 1, 0],
  ['MQIsdp at level 4', raw(0x10, connectBody('MQIsdp', 4, 2, field('c'))), 'protocol-version', 1, 0],
  ['a bridge (level 0x84)', raw(0x10, connectBody('MQTT', 0x84, 2, field('c'))), 'protocol-version', 1, 0],
  ['protocol name HTTP', raw(0x10, connectBody('HTTP', 4, 2, field('c'))), 'protocol-name', undefined, 0],
  ['protocol name mqtt', raw(0x10, connectBody('mqtt', 4, 2, field('c'))), 'protocol-name', undefined, 0],
  ['a CONNECT too short for its level', raw(0x10, field('MQTT')), 'malformed', undefined, 0],
  ['a CONNECT too short for its keep-alive', raw(0x10, field('MQTT'), 4, 2, 0), 'malformed', undefined, 0],
  ['CONNECT reserved flag', raw(0x10, connectBody('MQTT', 4, 3, field('c'))), 'reserved-flags', undefined, 0],
  ['will QoS 3', raw(0x10, connectBody('MQTT', 4, 0x1e, field('c'), field('t'), field('m'))), 'malformed', undefined, 0],
  ['will retain without a will', raw(0x10, connectBody('MQTT', 4, 0x22, field('c'))), 'malformed', undefined, 0],
  ['will QoS without a will', raw(0x10, connectBody('MQTT', 4, 0x0a, field('c'))), 'malformed', undefined, 0],
  ['a password without a user name', raw(0x10, connectBody('MQTT', 4, 0x42, field('c'), field('pw'))), 'malformed', undefined, 0],
  ['bytes after the CONNECT', raw(0x10, connectBody('MQTT', 4, 2, field('c')), 0), 'malformed', undefined, 0],
  ['a CONNECT missing its client identifier', raw(0x10, connectBody('MQTT', 4, 2)), 'malformed', undefined, 0],
  ['a CONNECT missing its password', raw(0x10, connectBody('MQTT', 4, MQTT_FLAGS_USER_PASSWORD, field('c'), field('u'))), 'malformed', undefined, 0],
  ['a client identifier not UTF-8', raw(0x10, connectBody('MQTT', 4, 2, field([0x63, 0xc3, 0x28]))), 'not-utf8', undefined, 0],
  ['a client identifier with NUL', raw(0x10, connectBody('MQTT', 4, 2, field([0x63, 0x00]))), 'nul', undefined, 0],
  ['a user name not UTF-8', raw(0x10, connectBody('MQTT', 4, MQTT_FLAGS_USER_PASSWORD, field('c'), field([0xff]), field('pw'))), 'not-utf8', undefined, 0],
  ['a will topic not UTF-8', raw(0x10, connectBody('MQTT', 4, 0x06, field('c'), field([0xed, 0xa0, 0x80]), field('m'))), 'not-utf8', undefined, 0],
  ['a topic name not UTF-8', Buffer.concat([C, raw(0x30, field([0x61, 0xc0, 0xaf]), 0x78)]), 'not-utf8', undefined, 1],
  ['a topic name with an encoded surrogate', Buffer.concat([C, raw(0x30, field([0xed, 0xb0, 0x80]))]), 'not-utf8', undefined, 1],
  ['a topic name with NUL', Buffer.concat([C, raw(0x30, field([0x61, 0x00]), 0x78)]), 'nul', undefined, 1],
  ['a topic name longer than the packet', Buffer.concat([C, raw(0x30, 0, 9, 0x61)]), 'malformed', undefined, 1],
  ['a QoS 1 PUBLISH without its packet identifier', Buffer.concat([C, raw(0x32, field('a'), 0)]), 'malformed', undefined, 1],
  ['PUBLISH packet identifier 0', Buffer.concat([C, raw(0x32, field('a'), 0, 0, 0x78)]), 'packet-id-zero', undefined, 1],
  ['PUBACK packet identifier 0', Buffer.concat([C, raw(0x40, 0, 0)]), 'packet-id-zero', undefined, 1],
  ['PUBREL packet identifier 0', Buffer.concat([C, raw(0x62, 0, 0)]), 'packet-id-zero', undefined, 1],
  ['SUBSCRIBE packet identifier 0', Buffer.concat([C, raw(0x82, 0, 0, field('a'), 0)]), 'packet-id-zero', undefined, 1],
  ['a SUBSCRIBE without filters', Buffer.concat([C, raw(0x82, 0, 1)]), 'no-filters', undefined, 1],
  ['an empty SUBSCRIBE', Buffer.concat([C, raw(0x82)]), 'malformed', undefined, 1],
  ['an UNSUBSCRIBE without filters', Buffer.concat([C, raw(0xa2, 0, 1)]), 'no-filters', undefined, 1],
  ['subscription options with reserved bits', Buffer.concat([C, raw(0x82, 0, 1, field('a'), 0x04)]), 'reserved-flags', undefined, 1],
  ['subscription QoS 3', Buffer.concat([C, raw(0x82, 0, 1, field('a'), 3)]), 'malformed', undefined, 1],
  ['a filter without its QoS byte', Buffer.concat([C, raw(0x82, 0, 1, field('a'), 1, field('b'))]), 'malformed', undefined, 1],
  ['a filter not UTF-8', Buffer.concat([C, raw(0x82, 0, 1, field('a'), 0, field([0xe2, 0x28, 0xa1]), 0)]), 'not-utf8', undefined, 1],
  ['an UNSUBSCRIBE filter with NUL', Buffer.concat([C, raw(0xa2, 0, 1, field([0x00]))]), 'nul', undefined, 1],
];

t.test('refusals, however the input is cut', async (t) => {
  for (const [name, input, reason, connack, before] of REFUSALS) {
    let checked = 0;
    for (const pieces of splits(input)) {
      const { packets, refusals, decoder } = run([...pieces, Buffer.from(generate({ cmd: 'pingreq' }))]);
      const got = refusals.map((each) => [each.reason, each.connack]);
      if (JSON.stringify(got) !== JSON.stringify([[reason, connack]]) || packets.length !== before || decoder.buffered !== 0) {
        t.fail(`${name} in ${pieces.length} pieces: ${JSON.stringify(refusals)}, ${packets.length} packets, ${decoder.buffered} bytes held`);
        break;
      }
      checked++;
    }
    t.equal(checked, input.length + 1, `${name}: ${reason}${connack === undefined ? '' : `, CONNACK ${connack}`}`);
  }
});

t.test('what is close to a refusal but allowed', async (t) => {
  const table: [string, Buffer, string][] = [
    ['a topic with a real U+FFFD', raw(0x30, field('a\ufffdb'), 0x78), 'publish'],
    ['a PUBLISH of exactly --max-line plus headers', raw(0x30, field('t'.repeat(255)), 0, 1, Buffer.alloc(MAX_LINE, 0x61)).fill(0x32, 0, 1), 'publish'],
    ['an empty topic (topics.ts refuses it, with its own reason)', raw(0x30, field('')), 'publish'],
    ['an empty client identifier', raw(0x10, connectBody('MQTT', 4, 2, field(''))), 'connect'],
    ['a will message that is binary (payload.ts judges it)', raw(0x10, connectBody('MQTT', 4, 0x06, field('c'), field('t'), field([0x00, 0xff]))), 'connect'],
  ];
  for (const [name, packet, cmd] of table) {
    const input = cmd === 'connect' ? packet : Buffer.concat([C, packet]);
    const { packets, refusals } = run([input]);
    t.same(refusals, [], name);
    t.equal(packets[packets.length - 1]?.cmd, cmd, name);
  }
});

t.test('a 200 MB declared length is refused after 5 bytes, holding none of it', async (t) => {
  const header = Buffer.from([0x30, ...varint(200 * 1024 * 1024)]);
  t.equal(header.length, 5);
  const refusals: MqttRefusal[] = [];
  const decoder = new MqttDecoder(65536, () => {}, (refusal) => refusals.push(refusal));
  decoder.write(CONNECT);
  for (const byte of header.subarray(0, 4)) decoder.write(Buffer.from([byte]));
  t.same(refusals, [], 'not yet: the length is unfinished');
  t.equal(decoder.buffered, 4);
  decoder.write(header.subarray(4));
  t.same(refusals, [{ reason: 'too-large', detail: 'PUBLISH declares 209715200 bytes, over the limit of 65795' }]);
  t.equal(decoder.buffered, 0);
  const before = process.memoryUsage().arrayBuffers;
  const megabyte = Buffer.alloc(1024 * 1024, 0x61);
  for (let i = 0; i < 200; i++) decoder.write(megabyte);
  t.equal(decoder.buffered, 0, 'what follows is not read');
  t.equal(refusals.length, 1);
  t.ok(process.memoryUsage().arrayBuffers - before < 50 * 1024 * 1024, 'memory did not grow with the 200 MB sent after');

  // Why the framer exists: mqtt-packet alone keeps whatever arrives until the declared length is there.
  const alone = packetParser({ protocolVersion: 4 });
  alone.on('error', () => t.fail('mqtt-packet does not refuse a large declared length'));
  alone.parse(Buffer.concat([header, megabyte]));
  t.equal(alone.parse(megabyte), 2 * megabyte.length, 'mqtt-packet holds every byte after the header');
});

t.test('a packet is judged by its first byte before its length arrives', async (t) => {
  const { refusals, decoder } = run([Buffer.from([0x30])]);
  t.same(refusals.map((each) => each.reason), ['first-not-connect']);
  t.equal(decoder.buffered, 0);
});

t.test('encode', async (t) => {
  const table: [string, Parameters<typeof encode>[0], 3 | 4, number[]][] = [
    ['CONNACK, session present', { cmd: 'connack', returnCode: 0, sessionPresent: true }, 4, [0x20, 2, 1, 0]],
    ['CONNACK at MQTT 3.1 has no session-present flag', { cmd: 'connack', returnCode: 0, sessionPresent: true }, 3, [0x20, 2, 0, 0]],
    ['CONNACK 1', { cmd: 'connack', returnCode: 1, sessionPresent: false }, 4, [0x20, 2, 0, 1]],
    ['SUBACK with a refused filter', { cmd: 'suback', messageId: 258, granted: [0, 0x80, 2] }, 4, [0x90, 5, 1, 2, 0, 0x80, 2]],
    ['PUBLISH QoS 1 DUP RETAIN', { cmd: 'publish', topic: 'a/b', payload: Buffer.from('hi'), qos: 1, dup: true, retain: true, messageId: 1 }, 4, [0x3b, 9, 0, 3, 0x61, 0x2f, 0x62, 0, 1, 0x68, 0x69]],
    ['PUBLISH QoS 0, empty', { cmd: 'publish', topic: 'a', payload: Buffer.alloc(0), qos: 0, dup: false, retain: false }, 4, [0x30, 3, 0, 1, 0x61]],
    ['PUBREL', { cmd: 'pubrel', messageId: 65535 }, 4, [0x62, 2, 0xff, 0xff]],
    ['PUBCOMP', { cmd: 'pubcomp', messageId: 3 }, 3, [0x70, 2, 0, 3]],
    ['PINGRESP', { cmd: 'pingresp' }, 4, [0xd0, 0]],
    ['UNSUBACK', { cmd: 'unsuback', messageId: 4 }, 4, [0xb0, 2, 0, 4]],
  ];
  for (const [name, packet, level, bytes] of table) t.same([...encode(packet, level)], bytes, name);
});
