/**
 * The cluster's own NATS socket (cluster/nats-socket.ts) against real
 * nats-server processes (plain ones: the socket needs no JetStream): it subscribes and receives, moves to the next
 * URL when its node is killed and subscribes there again, comes back to
 * a node started again, and logs in with the user and password, or the
 * token, of its URL.
 */
import t from 'tap';
import type { Test } from 'tap';
import { execFile, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { connect as tcpConnect, createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { NatsSocket } from '../src/cluster/nats-socket.js';
import { pub } from '../src/cluster/nats-frames.js';
import { LineClient, startServer, tempDir } from './helpers.js';
import { makeCerts } from './certs.js';
import { tool } from './tools.js';

t.setTimeout(60_000);

/** What a socket did, in order, and a way to wait for the next of it. */
class Events {
  readonly seen: string[] = [];
  #wake: (() => void) | undefined;

  push(event: string): void {
    this.seen.push(event);
    this.#wake?.();
  }

  /** Resolves with the first event from index `from` on that matches. */
  async next(pattern: RegExp, from: number): Promise<string> {
    for (;;) {
      const found = this.seen.slice(from).find((event) => pattern.test(event));
      if (found !== undefined) return found;
      await new Promise<void>((resolve) => (this.#wake = resolve));
    }
  }
}

/** A socket on `urls` whose connects, disconnects, messages on `test.>` and log lines (but debug) go to its events. */
function open(t: Test, urls: string[], pingIntervalMs?: number): { socket: NatsSocket; events: Events } {
  const events = new Events();
  const logger = { log: (level: string, message: string) => void (level !== 'debug' && events.push(`log ${level} ${message}`)) };
  const socket = new NatsSocket({
    urls,
    name: 'test',
    version: '0',
    logger,
    ...(pingIntervalMs === undefined ? {} : { pingIntervalMs }),
    onConnected: (server) => events.push(`up ${server}`),
    onDisconnected: (server) => events.push(`down ${server}`),
  });
  socket.subscribe('test.>', (frame) => events.push(`msg ${frame.subject} ${frame.payload}`));
  socket.start();
  t.teardown(() => socket.close());
  return { socket, events };
}

/** A free port on 127.0.0.1, a moment ago. */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

interface Plain {
  readonly url: string;
  /** SIGKILL, and wait for the exit. */
  kill(): Promise<void>;
  /** Again on the same port, greeting. */
  start(): Promise<void>;
}

/** A plain nats-server (no JetStream) with `args`, greeting on its port; killed at teardown. */
async function natsServer(t: Test, args: string[]): Promise<Plain> {
  const port = await freePort();
  let child: ChildProcess | undefined;
  t.teardown(() => void child?.kill('SIGKILL'));
  const start = async (): Promise<void> => {
    child = spawn(tool('nats-server'), ['-a', '127.0.0.1', '-p', String(port), ...args], { stdio: 'ignore' });
    await greeting(port, child);
  };
  const kill = async (): Promise<void> => {
    const dying = child as ChildProcess;
    const exited = new Promise((resolve) => dying.once('exit', resolve));
    dying.kill('SIGKILL');
    await exited;
  };
  await start();
  return { url: `nats://127.0.0.1:${port}`, kill, start };
}

/** Resolves once `port` greets; throws if `child` exits first. */
async function greeting(port: number, child: ChildProcess): Promise<void> {
  for (;;) {
    const greeted = await new Promise<boolean>((resolve) => {
      const socket = tcpConnect(port, '127.0.0.1');
      socket.once('data', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (greeted) return;
    if (child.exitCode !== null) throw new Error(`nats-server on port ${port} exited ${child.exitCode}`);
    await delay(50);
  }
}

t.test('subscribes, receives, and on the next URL when its node is killed, subscribed again; back on a node started again', async (t) => {
  const first = await natsServer(t, []);
  const second = await natsServer(t, []);
  const { socket, events } = open(t, [first.url, second.url]);
  await events.next(/^up /, 0);
  t.same(events.seen, [`up ${first.url}`], 'the first URL first');
  t.equal(socket.server, first.url);
  t.equal(socket.maxPayload, 1024 * 1024, "the server's max_payload, from its INFO");
  t.ok(socket.write(pub('test.a', '', 'one')));
  t.equal(await events.next(/^msg /, 0), 'msg test.a one');

  const mark = events.seen.length;
  await first.kill();
  await events.next(/^up /, mark);
  t.same(events.seen.slice(mark), [`down ${first.url}`, `up ${second.url}`], 'lost, then on the other server');
  socket.write(pub('test.b', '', 'two'));
  t.equal(await events.next(/^msg test\.b/, mark), 'msg test.b two', 'its subscription made again there');

  await first.start();
  const again = events.seen.length;
  await second.kill();
  await events.next(/^up /, again);
  t.same(events.seen.slice(again), [`down ${second.url}`, `up ${first.url}`], 'back on the server started again');
  socket.write(pub('test.c', '', 'three'));
  t.equal(await events.next(/^msg test\.c/, again), 'msg test.c three');
  t.notOk(events.seen.some((event) => event.startsWith('log ')), 'nothing logged above debug');

  socket.close();
  t.equal(socket.connected, false);
  t.equal(socket.write(pub('test.d', '', 'four')), false, 'closed: nothing written');
  await first.kill();
  await first.start();
  await delay(1500);
  t.equal(socket.connected, false, 'closed for good: no reconnect');
});

t.test("the user and password of the URL, or its token, log in; wrong ones are refused and logged", async (t) => {
  const withUser = (await natsServer(t, ['--user', 'alice', '--pass', 's3 cret'])).url.split(':')[2] as string;
  const good = open(t, [`nats://alice:s3%20cret@127.0.0.1:${withUser}`]);
  await good.events.next(/^up /, 0);
  t.same(good.events.seen, [`up nats://127.0.0.1:${withUser}`], 'in, and no password in what it says');
  const bad = open(t, [`nats://alice:wrong@127.0.0.1:${withUser}`]);
  t.equal(await bad.events.next(/^log /, 0), `log warn cluster: NATS server nats://127.0.0.1:${withUser} said: Authorization Violation`);
  t.equal(bad.socket.connected, false);
  bad.socket.close();

  const withToken = (await natsServer(t, ['--auth', 'tok3n'])).url.split(':')[2] as string;
  const token = open(t, [`nats://tok3n@127.0.0.1:${withToken}`]);
  await token.events.next(/^up /, 0);
  token.socket.write(pub('test.t', '', 'in'));
  t.equal(await token.events.next(/^msg /, 0), 'msg test.t in');
  const none = open(t, [`nats://127.0.0.1:${withToken}`]);
  t.equal(await none.events.next(/^log /, 0), `log warn cluster: NATS server nats://127.0.0.1:${withToken} said: Authorization Violation`, 'no token: refused');
  none.socket.close();
});

t.test("the server's PINGs are answered: a connection idle for many of its ping intervals stays up", async (t) => {
  const config = join(tempDir(t), 'ping.conf');
  writeFileSync(config, 'ping_interval: "100ms"\nping_max: 2\n');
  const server = await natsServer(t, ['-c', config]);
  const { events } = open(t, [server.url]);
  await events.next(/^up /, 0);
  await delay(1500);
  t.same(events.seen, [`up ${server.url}`], 'not dropped as stale');
});

t.test("a daemon on NATS servers with a small max_payload: a send over it gets err toolong, one within it goes", async (t) => {
  const dir = tempDir(t);
  const config = join(dir, 'small.conf');
  writeFileSync(config, `max_payload: 512\njetstream {\n  store_dir: ${JSON.stringify(join(dir, 'js'))}\n}\n`);
  const server = await natsServer(t, ['-c', config]);
  const daemon = await startServer(t, { cluster: { urls: [server.url], stream: 'small', replicas: 1 } });
  await daemon.server.clusterReady();
  const alice = await LineClient.login(daemon.port, 'alice');
  // 512 less the 128 bytes kept for headers, less the sender's 5.
  alice.write(`send x ${'a'.repeat(379)}`, `send x ${'b'.repeat(380)}`);
  t.equal(await alice.line(), 'ok send 1');
  t.equal(await alice.line(), "err toolong the message is over what the cluster's NATS servers take (max_payload 512 bytes, less 128 for its headers); nothing was sent");
  alice.close();
});

/**
 * A socket in a node process of its own that trusts the test's CA (the
 * daemon has no option for one: it trusts what node trusts, and
 * NODE_EXTRA_CA_CERTS is read at start): connects to `url`, publishes to
 * itself, and prints what came back, or its log lines if nothing did.
 */
function secureRound(url: string, ca: string): Promise<string> {
  const dist = new URL('../src/cluster/', import.meta.url).href;
  const script = `
    import { NatsSocket } from '${dist}nats-socket.js';
    import { pub } from '${dist}nats-frames.js';
    const logs = [];
    const socket = new NatsSocket({ urls: [process.argv[1]], name: 'tls', version: '0',
      logger: { log: (level, message) => logs.push(level + ' ' + message) },
      onConnected: (server) => socket.write(pub('test.s', '', 'secret via ' + server)) });
    socket.subscribe('test.>', (frame) => { console.log(frame.payload); process.exit(0); });
    socket.start();
    setTimeout(() => { console.log(logs.join('; ') || 'nothing'); process.exit(1); }, 3000);
  `;
  return new Promise((resolve) => {
    execFile(process.execPath, ['--input-type=module', '-e', script, url], { env: { ...process.env, NODE_EXTRA_CA_CERTS: ca } }, (_error, stdout) => resolve(stdout.trim()));
  });
}

t.test('TLS: tls:// URLs, and nats:// to a server that requires it, go over TLS checked against the URL host', async (t) => {
  const certs = makeCerts(tempDir(t));
  const server = await natsServer(t, ['--tls', '--tlscert', certs.server.cert, '--tlskey', certs.server.key]);
  const port = server.url.split(':')[2] as string;
  t.equal(await secureRound(`tls://127.0.0.1:${port}`, certs.ca), `secret via tls://127.0.0.1:${port}`);
  t.equal(await secureRound(`nats://127.0.0.1:${port}`, certs.ca), `secret via nats://127.0.0.1:${port}`, 'the server asked for TLS');
  const other = makeCerts(tempDir(t));
  t.match(await secureRound(`tls://127.0.0.1:${port}`, other.ca), /^warn cluster: NATS connection for sends failed at tls:\/\/127\.0\.0\.1:\d+: .*certificate/, 'a certificate of another CA: refused');
});

/**
 * A TCP peer that greets like nats-server and answers the handshake's
 * PING, then does what `after` says: what a real server does not, to see
 * the socket leave and come again. Its connections are counted.
 */
async function oddServer(t: Test, after: (socket: import('node:net').Socket) => void): Promise<{ url: string; connections: () => number }> {
  let connections = 0;
  const accepted = new Set<import('node:net').Socket>();
  const server = createServer((socket) => {
    connections++;
    accepted.add(socket);
    socket.write('INFO {"server_id":"odd","max_payload":2048}\r\n');
    let handshaken = false;
    socket.on('data', (data) => {
      if (handshaken || !data.toString().includes('PING\r\n')) return;
      handshaken = true;
      socket.write('PONG\r\n');
      after(socket);
    });
    socket.on('error', () => {});
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(
    () =>
      new Promise((resolve) => {
        server.close(resolve);
        for (const socket of accepted) socket.destroy();
      }),
  );
  return { url: `nats://127.0.0.1:${(server.address() as AddressInfo).port}`, connections: () => connections };
}

t.test('a server that sends what is not NATS, or stops answering PINGs, is left and dialled again', async (t) => {
  const garbled = await oddServer(t, (socket) => socket.write('HELLO\r\n'));
  const odd = open(t, [garbled.url]);
  t.equal(await odd.events.next(/^up /, 0), `up ${garbled.url}`);
  t.equal(odd.socket.maxPayload, 2048);
  t.equal(await odd.events.next(/^down /, 0), `down ${garbled.url}`);
  await odd.events.next(/^up /, 2);
  t.ok(garbled.connections() >= 2, 'dialled again');
  odd.socket.close();

  const mute = await oddServer(t, () => {});
  const quiet = open(t, [mute.url], 50);
  await quiet.events.next(/^up /, 0);
  t.equal(await quiet.events.next(/^down /, 0), `down ${mute.url}`, 'two PINGs unanswered: gone');
  await quiet.events.next(/^up /, 2);
  t.ok(mute.connections() >= 2, 'dialled again');
});
