// npm run bench:mqtt: linebus's MQTT door against Debian's Mosquitto,
// side by side on this machine: publish-to-subscriber throughput at QoS 0
// and QoS 1, and latency at a fixed rate, 100-byte payloads.
//
// Each server starts fresh on loopback, pinned to core 0; this driver pins
// itself to core 1 (as run.js and ../shared/bench do). The driver speaks
// raw MQTT 3.1.1: PUBLISH packets are made from a template and written in
// batches, parsed by hand on the subscriber, which answers PUBACKs in
// batches too; no client library per message. A publisher keeps at most
// WINDOW messages sent and not yet received by the subscriber, so neither
// server queues without bound. Every run records the driver's CPU share:
// a number measured while the driver used most of its core is the
// driver's, and is marked.
//
//   npm run bench:mqtt                   # 5 rounds, about 2 minutes
//   npm run bench:mqtt -- --rounds 1 --quick
//   npm run bench:mqtt -- --max-load 1   # each round waits for a quiet machine
//   node bench/mqtt.js --against 1883    # a server already running (profiling)
//
// Mosquitto keeps messages in memory only; linebus journals every one in
// SQLite before anyone receives it (synchronous=NORMAL in WAL mode).
import { spawnSync } from 'node:child_process';
import { connect } from 'node:net';
import { loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { GENERATOR_CORE, have, start } from './servers.js';

const args = process.argv.slice(2);
const option = (name, fallback) => (args.includes(name) ? Number(args[args.indexOf(name) + 1]) : fallback);
const quick = args.includes('--quick');
const ROUNDS = option('--rounds', 5);
/** On a shared machine: a round starts only once the 1-minute load is below this. */
const MAX_LOAD = option('--max-load', Infinity);
const COUNT = quick ? 50_000 : 300_000;
const LATENCY = { rate: 5000, seconds: quick ? 1 : 3, warmup: 0.5 };
const WINDOW = 1000;
const PAYLOAD = 100;
const TOPIC = 'bench/t';
const log = (text) => process.stderr.write(`bench:mqtt: ${text}\n`);

if (have('taskset') && process.env.LINEBUS_BENCH_PINNED !== '1') {
  const result = spawnSync('taskset', ['-c', GENERATOR_CORE, process.execPath, fileURLToPath(import.meta.url), ...args], { stdio: 'inherit', env: { ...process.env, LINEBUS_BENCH_PINNED: '1' } });
  process.exit(result.status ?? 1);
}

// --- packets --------------------------------------------------------------------

function remainingLength(length) {
  const bytes = [];
  do {
    const byte = length & 0x7f;
    length >>>= 7;
    bytes.push(length > 0 ? byte | 0x80 : byte);
  } while (length > 0);
  return bytes;
}

function packet(first, body) {
  return Buffer.concat([Buffer.from([first, ...remainingLength(body.length)]), body]);
}

function string(text) {
  const bytes = Buffer.from(text);
  return Buffer.concat([Buffer.from([bytes.length >> 8, bytes.length & 0xff]), bytes]);
}

function connectPacket(clientId) {
  return packet(0x10, Buffer.concat([string('MQTT'), Buffer.from([4, 0x02, 0, 60]), string(clientId)]));
}

function subscribePacket(topic, qos) {
  return packet(0x82, Buffer.concat([Buffer.from([0, 1]), string(topic), Buffer.from([qos])]));
}

/** A PUBLISH of `payload` (a Buffer of PAYLOAD bytes); its packet identifier (QoS 1) is at `.idAt`. */
function publishTemplate(qos, payload) {
  const topic = string(TOPIC);
  const body = Buffer.concat([topic, qos > 0 ? Buffer.from([0, 0]) : Buffer.alloc(0), payload]);
  const bytes = packet(0x30 | (qos << 1), body);
  return { bytes, idAt: bytes.length - payload.length - 2, payloadAt: bytes.length - payload.length };
}

/**
 * One MQTT connection of the driver: CONNACK awaited; PUBLISHes to it
 * parsed by hand (QoS 1 ones acknowledged, one write per read), PUBACKs
 * to it counted; `onRead` after each read.
 */
async function client(port, clientId, onPublish, onRead = () => {}) {
  const socket = connect({ port, host: '127.0.0.1', noDelay: true });
  await new Promise((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  const state = { socket, connacked: false, subacked: false, pubacks: 0 };
  let rest = Buffer.alloc(0);
  socket.on('data', (chunk) => {
    const data = rest.length === 0 ? chunk : Buffer.concat([rest, chunk]);
    const acks = [];
    let at = 0;
    while (at + 2 <= data.length) {
      let length = 0;
      let multiplier = 1;
      let i = at + 1;
      for (; i < data.length; i++) {
        length += (data[i] & 0x7f) * multiplier;
        multiplier *= 128;
        if ((data[i] & 0x80) === 0) break;
      }
      if (i >= data.length || i + 1 + length > data.length) break;
      const start = i + 1;
      const type = data[at] >> 4;
      if (type === 3) {
        const qos = (data[at] >> 1) & 3;
        const topicLength = data.readUInt16BE(start);
        let payloadAt = start + 2 + topicLength;
        if (qos > 0) {
          acks.push(0x40, 2, data[payloadAt], data[payloadAt + 1]);
          payloadAt += 2;
        }
        onPublish(data, payloadAt, start + length);
      } else if (type === 4) state.pubacks++;
      else if (type === 2) state.connacked = true;
      else if (type === 9) state.subacked = true;
      at = start + length;
    }
    rest = data.subarray(at);
    if (acks.length > 0) socket.write(Buffer.from(acks));
    onRead();
  });
  socket.on('error', () => {});
  socket.write(connectPacket(clientId));
  await until(() => state.connacked, 'CONNACK');
  return state;
}

// --- scenarios -------------------------------------------------------------------

const tick = () => new Promise((resolve) => setImmediate(resolve));

async function until(check, what, timeoutS = 120) {
  const started = process.hrtime.bigint();
  while (!check()) {
    if (Number(process.hrtime.bigint() - started) / 1e9 > timeoutS) throw new Error(`timed out waiting for ${what}`);
    await tick();
  }
}

async function subscriber(port, qos, onPayload = () => {}) {
  const sub = { received: 0, onRead: () => {} };
  sub.client = await client(
    port,
    `sub${Math.random()}`,
    (data, from, to) => {
      sub.received++;
      onPayload(data, from, to);
    },
    () => sub.onRead(),
  );
  sub.client.socket.write(subscribePacket(TOPIC, qos));
  await until(() => sub.client.subacked, 'SUBACK');
  return sub;
}

/**
 * COUNT messages at `qos`, pipelined in batches under the window, each
 * batch written when deliveries open the window (no polling, so the
 * driver's CPU is what the work costs): delivered per second.
 */
async function throughput(port, qos) {
  const sub = await subscriber(port, qos);
  const pub = await client(port, `pub${Math.random()}`, () => {});
  const { bytes: template, idAt } = publishTemplate(qos, Buffer.alloc(PAYLOAD, 0x78));
  let sent = 0;
  const pump = () => {
    const room = Math.min(COUNT - sent, WINDOW - (sent - sub.received));
    // Half a window at least: fewer, larger writes.
    if (room < Math.min(WINDOW / 2, COUNT - sent)) return;
    const batch = Buffer.allocUnsafe(room * template.length);
    for (let i = 0; i < room; i++) {
      template.copy(batch, i * template.length);
      if (qos > 0) batch.writeUInt16BE(((sent + i) % 65535) + 1, i * template.length + idAt);
    }
    sent += room;
    pub.socket.write(batch);
  };
  const started = process.hrtime.bigint();
  const done = new Promise((resolve) => {
    sub.onRead = () => (sub.received >= COUNT ? resolve() : pump());
  });
  pump();
  await done;
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  if (qos > 0) await until(() => pub.pubacks >= COUNT, 'PUBACKs');
  pub.socket.destroy();
  sub.client.socket.destroy();
  return { per_s: COUNT / seconds };
}

function percentile(sorted, p) {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

/** Digits of the send time at the start of a latency payload: linebus takes text only. */
const STAMP = 20;

/** LATENCY.rate messages a second, each stamped with this process's clock; the subscriber subtracts. */
async function latency(port, qos) {
  const samples = [];
  let warmupEnd = 0n;
  const sub = await subscriber(port, qos, (data, from) => {
    const sent = BigInt(data.toString('latin1', from, from + STAMP));
    if (sent > warmupEnd) samples.push(Number(process.hrtime.bigint() - sent) / 1000);
  });
  const pub = await client(port, `pub${Math.random()}`, () => {});
  const { bytes: template, idAt, payloadAt } = publishTemplate(qos, Buffer.alloc(PAYLOAD, 0x78));
  const total = Math.round(LATENCY.rate * (LATENCY.seconds + LATENCY.warmup));
  const started = process.hrtime.bigint();
  warmupEnd = started + BigInt(Math.round(LATENCY.warmup * 1e9));
  let sent = 0;
  await new Promise((resolve) => {
    const timer = setInterval(() => {
      const due = Math.min(total, Math.floor((Number(process.hrtime.bigint() - started) / 1e9) * LATENCY.rate));
      if (due > sent) {
        const batch = Buffer.allocUnsafe((due - sent) * template.length);
        for (let i = 0; sent < due; i++, sent++) {
          template.copy(batch, i * template.length);
          if (qos > 0) batch.writeUInt16BE((sent % 65535) + 1, i * template.length + idAt);
          batch.write(String(process.hrtime.bigint()).padStart(STAMP, '0'), i * template.length + payloadAt, 'latin1');
        }
        pub.socket.write(batch);
      }
      if (sent >= total) {
        clearInterval(timer);
        resolve();
      }
    }, 1);
  });
  await until(() => sub.received >= total, 'latency deliveries');
  pub.socket.destroy();
  sub.client.socket.destroy();
  samples.sort((a, b) => a - b);
  return { p50_us: percentile(samples, 50), p99_us: percentile(samples, 99), p999_us: percentile(samples, 99.9) };
}

/** Runs `scenario` and records this driver's CPU and the server's, in % of one core. */
async function measured(server, scenario) {
  const driver = process.cpuUsage();
  const serverBefore = server.cpuSeconds();
  const started = process.hrtime.bigint();
  const result = await scenario();
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const used = process.cpuUsage(driver);
  return { ...result, driver_cpu_pct: Math.round(((used.user + used.system) / 1e6 / seconds) * 100), server_cpu_pct: Math.round(((server.cpuSeconds() - serverBefore) / seconds) * 100) };
}

const SCENARIOS = [
  ['QoS 0, delivered msgs/s', (port) => throughput(port, 0), 'per_s', 'higher'],
  ['QoS 1, delivered msgs/s', (port) => throughput(port, 1), 'per_s', 'higher'],
  [`QoS 0, latency p50 at ${LATENCY.rate}/s, µs`, (port) => latency(port, 0), 'p50_us', 'lower'],
  [`QoS 0, latency p99 at ${LATENCY.rate}/s, µs`, undefined, 'p99_us', 'lower'],
  [`QoS 1, latency p50 at ${LATENCY.rate}/s, µs`, (port) => latency(port, 1), 'p50_us', 'lower'],
  [`QoS 1, latency p99 at ${LATENCY.rate}/s, µs`, undefined, 'p99_us', 'lower'],
];
const SYSTEMS = [
  ['linebus', 'linebus-mqtt'],
  ['mosquitto', 'mosquitto'],
];

/** One round: each system fresh, every scenario. */
async function round() {
  const results = {};
  for (const [name, kind] of SYSTEMS) {
    const server = await start(kind);
    try {
      results[name] = [];
      let last;
      for (const [label, scenario] of SCENARIOS) {
        if (scenario !== undefined) {
          log(`${name}: ${label}`);
          last = await measured(server, () => scenario(server.port));
        }
        results[name].push(last);
      }
    } finally {
      await server.stop();
    }
  }
  return results;
}

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

function format(value) {
  return value >= 1000 ? Math.round(value).toLocaleString('en-US') : value >= 10 ? value.toFixed(0) : value.toFixed(1);
}

/** The driver at this share of its core or more bounded the number. */
const DRIVER_BOUND_PCT = 85;

if (args.includes('--against')) {
  // For profiling and tuning: the scenarios against one server started by hand.
  const port = option('--against', 1883);
  for (const [label, scenario] of SCENARIOS) if (scenario !== undefined) log(`${label}: ${JSON.stringify(await scenario(port))}`);
  process.exit(0);
}
if (!have('mosquitto')) throw new Error('mosquitto is missing: apt-get install mosquitto (not enabled as a service: the bench starts its own)');
const rounds = [];
const loads = [];
for (let i = 0; i < ROUNDS; i++) {
  while (loadavg()[0] >= MAX_LOAD) {
    log(`load ${loadavg()[0].toFixed(2)}: waiting for it to fall below ${MAX_LOAD}`);
    await new Promise((resolve) => setTimeout(resolve, 10_000));
  }
  const before = loadavg()[0];
  log(`round ${i + 1} of ${ROUNDS}`);
  rounds.push(await round());
  loads.push(`${before.toFixed(1)}–${loadavg()[0].toFixed(1)}`);
}
const lines = ['| | linebus | Mosquitto | linebus / Mosquitto | driver CPU % (linebus, Mosquitto) | server CPU % (linebus, Mosquitto) |', '| --- | --- | --- | --- | --- | --- |'];
for (const [index, [label, , key, better]] of SCENARIOS.entries()) {
  const cell = (name) => {
    const values = rounds.map((r) => r[name][index][key]);
    return { median: median(values), min: Math.min(...values), max: Math.max(...values), driver: median(rounds.map((r) => r[name][index].driver_cpu_pct)), server: median(rounds.map((r) => r[name][index].server_cpu_pct)) };
  };
  const [ours, theirs] = [cell('linebus'), cell('mosquitto')];
  const bound = (c) => (c.driver >= DRIVER_BOUND_PCT ? ' ⁽ᵈ⁾' : '');
  const shown = (c) => `${format(c.median)}${bound(c)} (${format(c.min)}–${format(c.max)})`;
  const ratio = bound(ours) || bound(theirs) ? '-' : `${(better === 'higher' ? ours.median / theirs.median : theirs.median / ours.median).toFixed(2)}x`;
  lines.push(`| ${label} | ${shown(ours)} | ${shown(theirs)} | ${ratio} | ${ours.driver}, ${theirs.driver} | ${ours.server}, ${theirs.server} |`);
}
process.stdout.write(`${lines.join('\n')}

Medians of ${ROUNDS} rounds (lowest–highest in brackets), the machine's 1-minute load before and after each: ${loads.join(', ')}; ${COUNT.toLocaleString('en-US')} messages of ${PAYLOAD} bytes per throughput run, one publisher and one subscriber on one topic, at most ${WINDOW} published and not yet delivered; latency over ${LATENCY.seconds} s after ${LATENCY.warmup} s of warm-up. Latency ratios are Mosquitto's over linebus's (above 1: linebus is faster).
⁽ᵈ⁾ the driver used ${DRIVER_BOUND_PCT}% of its core or more: the number is the driver's, no ratio given.
Mosquitto keeps messages in memory; linebus journals each one (SQLite, WAL, synchronous=NORMAL) before anyone receives it.
`);
