/**
 * src/mqtt's parts against the real clients issue 23 names, before the
 * door is wired to the bus (test/mqtt-tiny-broker.ts): Debian's
 * mosquitto_pub and mosquitto_sub (mosquitto-clients), Python's paho-mqtt
 * (python3-paho-mqtt, for Debian's /usr/bin/python3: a python3 earlier on
 * PATH may lack it), MQTT.js, and Paho's browser build in headless
 * Chromium over WebSocket. Each talks MQTT 3.1.1, and 3.1 where it can.
 */
import t from 'tap';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import mqtt from 'mqtt';
import { chromium } from 'playwright-core';
import { TinyBroker } from './mqtt-tiny-broker.js';
import { needPythonModule, tool } from './tools.js';
import type { Seen } from './mqtt-tiny-broker.js';

// The set-up (test/setup.ts) installs them; missing, they fail here naming their package.
const CHROMIUM = tool('/usr/bin/chromium');
const PYTHON = tool('/usr/bin/python3');
const MOSQUITTO_PUB = tool('mosquitto_pub');
const MOSQUITTO_SUB = tool('mosquitto_sub');
needPythonModule('paho.mqtt.client');

/** Runs a command to its end. */
function run(command: string, args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

function packetsOf(broker: TinyBroker, clientId: string): string[] {
  return broker.seen.filter((seen) => seen.clientId === clientId).map(({ packet }) => packet.cmd + ('qos' in packet && packet.cmd === 'publish' ? ` q${packet.qos}` : ''));
}

const isSubscribe = (clientId: string) => (seen: Seen) => seen.clientId === clientId && seen.packet.cmd === 'subscribe';

t.test('real clients', { timeout: 120000 }, async (t) => {
  const pahoPath = createRequire(import.meta.url).resolve('paho-mqtt');
  t.match(pahoPath, /node_modules\/paho-mqtt\/paho-mqtt\.js$/, "Paho's browser build, a page loads it with a script tag");
  const page = (level: 3 | 4): string => `<!doctype html><script src="/paho-mqtt.js"></script><script>
const client = new Paho.Client(location.hostname, Number(location.port), '/mqtt', 'page${level}');
client.onMessageArrived = (message) => { document.body.dataset.got = message.destinationName + ' ' + message.payloadString + ' ' + message.qos; };
client.connect({ mqttVersion: ${level}, onSuccess: () => client.subscribe('news/#', { qos: 1, onSuccess: () => { document.body.dataset.subscribed = 'yes'; } }) });
</script>`;
  const broker = new TinyBroker(new Map([
    ['/paho-mqtt.js', { type: 'text/javascript', body: readFileSync(pahoPath, 'utf8') }],
    ['/page4.html', { type: 'text/html', body: page(4) }],
    ['/page3.html', { type: 'text/html', body: page(3) }],
  ]));
  const ports = await broker.listen();
  t.teardown(() => broker.close());
  const at = ['-h', '127.0.0.1', '-p', String(ports.tcp)];

  t.test('mosquitto_pub, MQTT 3.1.1 and 3.1, QoS 0 to 2', async (t) => {
    const table: [string, string[], string, string, string[]][] = [
      ['pub311', ['-V', 'mqttv311', '-q', '2', '-u', 'alice', '-P', 'pw', '-t', 'v1.0/status', '-m', 'hello world'], 'v1%2E0.status', 'hello world', ['connect', 'publish q2', 'pubrel', 'disconnect']],
      ['pub31', ['-V', 'mqttv31', '-q', '1', '-t', 'home/kitchen/temp', '-m', '21.5'], 'home.kitchen.temp', '21.5', ['connect', 'publish q1', 'disconnect']],
      ['pub0', ['-q', '0', '-t', '/TopicA', '-n'], '%.TopicA', '', ['connect', 'publish q0', 'disconnect']],
    ];
    for (const [clientId, args, topic, body, packets] of table) {
      const result = await run(MOSQUITTO_PUB, [...at, '-i', clientId, ...args]);
      t.equal(result.status, 0, `${clientId}: ${result.stderr}`);
      t.same(packetsOf(broker, clientId), packets, `${clientId}: the packets it sent`);
      t.ok(broker.published.some((message) => message.topic === topic && message.body === body), `${clientId}: ${topic} ${JSON.stringify(body)}`);
    }
    const connect = broker.seen.find((seen) => seen.clientId === 'pub311' && seen.packet.cmd === 'connect')?.packet;
    t.match(connect, { protocolId: 'MQTT', protocolVersion: 4, username: 'alice', password: Buffer.from('pw') });
    const old = broker.seen.find((seen) => seen.clientId === 'pub31' && seen.packet.cmd === 'connect')?.packet;
    t.match(old, { protocolId: 'MQIsdp', protocolVersion: 3 });
  });

  t.test('mosquitto_sub gets a message from elsewhere', async (t) => {
    const sub = run(MOSQUITTO_SUB, [...at, '-i', 'sub1', '-q', '1', '-t', 'alerts/#', '-v', '-C', '1', '-W', '20']);
    await broker.waitFor(isSubscribe('sub1'));
    broker.deliver('alerts.door', 'open');
    const result = await sub;
    t.equal(result.stdout, 'alerts/door open\n');
    t.equal(result.status, 0);
    t.same(packetsOf(broker, 'sub1').slice(0, 3), ['connect', 'subscribe', 'puback']);
  });

  t.test("Python's paho-mqtt, QoS 2 both ways", async (t) => {
    const script = `
import sys, paho.mqtt.client as mqtt
client = mqtt.Client(client_id="py1", protocol=mqtt.MQTTv311)
client.on_connect = lambda c, u, f, rc: c.subscribe("py/#", qos=2)
client.on_subscribe = lambda c, u, mid, granted: c.publish("py/out", "from python", qos=2)
got = []
def on_message(c, u, m):
    print(m.topic, m.payload.decode(), m.qos, flush=True)
    got.append(m)
client.on_message = on_message
client.connect("127.0.0.1", int(sys.argv[1]), keepalive=10)
# Disconnecting inside on_message would go out before the PUBCOMP paho sends after it.
while not got:
    client.loop(1)
client.disconnect()
`;
    const result = await run(PYTHON, ['-c', script, String(ports.tcp)]);
    t.equal(result.stdout, 'py/out from python 2\n', result.stderr);
    const packets = packetsOf(broker, 'py1');
    t.same(packets.slice(0, 3), ['connect', 'subscribe', 'publish q2']);
    // Its PUBREL for its PUBLISH and its PUBREC for ours cross: their order is the client's.
    t.same(packets.slice(3, 5).sort(), ['pubrec', 'pubrel']);
    t.same(packets.slice(5), ['pubcomp', 'disconnect']);
  });

  t.test('MQTT.js, MQTT 3.1.1 and 3.1', async (t) => {
    for (const level of [4, 3] as const) {
      const clientId = `js${level}`;
      const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${ports.tcp}`, { clientId, protocolVersion: level, protocolId: level === 3 ? 'MQIsdp' : 'MQTT', reconnectPeriod: 0 });
      const got = new Promise<string>((resolve) => client.once('message', (topic, payload, packet) => resolve(`${topic} ${payload.toString()} ${packet.qos}`)));
      t.same(await client.subscribeAsync(`js${level}/+`, { qos: 1 }), [{ topic: `js${level}/+`, qos: 1 }]);
      await client.publishAsync(`js${level}/x`, 'hi', { qos: 2 });
      t.equal(await got, `js${level}/x hi 1`, 'published at 2, granted 1: delivered at 1');
      await client.endAsync();
      t.match(broker.seen.find((seen) => seen.clientId === clientId)?.packet, { cmd: 'connect', protocolVersion: level });
    }
  });

  t.test("Paho's browser build in Chromium, over WebSocket", async (t) => {
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
    t.teardown(() => browser.close());
    for (const level of [4, 3] as const) {
      const tab = await browser.newPage();
      await tab.goto(`http://127.0.0.1:${ports.http}/page${level}.html`);
      await tab.waitForSelector('body[data-subscribed]', { state: 'attached' });
      broker.deliver('news.europe', `hello ${level}`);
      await tab.waitForSelector('body[data-got]', { state: 'attached' });
      t.equal(await tab.getAttribute('body', 'data-got'), `news/europe hello ${level} 1`, `MQTT level ${level}`);
      t.match(broker.seen.find((seen) => seen.clientId === `page${level}`)?.packet, { cmd: 'connect', protocolVersion: level });
      await tab.close();
    }
  });

  t.test('nothing was refused', async (t) => {
    t.same(broker.refusals, []);
  });
});
