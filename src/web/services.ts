/** What the web listener needs of the daemon (server.ts). */
import type { Bus } from '../assemble.js';
import type { Store } from '../store/store.js';
import { runSteps } from '../store/lag.js';
import type { Link } from '../transport/link.js';
import type { WebServices } from '../transport/http.js';
import { consolePage } from './console.js';
import { metricsText } from './metrics.js';

export interface WebParts {
  readonly bus: Bus;
  readonly store: Store;
  readonly maxBody: number;
  accept(link: Link): void;
  /** The listener of each connection, for the connections gauge. */
  listeners(): Iterable<string>;
  stats(): [string, string | number][];
  healthy(): boolean;
}

export function webServices({ bus, store, maxBody, accept, listeners, stats, healthy }: WebParts): WebServices {
  const { policy, cursors } = bus;
  return {
    accept,
    login: (caller, user, password) => policy.login(caller, user, password),
    get open() {
      return policy.open;
    },
    tsOf: (id) => store.reader.message(id)?.ts,
    metrics: () => {
      const counts = new Map<string, number>();
      for (const listener of listeners()) counts.set(listener, (counts.get(listener) ?? 0) + 1);
      const lastId = store.reader.lastId();
      const lags = [...cursors.all()].map((c) => ({ user: c.user, cursor: c.name, lag: runSteps(store.lag.count(c.pattern, c.mark, lastId)) }));
      return metricsText(stats(), counts, lags);
    },
    healthy,
    maxBody,
    consolePage,
  };
}
