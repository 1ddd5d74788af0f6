/**
 * One MQTT session's subscriptions (shared ones aside: those are queue
 * group memberships) and the linebus patterns they need on the bus. A
 * filter is one or two patterns (topics.ts), and two filters may need the
 * same pattern (`a` and `a/#` both need `a`), so patterns are counted: the
 * bus subscription goes when the last filter needing it goes. The bus
 * gives a receiver one copy of a message whatever number of its patterns
 * match; `grantedFor` then says at which QoS, the highest among the
 * matching filters (MQTT 3.1.1 section 3.3.5).
 */
import type { Qos } from './qos.js';
import { filterMatches, filterPatterns } from './topics.js';
import type { MqttFilter } from './topics.js';

export interface Subscription {
  readonly filter: MqttFilter;
  readonly qos: Qos;
  /**
   * The journal's last id when it was made: a subscription gets the
   * messages journaled after it, also when a resumed session reads them
   * from the journal after its position.
   */
  readonly since: number;
}

export class SubscriptionSet {
  /** By the filter as the client wrote it [MQTT-3.8.4-3]. */
  readonly #byFilter = new Map<string, Subscription>();
  readonly #patterns = new Map<string, number>();

  /**
   * Adds a subscription, or replaces the one with the same filter: its QoS
   * changes, its flow of messages goes on from where it was
   * [MQTT-3.8.4-3] (its retained messages are sent again, the door's
   * part). Returns the patterns the bus must now deliver that it did not.
   */
  subscribe(filter: MqttFilter, qos: Qos, since: number): string[] {
    const had = this.#byFilter.get(filter.filter);
    this.#byFilter.set(filter.filter, { filter, qos, since: had ? had.since : since });
    if (had) return [];
    const added: string[] = [];
    for (const pattern of filterPatterns(filter)) {
      const count = this.#patterns.get(pattern) ?? 0;
      this.#patterns.set(pattern, count + 1);
      if (count === 0) added.push(pattern);
    }
    return added;
  }

  /** Removes the subscription of `filter`; returns the patterns the bus may stop delivering (none if there was none). */
  unsubscribe(filter: string): string[] {
    const subscription = this.#byFilter.get(filter);
    if (subscription === undefined) return [];
    this.#byFilter.delete(filter);
    const removed: string[] = [];
    for (const pattern of filterPatterns(subscription.filter)) {
      const count = (this.#patterns.get(pattern) as number) - 1;
      if (count === 0) {
        this.#patterns.delete(pattern);
        removed.push(pattern);
      } else {
        this.#patterns.set(pattern, count);
      }
    }
    return removed;
  }

  /** The highest QoS granted to a subscription that gets message `id` of linebus `topic`, or undefined if none does. */
  grantedFor(topic: string, id: number): Qos | undefined {
    let best: Qos | undefined;
    for (const { filter, qos, since } of this.#byFilter.values()) {
      if ((best === undefined || qos > best) && id > since && filterMatches(filter, topic)) {
        best = qos;
        if (best === 2) break;
      }
    }
    return best;
  }

  /** The patterns the bus delivers for these subscriptions. */
  patterns(): string[] {
    return [...this.#patterns.keys()];
  }

  /** Every subscription, in the order made (what a kept session persists). */
  list(): Subscription[] {
    return [...this.#byFilter.values()];
  }

  get size(): number {
    return this.#byFilter.size;
  }
}
