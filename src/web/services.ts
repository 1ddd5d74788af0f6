/** What the web listener needs of the daemon (server.ts): the web door and its pages. */
import type { Bus } from '../assemble.js';
import type { Stats } from '../bus/stats.js';
import type { Turn } from '../bus/turn.js';
import type { Logger } from '../log.js';
import type { Admission } from '../session/connection.js';
import type { Link, Seats } from '../transport/link.js';
import type { WebServices } from '../transport/http.js';
import { consolePage } from './console.js';
import { CursorLags } from './lags.js';
import { Exporter } from './metrics.js';
import { WebPost } from './post.js';
import { WebStream } from './stream.js';

export interface WebParts {
  readonly bus: Bus;
  readonly turn: Turn;
  readonly counters: Stats;
  readonly logger: Logger;
  /** As they are now (SIGHUP may change them). */
  readonly limits: {
    readonly maxLine: number;
    readonly maxPending: number;
    readonly maxPostBytes: number;
    readonly maxPostLines: number;
    readonly loginTimeout: number;
    readonly httpBodyTimeout: number;
  };
  readonly connections: Admission & Seats;
  /** A WebSocket: a Link of the line protocol. */
  accept(link: Link): void;
  /** A WebSocket of `/mqtt`: a Link of MQTT's. */
  acceptMqtt(link: Link): void;
  /** The listener of each connection, for the connections gauge. */
  listeners(): Iterable<string>;
  stats(): [string, string | number][];
  healthy(): boolean;
}

export function webServices(parts: WebParts): WebServices {
  const { bus, connections, listeners, stats, healthy, limits } = parts;
  const { policy, cursors, feed } = bus;
  const door = { ...bus, turn: parts.turn, counters: parts.counters, logger: parts.logger, limits };
  const exporter = new Exporter();
  const lags = new CursorLags(cursors, feed, parts.logger);
  return {
    accept: parts.accept,
    acceptMqtt: parts.acceptMqtt,
    receive(request) {
      connections.admit((id) => new WebStream(id, request, door, connections)).run(request);
    },
    post(request) {
      connections.admit((id) => new WebPost(id, request, door, connections)).run();
    },
    login: (caller, user, password) => policy.login(caller, user, password),
    get open() {
      return policy.open;
    },
    metrics: async () => {
      const counted = await lags.lags();
      const counts = new Map<string, number>();
      for (const listener of listeners()) counts.set(listener, (counts.get(listener) ?? 0) + 1);
      return exporter.scrape(stats(), counts, counted);
    },
    healthy,
    consolePage,
    seats: connections,
    limits,
  };
}
