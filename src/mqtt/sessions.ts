/**
 * Every MQTT session by (user, client identifier), and the connection
 * that has it now (MQTT.md, "Sessions"). The key holds the user: two
 * users may use one client identifier, and neither a takeover nor a kept
 * session ever reaches another user's. Kept sessions are loaded from the
 * database at start, with what they had in flight; a clean session lives
 * as long as its connection.
 */
import type { Logger } from '../log.js';
import type { MqttStore, SessionKey, StoredInflight } from '../store/mqtt.js';
import type { JournalReader } from '../store/reader.js';
import { OutboundWindow } from './inflight.js';
import type { InflightEntry } from './inflight.js';
import { ReceivedQos2 } from './qos.js';
import { MqttSession } from './session.js';
import type { OutMessage, SessionParts } from './session.js';
import { escapeLevel, mqttTopicName, parseSubscriptionFilter } from './topics.js';

/** What has a session: told to go when another connection takes it over. */
export interface Holder {
  takenOver(): void;
}

export interface SessionsParts extends SessionParts {
  readonly store: MqttStore;
  readonly reader: JournalReader;
  readonly logger: Logger;
}

function keyOf({ user, clientId }: SessionKey): string {
  return `${user}\n${clientId}`;
}

/**
 * A kept session as `cursors` lists it: `mqtt/<client id>` (escaped as a
 * topic level: no name `recv ... as` could use), its patterns and position.
 */
export interface KeptPosition {
  readonly user: string;
  readonly name: string;
  readonly patterns: readonly string[];
  readonly mark: number;
}

export class Sessions {
  readonly #parts: SessionsParts;
  readonly #sessions = new Map<string, MqttSession>();
  readonly #holders = new Map<string, Holder>();

  constructor(parts: SessionsParts) {
    this.#parts = parts;
  }

  /** Loads the kept sessions of the database (at start). */
  load(limit: number): void {
    for (const stored of this.#parts.store.sessions()) {
      const session = new MqttSession(stored, true, new OutboundWindow(limit, { inflight: this.#inflight(stored), sentThrough: stored.sentThrough }), new ReceivedQos2(this.#parts.store.received(stored)), this.#parts);
      for (const { filter, qos, since } of this.#parts.store.subscriptions(stored)) {
        const parsed = parseSubscriptionFilter(filter);
        if (!parsed.ok) continue;
        const { group, filter: mqttFilter } = parsed.value;
        if (group === undefined) session.subscriptions.subscribe(mqttFilter, qos, since);
        else session.shares.set(filter, { text: filter, group, filter: mqttFilter, qos });
      }
      this.#sessions.set(keyOf(stored), session);
    }
  }

  /** A kept session's messages in flight, read again; those the journal no longer has are dropped. */
  #inflight(key: SessionKey): InflightEntry<OutMessage>[] {
    const { store, logger } = this.#parts;
    const entries: InflightEntry<OutMessage>[] = [];
    for (const row of store.inflight(key)) {
      const message = this.#messageOf(row);
      if (message === undefined) {
        logger.log('warn', 'mqtt: a message in flight is gone (retention, or a retained message cleared); dropped', { user: key.user, client: key.clientId, packet: row.packetId, id: row.msgId || undefined });
        store.dropInflight(key, row.packetId);
        continue;
      }
      entries.push({ packetId: row.packetId, qos: row.qos, state: row.released ? 'pubrel' : 'publish', message });
    }
    return entries;
  }

  #messageOf(row: StoredInflight): OutMessage | undefined {
    if (row.msgId === 0) {
      const retained = row.topic === null ? undefined : this.#parts.store.retained(row.topic);
      const name = retained && mqttTopicName(retained.topic);
      if (retained === undefined || name === undefined) return undefined;
      return { id: 0, ts: retained.ts, topic: retained.topic, sender: retained.sender, body: retained.body, qos: retained.qos, name, retain: true, job: false };
    }
    const stored = this.#parts.reader.message(row.msgId, true);
    const name = stored && mqttTopicName(stored.topic);
    if (stored === undefined || name === undefined) return undefined;
    return { ...stored, name, retain: false, job: false };
  }

  /**
   * `holder` has the session of `key` from now on: the connection that
   * had it is taken over first (a second connection with a client
   * identifier closes the first). Clean (`kept` false): a kept session is
   * dropped and a new one lives as long as the connection. Returns the
   * session and whether it was there before (CONNACK's session present).
   */
  attach(key: SessionKey, kept: boolean, holder: Holder, limit: number): { session: MqttSession; present: boolean } {
    const id = keyOf(key);
    const previous = this.#holders.get(id);
    if (previous !== undefined) {
      this.#holders.delete(id);
      previous.takenOver();
    }
    this.#holders.set(id, holder);
    const existing = this.#sessions.get(id);
    if (kept && existing?.kept) return { session: existing, present: true };
    if (existing?.kept) {
      existing.discard();
      this.#parts.store.dropSession(key);
    }
    const session = MqttSession.create(key, kept, limit, this.#parts.reader.lastId(), this.#parts);
    this.#sessions.set(id, session);
    return { session, present: false };
  }

  /** `holder` let go of its session; a clean one ends with it. */
  detach(session: MqttSession, holder: Holder): void {
    const id = keyOf(session.key);
    if (this.#holders.get(id) === holder) this.#holders.delete(id);
    if (!session.kept && this.#sessions.get(id) === session) this.#sessions.delete(id);
  }

  /** How many kept sessions `user` has (they count against --max-cursors). */
  keptBy(user: string): number {
    let count = 0;
    for (const session of this.#sessions.values()) if (session.kept && session.key.user === user) count++;
    return count;
  }

  /** Whether (user, client id) has a kept session. */
  isKept(key: SessionKey): boolean {
    return this.#sessions.get(keyOf(key))?.kept === true;
  }

  /** Kept sessions, for `cursors` and `/metrics`. */
  *positions(user?: string): Iterable<KeptPosition> {
    for (const session of this.#sessions.values()) {
      if (!session.kept || (user !== undefined && session.key.user !== user)) continue;
      yield { user: session.key.user, name: `mqtt/${escapeLevel(session.key.clientId)}`, patterns: session.subscriptions.patterns(), mark: session.window.sentThrough };
    }
  }

  /** Kept sessions (`linebus_mqtt_sessions`). */
  get keptCount(): number {
    let count = 0;
    for (const session of this.#sessions.values()) if (session.kept) count++;
    return count;
  }
}
