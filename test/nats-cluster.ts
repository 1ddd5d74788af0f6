/**
 * A real NATS JetStream cluster for tests: Debian's nats-server (installed by
 * npm test's set-up when missing), one process per node, every port on
 * 127.0.0.1, one config file and one file store per node under a directory
 * the test owns. Nodes can be SIGKILLed and started again on the same ports
 * and store.
 *
 * nats-server announces readiness nowhere a parent can await, so readiness is
 * polled: the client port must greet with INFO and the monitoring /healthz
 * must say ok (on 2.9.10 plain /healthz fails until the node is in touch with
 * a JetStream meta leader and its streams are current; `?js-enabled-only=true`
 * says ok as soon as JetStream is on, too early), every 50 ms, 20 s at most.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { get } from 'node:http';
import { connect, createServer } from 'node:net';
import type { AddressInfo, Server } from 'node:net';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { tool, which } from './tools.js';

const CLUSTER_NAME = 'linebus-test';
const HOST = '127.0.0.1';
/** How long a node, or the cluster, may take to be ready. */
const READY_MS = 20_000;
const POLL_MS = 50;
/** How long stop() waits after SIGTERM before SIGKILL. */
const STOP_MS = 5_000;
const TAIL_LINES = 50;

export interface NatsNode {
  readonly name: string;
  /** Client port on 127.0.0.1. */
  readonly port: number;
  /** nats://127.0.0.1:<port> */
  readonly url: string;
  readonly running: boolean;
  /** SIGKILL the process and wait for it to exit. */
  kill(): Promise<void>;
  /** Start it again with the same ports, name and store dir; resolves when it accepts client connections and its /healthz says ok. */
  start(): Promise<void>;
}

export interface NatsCluster {
  readonly nodes: readonly NatsNode[];
  /** Comma-separated client URLs of all nodes, e.g. "nats://127.0.0.1:4301,nats://127.0.0.1:4302". */
  readonly urls: string;
  /** SIGTERM every running node and wait for exit (SIGKILL after 5 s). Does not remove `dir`. */
  stop(): Promise<void>;
}

interface Programs {
  server: string;
  /**
   * util-linux's setpriv, to give each node a parent-death signal: a test
   * process killed by a signal (tap's timeout sends SIGALRM, then SIGKILL)
   * runs no 'exit' handler, but the kernel still kills its nodes.
   */
  setpriv: string | undefined;
}

/** The programs a node runs; throws, naming the Debian package, without nats-server. */
function programs(): Programs {
  return { server: tool('nats-server'), setpriv: which('setpriv') };
}

/** Children still running, killed if the test process exits without stopping them (see Programs.setpriv for when it is killed). */
const live = new Set<ChildProcess>();
let exitHook = false;

function track(child: ChildProcess): void {
  if (!exitHook) {
    exitHook = true;
    process.on('exit', () => {
      for (const running of live) running.kill('SIGKILL');
    });
  }
  live.add(child);
}

/** `count` distinct ports that were free on 127.0.0.1 a moment ago. */
async function freePorts(count: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from(
      { length: count },
      () =>
        new Promise<Server>((resolve, reject) => {
          const server = createServer();
          server.once('error', reject);
          server.listen(0, HOST, () => resolve(server));
        }),
    ),
  );
  const ports = servers.map((server) => (server.address() as AddressInfo).port);
  await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
  return ports;
}

/** GET http://127.0.0.1:<port><path> as JSON, whatever the status (/healthz says 503 with a JSON body). */
function getJson(port: number, path: string): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const request = get({ host: HOST, port, path, agent: false, timeout: 1_000 }, (response) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (body += chunk));
      response.on('error', reject);
      response.on('end', () => {
        try {
          resolve(JSON.parse(body));
        } catch {
          reject(new Error(`${path}: HTTP ${response.statusCode}: ${body.slice(0, 200)}`));
        }
      });
    });
    request.on('timeout', () => request.destroy(new Error(`${path}: no answer in 1 s`)));
    request.on('error', reject);
  });
}

/** Whether the client port greets with INFO, as nats-server does once it takes clients. */
function greets(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, HOST);
    const done = (ok: boolean): void => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(1_000, () => done(false));
    socket.once('data', (data) => done(data.toString('latin1').startsWith('INFO ')));
    socket.once('error', () => done(false));
    socket.once('close', () => done(false));
  });
}

interface MetaCluster {
  leader?: string;
  replicas?: { name: string; current: boolean }[];
}

function metaCluster(jsz: unknown): MetaCluster | undefined {
  return (jsz as { meta_cluster?: MetaCluster } | null)?.meta_cluster;
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** The last lines a process wrote, stdout and stderr together. */
class Tail {
  readonly #lines: string[] = [];
  #partial = '';

  push(chunk: string): void {
    const parts = (this.#partial + chunk).split('\n');
    this.#partial = parts.pop() as string;
    this.#lines.push(...parts);
    this.#lines.splice(0, Math.max(0, this.#lines.length - TAIL_LINES));
  }

  text(): string {
    return [...this.#lines, this.#partial].filter((line) => line !== '').join('\n');
  }
}

class Node implements NatsNode {
  readonly name: string;
  readonly port: number;
  readonly url: string;
  readonly httpPort: number;
  readonly #config: string;
  #child: ChildProcess | undefined;
  #exited: Promise<void> = Promise.resolve();
  #exitStatus = '';
  #launches = 0;
  readonly #tail = new Tail();

  constructor(name: string, port: number, httpPort: number, config: string) {
    this.name = name;
    this.port = port;
    this.url = `nats://${HOST}:${port}`;
    this.httpPort = httpPort;
    this.#config = config;
  }

  get running(): boolean {
    return this.#child !== undefined;
  }

  /** Spawns the process without waiting for it to be ready. */
  async launch(): Promise<void> {
    if (this.#child) throw new Error(`nats-server ${this.name} is running already`);
    const found = programs();
    if (this.#launches++ > 0) this.#tail.push(`(${this.name} started again)\n`);
    const command = [found.server, '-c', this.#config];
    if (found.setpriv) command.unshift(found.setpriv, '--pdeathsig', 'KILL', '--');
    const child = spawn(command[0] as string, command.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
    this.#child = child;
    this.#exitStatus = '';
    track(child);
    for (const stream of [child.stdout, child.stderr]) {
      stream?.setEncoding('utf8');
      stream?.on('data', (chunk: string) => this.#tail.push(chunk));
    }
    this.#exited = new Promise((resolve) => {
      const gone = (status: string): void => {
        live.delete(child);
        if (this.#child === child) {
          this.#child = undefined;
          this.#exitStatus = status;
        }
        resolve();
      };
      child.once('exit', (code, signal) => gone(signal ? `killed by ${signal}` : `exited with code ${code}`));
      child.once('error', (error) => {
        if (child.pid === undefined) gone(`could not be started: ${error.message}`);
      });
    });
  }

  /** An Error about this node, with what it wrote last. */
  fail(message: string): Error {
    const tail = this.#tail.text();
    return new Error(`nats-server ${this.name}: ${message}${tail ? `\n--- last output of ${this.name} ---\n${tail}` : ''}`);
  }

  /** Polls until the client port greets and /healthz says ok; rejects at `deadline` or if the process exits. */
  async waitReady(deadline: number): Promise<void> {
    let last = 'not asked yet';
    for (;;) {
      if (!this.#child) throw this.fail(`${this.#exitStatus || 'not running'} before it was ready`);
      if (await greets(this.port)) {
        try {
          const health = (await getJson(this.httpPort, '/healthz')) as { status?: string; error?: string } | null;
          if (health?.status === 'ok') return;
          last = JSON.stringify(health);
        } catch (error) {
          last = describe(error);
        }
      } else {
        last = `client port ${this.port} does not greet yet`;
      }
      if (Date.now() >= deadline) throw this.fail(`not ready after ${READY_MS / 1000} s; last /healthz: ${last}`);
      await delay(POLL_MS);
    }
  }

  async start(): Promise<void> {
    await this.launch();
    try {
      await this.waitReady(Date.now() + READY_MS);
    } catch (error) {
      await this.kill();
      throw error;
    }
  }

  async kill(): Promise<void> {
    this.#child?.kill('SIGKILL');
    await this.#exited;
  }

  /** SIGTERM, then SIGKILL if it has not exited after STOP_MS. */
  async stop(): Promise<void> {
    const child = this.#child;
    if (!child) return this.#exited;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), STOP_MS);
    await this.#exited;
    clearTimeout(timer);
  }
}

/** A nats-server config file: the strings JSON-quoted, which the config syntax accepts. */
function config(name: string, store: string, ports: { client: number; route: number; http: number }, routes: number[]): string {
  const q = JSON.stringify;
  const lines = [
    `server_name: ${q(name)}`,
    `listen: ${q(`${HOST}:${ports.client}`)}`,
    `http: ${q(`${HOST}:${ports.http}`)}`,
    'jetstream {',
    `  store_dir: ${q(store)}`,
    '  max_mem: 64MB',
    '  max_file: 1GB',
    '}',
  ];
  if (routes.length > 0) {
    lines.push(
      'cluster {',
      `  name: ${q(CLUSTER_NAME)}`,
      `  listen: ${q(`${HOST}:${ports.route}`)}`,
      `  routes: [${routes.map((port) => q(`nats-route://${HOST}:${port}`)).join(', ')}]`,
      '}',
    );
  }
  return `${lines.join('\n')}\n`;
}

/**
 * Polls until every node names the same JetStream meta leader and the
 * leader sees every other node as a current peer, so a stream with one
 * replica per node can be placed at once.
 */
async function waitMetaLeader(nodes: readonly Node[], deadline: number): Promise<void> {
  let last = 'not asked yet';
  for (;;) {
    try {
      const metas = await Promise.all(nodes.map(async (node) => metaCluster(await getJson(node.httpPort, '/jsz'))));
      const leader = metas[0]?.leader;
      const leaderIndex = nodes.findIndex((node) => node.name === leader);
      const peers = metas[leaderIndex]?.replicas ?? [];
      const current = new Set(peers.filter((peer) => peer.current).map((peer) => peer.name));
      if (leader && metas.every((meta) => meta?.leader === leader) && nodes.every((node) => node.name === leader || current.has(node.name))) return;
      last = `meta leaders ${JSON.stringify(metas.map((meta) => meta?.leader ?? null))}, current peers of the leader ${JSON.stringify([...current])}`;
    } catch (error) {
      last = describe(error);
    }
    const stopped = nodes.find((node) => !node.running);
    if (stopped) throw stopped.fail('exited while the cluster was forming');
    if (Date.now() >= deadline) throw new Error(`no JetStream meta leader seen by all ${nodes.length} nats-server nodes after ${READY_MS / 1000} s: ${last}`);
    await delay(POLL_MS);
  }
}

/**
 * Starts `size` nodes (n1, n2, ...) with JetStream (file store under
 * `dir/<name>`, config in `dir/<name>.conf`), routed to each other in cluster
 * "linebus-test" when size > 1, all on 127.0.0.1 only. Resolves when every
 * node greets on its client port, its /healthz says ok, and (size > 1) a
 * meta leader sees every node current, so that creating a stream with `size`
 * replicas succeeds right after.
 */
export async function startNatsCluster(dir: string, size = 3): Promise<NatsCluster> {
  if (!Number.isInteger(size) || size < 1) throw new Error(`a NATS cluster needs a whole number of nodes, at least 1, not ${size}`);
  // Before any port is taken: without nats-server, fail at once naming its package.
  programs();
  // A port found free may be taken by someone else before nats-server binds
  // it: then again on other ports, from empty stores.
  for (let attempt = 1; ; attempt++) {
    try {
      return await tryCluster(dir, size);
    } catch (error) {
      if (attempt === 3 || !/address already in use/.test(describe(error))) throw error;
      for (let i = 1; i <= size; i++) rmSync(join(dir, `n${i}`), { recursive: true, force: true });
    }
  }
}

async function tryCluster(dir: string, size: number): Promise<NatsCluster> {
  const free = await freePorts(size * 3);
  const ports = Array.from({ length: size }, (_, i) => ({ client: free[3 * i] as number, route: free[3 * i + 1] as number, http: free[3 * i + 2] as number }));
  const nodes = ports.map((own, i) => {
    const name = `n${i + 1}`;
    const store = join(dir, name);
    mkdirSync(store, { recursive: true });
    const file = join(dir, `${name}.conf`);
    const routes = size > 1 ? ports.filter((other) => other !== own).map((other) => other.route) : [];
    writeFileSync(file, config(name, store, own, routes));
    return new Node(name, own.client, own.http, file);
  });
  const stop = async (): Promise<void> => {
    await Promise.all(nodes.map((node) => node.stop()));
  };
  try {
    const deadline = Date.now() + READY_MS;
    for (const node of nodes) await node.launch();
    await Promise.all(nodes.map((node) => node.waitReady(deadline)));
    if (size > 1) await waitMetaLeader(nodes, deadline);
  } catch (error) {
    await stop();
    throw error;
  }
  return { nodes, urls: nodes.map((node) => node.url).join(','), stop };
}
