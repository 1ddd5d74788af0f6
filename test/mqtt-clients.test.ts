/**
 * The MQTT door against the real clients issue 23 names, as their users
 * would try them, on one daemon: Debian's mosquitto_pub and mosquitto_sub
 * (mosquitto-clients), Python's paho-mqtt (python3-paho-mqtt, for
 * Debian's /usr/bin/python3: a python3 earlier on PATH may lack it),
 * MQTT.js, and Paho's browser build in headless Chromium over wss:// to
 * /mqtt, with linebus's own `send` and `recv` on the other side. Each
 * talks MQTT 3.1.1, and 3.1 where it can. The test set-up installs the
 * system packages; a machine without them fails here with their names.
 */
import t from 'tap';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRequire } from 'node:module';
import mqtt from 'mqtt';
import { chromium } from 'playwright-core';
import { makeCerts } from './certs.js';
import { BIN, nodeCommand } from './cli-helpers.js';
import { LineClient, startServer, tempDir } from './helpers.js';
import { needPythonModule, tool } from './tools.js';

// The set-up (test/setup.ts) installs them; missing, they fail here naming their package.
const CHROMIUM = tool('/usr/bin/chromium');
const PYTHON = tool('/usr/bin/python3');
const MOSQUITTO_PUB = tool('mosquitto_pub');
const MOSQUITTO_SUB = tool('mosquitto_sub');
tool('openssl');
needPythonModule('paho.mqtt.client');

interface Ran {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a command to its end; `onOut` sees its output as it comes. */
function run(command: string, args: string[], onOut?: (stdout: string) => void): Promise<Ran> {
  return new Promise((resolve) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      onOut?.(stdout);
    });
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

/** Resolves once `text()` matches `pattern`, checked whenever `subscribe` says output came. */
function outputMatches(pattern: RegExp): { seen: Promise<void>; watch: (stdout: string) => void } {
  let resolve: () => void = () => {};
  const seen = new Promise<void>((done) => (resolve = done));
  return { seen, watch: (stdout) => pattern.test(stdout) && resolve() };
}

t.test('real clients', { timeout: 60000 }, async (t) => {
  const dir = tempDir(t);
  const certs = makeCerts(dir);
  // The page is another site's, as a page written for Mosquitto behind a WebSocket gateway is.
  const pahoPath = createRequire(import.meta.url).resolve('paho-mqtt');
  const pages = createServer((req, res) => {
    const level = req.url === '/page3.html' ? 3 : 4;
    if (req.url === '/paho-mqtt.js') res.writeHead(200, { 'content-type': 'text/javascript' }).end(readFileSync(pahoPath));
    else res.writeHead(200, { 'content-type': 'text/html' }).end(page(level, busPort));
  });
  await new Promise<void>((resolve) => pages.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise((resolve) => pages.close(resolve)));
  const origin = `http://127.0.0.1:${(pages.address() as AddressInfo).port}`;
  const { server, port } = await startServer(t, { mqtt: { port: 0 }, mqttTls: { port: 0, ...certs.server }, http: { port: 0, tls: certs.server, origins: [origin] } });
  const busPort = (server.httpAddress() as AddressInfo).port;
  const at = ['-h', '127.0.0.1', '-p', String((server.mqttAddress() as AddressInfo).port)];
  const [node, ...nodeArgs] = nodeCommand() as [string, ...string[]];
  const linebus = (...args: string[]): Promise<Ran> => run(node, [...nodeArgs, BIN, ...args, '--port', String(port)]);

  t.test('mosquitto_pub -q 1 is received by linebus recv', async (t) => {
    const recv = linebus('recv', 'home.>', '--since', String(server.store.reader.lastId()), '-n', '1', '--user', 'bob');
    const published = await run(MOSQUITTO_PUB, [...at, '-i', 'kitchen', '-q', '1', '-t', 'home/kitchen/temp', '-m', '21.5']);
    t.equal(published.status, 0, published.stderr);
    const received = await recv;
    t.match(received.stdout, /^home\.kitchen\.temp \d+ kitchen 21\.5\n$/, 'topic, id, the sender (open mode: the client identifier), the message');
  });

  t.test("a line client's send reaches mosquitto_sub -t 'alerts/#' -v", async (t) => {
    const { seen, watch } = outputMatches(/received SUBACK/);
    const sub = run('stdbuf', ['-oL', MOSQUITTO_SUB, ...at, '-i', 'watcher', '-q', '1', '-t', 'alerts/#', '-v', '-C', '1', '-W', '20', '-d'], watch);
    await seen;
    const line = await LineClient.login(port, 'carol');
    line.write('send alerts.door open');
    t.match(await line.line(), /^ok send \d+$/);
    const result = await sub;
    t.equal(result.status, 0, result.stderr);
    t.ok(result.stdout.split('\n').includes('alerts/door open'), result.stdout);
    line.close();
  });

  t.test('mosquitto_pub and mosquitto_sub at QoS 0, 1 and 2, MQTT 3.1.1 and 3.1; a level-5 CONNECT refused', async (t) => {
    const { seen, watch } = outputMatches(/received SUBACK/);
    const sub = run('stdbuf', ['-oL', MOSQUITTO_SUB, ...at, '-V', 'mqttv31', '-i', 'old', '-q', '2', '-t', 'v1.0/#', '-v', '-C', '3', '-W', '20', '-d'], watch);
    await seen;
    for (const [qos, version] of [['0', 'mqttv311'], ['1', 'mqttv31'], ['2', 'mqttv311']]) {
      const result = await run(MOSQUITTO_PUB, [...at, '-V', version as string, '-i', `pub${qos}`, '-q', qos as string, '-t', 'v1.0/status', '-m', `at ${qos}`]);
      t.equal(result.status, 0, `QoS ${qos} over ${version}: ${result.stderr}`);
    }
    const got = (await sub).stdout.split('\n').filter((entry) => entry.startsWith('v1.0/'));
    t.same(got, ['v1.0/status at 0', 'v1.0/status at 1', 'v1.0/status at 2'], "MQTT's name comes back as it was, '.' and all");
    const five = await run(MOSQUITTO_PUB, [...at, '-V', 'mqttv5', '-t', 'x', '-m', 'x']);
    t.match(five.stderr, /Unsupported Protocol Version/, 'CONNACK 1');
    t.not(five.status, 0);
    const lost = await run(MOSQUITTO_PUB, [...at, '-q', '1', '-t', 'x', '-m', 'two\nlines']);
    t.match(lost, { status: 7, stderr: /The connection was lost/ }, 'a message that is not one line: the connection is closed');
  });

  t.test('mosquitto_pub over TLS (--mqtt-tls-port), trusting the CA', async (t) => {
    const line = await LineClient.login(port, 'frank');
    line.write('recv secure.>');
    t.equal(await line.line(), 'ok recv secure.>');
    const tlsPort = String((server.mqttTlsAddress() as AddressInfo).port);
    const published = await run(MOSQUITTO_PUB, ['-h', '127.0.0.1', '-p', tlsPort, '--cafile', certs.ca, '-i', 'tls1', '-q', '1', '-t', 'secure/x', '-m', 'over TLS']);
    t.equal(published.status, 0, published.stderr);
    t.match(await line.line(), /^msg secure\.x \d+ tls1 over TLS$/);
    const plain = await run(MOSQUITTO_PUB, ['-h', '127.0.0.1', '-p', tlsPort, '-i', 'tls2', '-q', '1', '-t', 'secure/x', '-m', 'in the clear']);
    t.not(plain.status, 0, 'plain MQTT on the TLS port is not served');
    line.close();
  });

  t.test("Python's paho-mqtt: QoS 2 both ways, MQTT 3.1.1 and 3.1", async (t) => {
    const script = `
import sys, paho.mqtt.client as mqtt
for name, version in (("py311", mqtt.MQTTv311), ("py31", mqtt.MQTTv31)):
    client = mqtt.Client(client_id=name, protocol=version)
    client.on_connect = lambda c, u, f, rc: c.subscribe("py/" + name + "/#", qos=2)
    client.on_subscribe = lambda c, u, mid, granted: c.publish("py/" + name + "/out", "from python", qos=2)
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
    const result = await run(PYTHON, ['-c', script, String(at[3])]);
    t.equal(result.stdout, 'py/py311/out from python 2\npy/py31/out from python 2\n', result.stderr);
  });

  t.test('MQTT.js, MQTT 3.1.1 and 3.1, with a line client on the other side', async (t) => {
    const line = await LineClient.login(port, 'dave');
    line.write('recv js.>');
    t.equal(await line.line(), 'ok recv js.>');
    for (const level of [4, 3] as const) {
      const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${at[3]}`, { clientId: `js${level}`, protocolVersion: level, protocolId: level === 3 ? 'MQIsdp' : 'MQTT', reconnectPeriod: 0 });
      const got = new Promise<string>((resolve) => client.once('message', (topic, payload, packet) => resolve(`${topic} ${payload.toString()} ${packet.qos}`)));
      t.same(await client.subscribeAsync(`js/${level}/+`, { qos: 1 }), [{ topic: `js/${level}/+`, qos: 1 }]);
      await client.publishAsync(`js/${level}/x`, 'hi', { qos: 2 });
      t.equal(await got, `js/${level}/x hi 1`, 'published at 2, granted 1: delivered at 1');
      t.match(await line.line(), new RegExp(`^msg js\\.${level}\\.x \\d+ js${level} hi$`));
      await client.endAsync();
    }
    line.close();
  });

  t.test("Paho's browser build in Chromium, over wss:// to /mqtt, shows what linebus send sent", async (t) => {
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
    t.teardown(() => browser.close());
    const context = await browser.newContext({ ignoreHTTPSErrors: true });
    for (const level of [4, 3] as const) {
      const tab = await context.newPage();
      await tab.goto(`${origin}/page${level}.html`);
      await tab.waitForSelector('body[data-subscribed]', { state: 'attached' });
      const sent = await linebus('send', 'news.europe', `hello ${level}`, '--user', 'erin');
      t.equal(sent.status, 0, sent.stderr);
      await tab.waitForSelector('body[data-got]', { state: 'attached' });
      t.equal(await tab.getAttribute('body', 'data-got'), `news/europe hello ${level} 1`, `MQTT level ${level}`);
      await tab.close();
    }
  });
});

/** A page as a Mosquitto user writes it: Paho over a secure WebSocket, subscribed to news/#. */
function page(level: 3 | 4, busPort: number): string {
  return `<!doctype html><script src="/paho-mqtt.js"></script><script>
const client = new Paho.Client('127.0.0.1', ${busPort}, '/mqtt', 'page${level}');
client.onMessageArrived = (message) => { document.body.dataset.got = message.destinationName + ' ' + message.payloadString + ' ' + message.qos; };
client.connect({ mqttVersion: ${level}, useSSL: true, onSuccess: () => client.subscribe('news/#', { qos: 1, onSuccess: () => { document.body.dataset.subscribed = 'yes'; } }) });
</script>`;
}
