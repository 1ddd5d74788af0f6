/**
 * One MQTT session (MQTT.md, "Sessions"): its subscriptions, its outgoing
 * window and the QoS 2 identifiers it received, kept under (user, client
 * identifier) while its connections come and go. A kept session (clean
 * session 0) is a durable cursor: it is also in the journal's database,
 * and what changes with traffic (the position, the messages in flight,
 * the identifiers released) is written with the broker's next commit, in
 * its transaction, as a cursor's mark is. A clean session writes nothing.
 */
import type { Broker } from '../bus/broker.js';
import type { Staged } from '../bus/upstream.js';
import type { Message, Qos } from '../protocol/events.js';
import type { MqttStore, SessionKey, StoredInflight } from '../store/mqtt.js';
import { OutboundWindow } from './inflight.js';
import { ReceivedQos2 } from './qos.js';
import { SubscriptionSet } from './subscriptions.js';
import type { MqttFilter } from './topics.js';

/** A message on its way to the client, as the window holds it. */
export interface OutMessage extends Message {
  /** Its MQTT topic name. */
  readonly name: string;
  /** Sent with RETAIN: a retained message sent on SUBSCRIBE (its id is 0). */
  readonly retain: boolean;
  /** A job of a shared subscription's group: acked by its PUBACK or PUBCOMP. */
  readonly job: boolean;
}

/** `$share/<group>/<filter>`: a membership of queue group `group`. */
export interface ShareSubscription {
  /** The filter as the client wrote it, `$share/...` included. */
  readonly text: string;
  readonly group: string;
  readonly filter: MqttFilter;
  readonly qos: Qos;
}

export interface SessionParts {
  readonly store: MqttStore;
  readonly broker: Broker;
}

export class MqttSession implements Staged {
  readonly key: SessionKey;
  /** Clean session 0: kept in the database and across disconnects. */
  readonly kept: boolean;
  readonly subscriptions = new SubscriptionSet();
  readonly shares = new Map<string, ShareSubscription>();
  readonly window: OutboundWindow<OutMessage>;
  readonly received: ReceivedQos2;
  readonly #parts: SessionParts;
  #writtenThrough: number;
  /** Packet identifiers whose in-flight row must be written (or deleted). */
  #changed = new Set<number>();
  /** Received QoS 2 identifiers released by PUBREL, to delete. */
  #released: number[] = [];
  /** What waits for the commit of these changes (a QoS 2 PUBLISH, a PUBCOMP). */
  #afterCommit: (() => void)[] = [];
  #stagedNow = false;
  /** Discarded (a clean session took its key): nothing more of it is written. */
  #discarded = false;

  constructor(key: SessionKey, kept: boolean, window: OutboundWindow<OutMessage>, received: ReceivedQos2, parts: SessionParts) {
    this.key = key;
    this.kept = kept;
    this.window = window;
    this.received = received;
    this.#parts = parts;
    this.#writtenThrough = window.sentThrough;
  }

  /** A new session: `limit` (--mqtt-inflight) in flight to its client; a kept one starts at `sentThrough`. */
  static create(key: SessionKey, kept: boolean, limit: number, sentThrough: number, parts: SessionParts): MqttSession {
    if (kept) parts.store.createSession(key, sentThrough);
    return new MqttSession(key, kept, new OutboundWindow(limit, { inflight: [], sentThrough }), new ReceivedQos2(), parts);
  }

  /** Subscriptions and shared subscriptions together (--max-subscriptions counts them). */
  get filterCount(): number {
    return this.subscriptions.size + this.shares.size;
  }

  /** A clean session of its key replaces it: its rows are gone, and writes still staged must not bring them back. */
  discard(): void {
    this.#discarded = true;
  }

  /** The message in flight under `packetId` changed (sent, acknowledged, released): write it. */
  changed(packetId: number): void {
    if (!this.kept) return;
    this.#changed.add(packetId);
    this.#stage();
  }

  /** The position may have moved: write it. */
  moved(): void {
    if (this.kept && this.window.sentThrough !== this.#writtenThrough) this.#stage();
  }

  /**
   * A received QoS 2 identifier was released (PUBREL): its row goes with
   * the next commit, and `then` (the PUBCOMP) after it. A clean session
   * answers at once.
   */
  released(packetId: number, then: () => void): void {
    if (!this.kept) {
      then();
      return;
    }
    this.#released.push(packetId);
    this.afterCommit(then);
  }

  /** Runs `then` once what was changed so far is committed (a kept session's: a clean one writes nothing). */
  afterCommit(then: () => void): void {
    this.#afterCommit.push(then);
    this.#stage();
  }

  /** The row of a QoS 2 PUBLISH journaled with its message: write() for Publication.staged. */
  receivedWrite(packetId: number): Staged | undefined {
    if (!this.kept) return undefined;
    const { store } = this.#parts;
    return { write: () => store.receive(this.key, packetId), settled: () => {} };
  }

  #stage(): void {
    if (this.#stagedNow) return;
    this.#stagedNow = true;
    this.#parts.broker.stage(this);
  }

  // --- Staged ------------------------------------------------------------------

  write(): void {
    if (this.#discarded) return;
    const { store } = this.#parts;
    const window = this.window;
    if (window.sentThrough !== this.#writtenThrough) store.setSentThrough(this.key, window.sentThrough);
    for (const packetId of this.#changed) {
      const entry = window.entry(packetId);
      // A job is its group's to give again, never the session's.
      if (entry === undefined || entry.message.job) store.dropInflight(this.key, packetId);
      else store.putInflight(this.key, inflightRow(packetId, entry.message, entry.qos, entry.state === 'pubrel'));
    }
    for (const packetId of this.#released) store.release(this.key, packetId);
  }

  settled(error: Error | undefined): void {
    this.#stagedNow = false;
    // After a failure the broker writes this again with its next commit.
    if (error !== undefined) return;
    this.#writtenThrough = this.window.sentThrough;
    this.#changed = new Set();
    this.#released = [];
    const waiting = this.#afterCommit;
    this.#afterCommit = [];
    for (const then of waiting) then();
  }
}

function inflightRow(packetId: number, message: OutMessage, qos: 1 | 2, released: boolean): StoredInflight {
  return { packetId, msgId: message.id, topic: message.retain ? message.topic : null, qos, released };
}
