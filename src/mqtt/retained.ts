/**
 * Retained messages (MQTT.md, "Retained messages"): a PUBLISH with RETAIN
 * is journaled like any other and, in the same transaction, becomes its
 * topic's row in the `retained` table (an empty one deletes it); retention
 * never touches that table. A new subscription gets the matching ones
 * first, RETAIN set, read from the database a page at a time: there is no
 * copy in memory, a bus may have a retained message on every topic.
 */
import type { Staged } from '../bus/upstream.js';
import type { Qos } from '../protocol/events.js';
import { RETAINED_PAGE } from '../store/mqtt.js';
import type { MqttStore } from '../store/mqtt.js';
import type { Outbound } from './outbound.js';
import type { MqttFilter } from './topics.js';

/** The row a retained PUBLISH leaves, written in its message's transaction (Publication.staged). */
export function retainedWrite(store: MqttStore, topic: string, sender: string, body: string, qos: Qos): Staged {
  return { write: () => store.retain({ topic, ts: Date.now(), sender, body, qos }), settled: () => {} };
}

/** Staged state of one message from two sources, either possibly absent. */
export function together(a: Staged | undefined, b: Staged | undefined): Staged | undefined {
  if (a === undefined || b === undefined) return a ?? b;
  return {
    write: () => {
      a.write();
      b.write();
    },
    settled: (error) => {
      a.settled(error);
      b.settled(error);
    },
  };
}

/** The topics a filter's retained messages can have: the segments before its first wildcard. */
function literalPrefix(pattern: string): string {
  const segments = pattern.split('.');
  const wild = segments.findIndex((segment) => segment === '*' || segment === '>');
  return wild === -1 ? pattern : segments.slice(0, wild).join('.');
}

/**
 * Offers `outbound` the retained messages of `filter`, granted `qos`,
 * waiting for it to take each page; stops when it closes.
 */
export async function sendRetained(store: MqttStore, outbound: Outbound, filter: MqttFilter, qos: Qos): Promise<void> {
  const prefix = literalPrefix(filter.pattern);
  if (prefix === filter.pattern) {
    const retained = store.retained(prefix);
    if (retained !== undefined) outbound.offerRetained(retained, filter, qos);
    return;
  }
  let after: string | undefined;
  for (;;) {
    const page = store.retainedPage(prefix, after);
    for (const retained of page) outbound.offerRetained(retained, filter, qos);
    if (page.length < RETAINED_PAGE) return;
    after = (page[page.length - 1] as { topic: string }).topic;
    if (!(await outbound.room())) return;
  }
}
