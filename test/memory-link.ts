/**
 * An in-memory Link and a session wired to real services (a real SQLite
 * file in a temp dir) for fast unit tests of sessions and handlers without
 * sockets.
 */
import { join } from 'node:path';
import { assembleBus } from '../src/assemble.js';
import { Stats } from '../src/bus/stats.js';
import { Turn } from '../src/bus/turn.js';
import { silentLogger } from '../src/log.js';
import { Session } from '../src/session/session.js';
import type { SessionServices } from '../src/session/session.js';
import { Store } from '../src/store/store.js';
import type { Link, LinkEvents } from '../src/transport/link.js';
import { tempDir } from './helpers.js';
import type { Teardown } from './helpers.js';

export class MemoryLink implements Link {
  readonly listener = 'memory';
  readonly remoteAddress = '127.0.0.1';
  readonly remote = '127.0.0.1:1';
  /** What the session wrote, as it wrote it. */
  readonly written: (string | Buffer)[] = [];
  writableLength = 0;
  paused = false;
  ended = false;
  destroyed = false;
  #events: LinkEvents | undefined;
  #onResume: (() => void) | undefined;
  #drains: (() => void)[] = [];
  #onWait: (() => void) | undefined;
  #onWrite: (() => void) | undefined;

  open(events: LinkEvents): void {
    this.#events = events;
  }

  /** The client sends `data` (text as UTF-8). */
  send(data: string | Buffer): void {
    this.#events?.data(typeof data === 'string' ? Buffer.from(data) : data);
  }

  /** The client half-closes. */
  half(): void {
    this.#events?.end();
  }

  close(): void {
    this.#events?.close(undefined);
    this.read();
  }

  /** The peer reads everything: the link drains. */
  read(): void {
    this.writableLength = 0;
    for (const drained of this.#drains.splice(0)) drained();
  }

  /** Resolves the next time the session waits for the link to drain. */
  waited(): Promise<void> {
    return new Promise((resolve) => (this.#onWait = resolve));
  }

  /** Every line written so far. */
  lines(): string[] {
    // Raw bytes (a telnet answer) show as latin1 characters.
    const text = this.written.map((data) => (typeof data === 'string' ? data : data.toString('latin1'))).join('');
    return text.split('\n').filter((line) => line !== '');
  }

  write(data: string | Buffer): void {
    this.written.push(data);
    this.#onWrite?.();
  }

  /** Resolves once the session has written more than `count` times (at once if it has). */
  grown(count: number): Promise<void> {
    if (this.written.length > count) return Promise.resolve();
    return new Promise((resolve) => (this.#onWrite = resolve));
  }

  writev(pieces: readonly (string | Buffer)[]): void {
    this.written.push(...pieces);
  }

  pause(): void {
    this.paused = true;
  }

  resume(): void {
    this.paused = false;
    this.#onResume?.();
  }

  /** Resolves at the next resume(). */
  resumed(): Promise<void> {
    return new Promise((resolve) => (this.#onResume = resolve));
  }

  drained(): Promise<void> {
    if (this.writableLength === 0) return Promise.resolve();
    this.#onWait?.();
    return new Promise((resolve) => this.#drains.push(resolve));
  }

  end(): void {
    this.ended = true;
  }

  destroy(): void {
    this.destroyed = true;
  }
}

export interface Bench {
  services: SessionServices;
  store: Store;
  turn: Turn;
  stats: Stats;
  session(link?: MemoryLink): { session: Session; link: MemoryLink };
  /** Ends turns until `link` has written `count` lines (at most 1000 turns). */
  lines(link: MemoryLink, count: number): Promise<string[]>;
}

/** Real services over a real journal file, without a server or sockets. */
export function bench(t: Teardown, limits = { maxLine: 65536, maxPending: 8 << 20, maxSubscriptions: 1000, maxAckPending: 1000, maxCursors: 100, maxGroups: 100, maxInput: 65536 }): Bench {
  const store = Store.open(join(tempDir(t), 'unit.db'));
  t.teardown(() => store.close());
  const turn = new Turn();
  const stats = new Stats();
  const services: SessionServices = {
    version: 'test',
    ...assembleBus(store, turn, stats, silentLogger, limits),
    reader: store.reader,
    starts: store.starts,
    stats: () => stats.pairs(),
    connections: () => [],
    turn,
    counters: stats,
    logger: silentLogger,
    limits,
    closed: () => {},
  };
  let id = 1;
  return {
    services,
    store,
    turn,
    stats,
    session(link = new MemoryLink()) {
      return { session: new Session(link, services, id++), link };
    },
    async lines(link, count) {
      for (let turns = 0; turns < 1000 && link.lines().length < count; turns++) await turn.ended();
      return link.lines();
    },
  };
}
