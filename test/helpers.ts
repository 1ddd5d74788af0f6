/**
 * Test helpers: a real daemon on port 0 with a real SQLite file in a temp
 * dir, and a line client over real TCP whose reads are awaited, never slept
 * for.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import type { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { connect as connectTls } from 'node:tls';
import type { ConnectionOptions } from 'node:tls';
import { join } from 'node:path';
import { LinebusServer } from '../src/server.js';
import type { ServerOptions } from '../src/server.js';
import type { Logger } from '../src/log.js';
import { TEST_WAL_BYTES } from './cli-helpers.js';

export { TEST_WAL_BYTES };

export interface Teardown {
  teardown(fn: () => unknown): void;
}

export function tempDir(t: Teardown): string {
  const dir = mkdtempSync(join(tmpdir(), 'linebus-test-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A figure of `stats`, by name, as a number. */
export function stat(pairs: [string, string | number][], name: string): number {
  return Number(pairs.find(([key]) => key === name)?.[1]);
}

export interface Started {
  server: LinebusServer;
  port: number;
  db: string;
  logs: string[];
  /** Resolves with the first log line (past, from line `from` on, or future) matching `pattern`. */
  waitForLog(pattern: RegExp, from?: number): Promise<string>;
}

/**
 * Runs `start` (whose synchronous part makes the daemon's checkpoint thread)
 * with NODE_OPTIONS unset. tap puts its coverage loader there, and worker
 * threads read it: each checkpoint thread would load the loader, its own
 * loader thread and a coverage session, about 0.1 s of CPU, a hundred times
 * a run. Child processes keep the loader (tap adds it to every spawn);
 * the thread's code is measured where it is tested, in faults.test.ts.
 */
function withoutRunnerHooks<T>(start: () => Promise<T>): Promise<T> {
  const saved = process.env.NODE_OPTIONS;
  delete process.env.NODE_OPTIONS;
  try {
    return start();
  } finally {
    if (saved !== undefined) process.env.NODE_OPTIONS = saved;
  }
}

export async function startServer(t: Teardown, options: Partial<ServerOptions> = {}): Promise<Started> {
  const db = options.db ?? join(tempDir(t), 'bus.db');
  const logs: string[] = [];
  const watchers = new Set<(line: string) => void>();
  const logger: Logger = {
    log(level, message, fields) {
      const line = `${level} ${message} ${JSON.stringify(fields ?? {})}`;
      logs.push(line);
      for (const watcher of watchers) watcher(line);
    },
  };
  const waitForLog = (pattern: RegExp, from = 0): Promise<string> =>
    new Promise((resolve) => {
      const seen = logs.slice(from).find((line) => pattern.test(line));
      if (seen !== undefined) return resolve(seen);
      const watcher = (line: string): void => {
        if (!pattern.test(line)) return;
        watchers.delete(watcher);
        resolve(line);
      };
      watchers.add(watcher);
    });
  const server = await withoutRunnerHooks(() => LinebusServer.start({ logger, walPreallocateBytes: TEST_WAL_BYTES, ...options, db, host: options.host ?? '127.0.0.1', port: 0 }));
  t.teardown(() => server.stop());
  return { server, port: server.address().port, db, logs, waitForLog };
}

/**
 * Resolves once the daemon has logged `count` connections from its log
 * line `from` on: a child process's connection (its start takes from
 * 0.3 s to seconds on a busy machine) is awaited, so that a test polls,
 * if at all, only for what the child does once connected.
 */
export async function connections(started: Pick<Started, 'logs' | 'waitForLog'>, count: number, from = 0): Promise<void> {
  let at = from;
  for (let i = 0; i < count; i++) at = started.logs.indexOf(await started.waitForLog(/^debug connected /, at), at) + 1;
}

/** A client that reads lines; `line()` waits for the next one. */
export class LineClient {
  readonly socket: Socket;
  readonly #lines: string[] = [];
  #waiter: ((line: string | undefined) => void) | undefined;
  #partial = '';
  #ended = false;
  readonly closed: Promise<void>;

  private constructor(socket: Socket) {
    this.socket = socket;
    socket.setEncoding('utf8');
    socket.on('data', (text: string) => {
      const parts = (this.#partial + text).split('\n');
      this.#partial = parts.pop() as string;
      for (const part of parts) this.#push(part);
    });
    this.closed = new Promise((resolve) => {
      socket.on('close', () => {
        this.#ended = true;
        this.#waiter?.(undefined);
        resolve();
      });
    });
    socket.on('error', () => {});
  }

  static async connect(port: number, host = '127.0.0.1'): Promise<LineClient> {
    const socket = connect(port, host);
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    return new LineClient(socket);
  }

  /** Connects over TLS; rejects if the handshake fails. */
  static async tls(port: number, options: ConnectionOptions): Promise<LineClient> {
    const socket = connectTls({ host: '127.0.0.1', port, ...options });
    await new Promise<void>((resolve, reject) => {
      socket.once('secureConnect', resolve);
      socket.once('error', reject);
    });
    return new LineClient(socket);
  }

  /** Connects, reads the greeting, logs in as `user`. */
  static async login(port: number, user = 'alice', password = 'pw'): Promise<LineClient> {
    const client = await LineClient.connect(port);
    await client.line();
    client.write(`login ${user} ${password}`);
    const reply = await client.line();
    if (reply !== `ok login ${user}`) throw new Error(`login failed: ${reply}`);
    return client;
  }

  #push(line: string): void {
    const waiter = this.#waiter;
    if (waiter) {
      this.#waiter = undefined;
      waiter(line);
    } else {
      this.#lines.push(line);
    }
  }

  write(...lines: string[]): void {
    this.socket.write(lines.map((line) => `${line}\n`).join(''));
  }

  writeRaw(data: string | Buffer): void {
    this.socket.write(data);
  }

  /** The next line; undefined once the server closed and nothing is left. */
  line(): Promise<string | undefined> {
    const queued = this.#lines.shift();
    if (queued !== undefined) return Promise.resolve(queued);
    if (this.#ended) return Promise.resolve(undefined);
    return new Promise((resolve) => {
      this.#waiter = resolve;
    });
  }

  // lines, rest and until take the lines already in without awaiting: one
  // await per chunk read, not per line (tap hooks every promise a test
  // makes, and a catch-up test reads 100,000 lines).

  async lines(count: number): Promise<(string | undefined)[]> {
    const out: (string | undefined)[] = [];
    for (let i = 0; i < count; i++) out.push(this.#lines.shift() ?? (await this.line()));
    return out;
  }

  /** Every line until the server closes the connection. */
  async rest(): Promise<string[]> {
    const out: string[] = [];
    for (;;) {
      const line = this.#lines.shift() ?? (await this.line());
      if (line === undefined) return out;
      out.push(line);
    }
  }

  /** Every line up to and including the first that starts with `prefix`. */
  async until(prefix: string): Promise<string[]> {
    const out: string[] = [];
    for (;;) {
      const line = this.#lines.shift() ?? (await this.line());
      if (line === undefined) throw new Error(`closed before '${prefix}'`);
      out.push(line);
      if (line.startsWith(prefix)) return out;
    }
  }

  /** A ping round trip: everything the server sent before is in. */
  async sync(token = 'sync'): Promise<string[]> {
    this.write(`ping ${token}`);
    const before: string[] = [];
    for (;;) {
      const line = await this.line();
      if (line === undefined) throw new Error('closed while syncing');
      if (line === `pong ${token}`) return before;
      before.push(line);
    }
  }

  close(): void {
    this.socket.destroy();
  }
}

/** The body of a streamed response, read until `done` says it holds enough. */
export async function readUntil(response: Response, done: (text: string) => boolean): Promise<string> {
  const reader = (response.body as ReadableStream<Uint8Array>).getReader();
  const decoder = new TextDecoder();
  let text = '';
  while (!done(text)) {
    const { value, done: ended } = await reader.read();
    if (ended) break;
    text += decoder.decode(value, { stream: true });
  }
  await reader.cancel();
  return text;
}
