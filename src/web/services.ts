/** What the web listener needs of the daemon (server.ts): the web door and its pages. */
import type { Bus } from '../assemble.js';
import type { Stats } from '../bus/stats.js';
import type { Turn } from '../bus/turn.js';
import type { Logger } from '../log.js';
import type { Admission } from '../session/connection.js';
import { runSteps } from '../store/steps.js';
import type { Store } from '../store/store.js';
import type { Link } from '../transport/link.js';
import type { WebServices } from '../transport/http.js';
import { consolePage } from './console.js';
import { Exporter } from './metrics.js';
import { WebPost } from './post.js';
import { WebStream } from './stream.js';

export interface WebParts {
  readonly bus: Bus;
  readonly store: Store;
  readonly turn: Turn;
  readonly counters: Stats;
  readonly logger: Logger;
  /** As they are now (SIGHUP may change them). */
  readonly limits: { readonly maxLine: number; readonly maxPending: number };
  readonly connections: Admission;
  /** A WebSocket: a Link of the line protocol. */
  accept(link: Link): void;
  /** The listener of each connection, for the connections gauge. */
  listeners(): Iterable<string>;
  stats(): [string, string | number][];
  healthy(): boolean;
}

export function webServices(parts: WebParts): WebServices {
  const { bus, store, connections, listeners, stats, healthy } = parts;
  const { policy, cursors } = bus;
  const door = { ...bus, turn: parts.turn, counters: parts.counters, logger: parts.logger, limits: parts.limits };
  const exporter = new Exporter();
  return {
    accept: parts.accept,
    receive(request) {
      const stream = connections.admit(request.remote, (id) => new WebStream(id, request, door, connections));
      if (stream instanceof WebStream) stream.run(request);
      else WebStream.refuse(request, stream);
    },
    post(request) {
      const post = connections.admit(request.remote, (id) => new WebPost(id, request, door, connections));
      if (post instanceof WebPost) post.run();
      else WebPost.refuse(request, post);
    },
    login: (caller, user, password) => policy.login(caller, user, password),
    get open() {
      return policy.open;
    },
    metrics: () => {
      const counts = new Map<string, number>();
      for (const listener of listeners()) counts.set(listener, (counts.get(listener) ?? 0) + 1);
      const lastId = store.reader.lastId();
      const lags = [...cursors.all()].map((c) => ({ user: c.user, cursor: c.name, lag: runSteps(store.lag.count(c.pattern, c.mark, lastId)) }));
      return exporter.scrape(stats(), counts, lags);
    },
    healthy,
    maxBody: parts.limits.maxPending,
    consolePage,
  };
}
