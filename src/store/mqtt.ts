/**
 * The MQTT door's tables (MQTT.md, "Sessions", "Retained messages"): kept
 * sessions with their subscriptions, messages in flight and QoS 2
 * identifiers received, and each topic's retained message. Making and
 * dropping a session, and a subscription, are rare and written at once;
 * what changes with traffic is written by the broker's commits
 * (mqtt/session.ts, mqtt/retained.ts), inside their transactions.
 */
import type Database from 'better-sqlite3';
import type { Qos } from '../protocol/events.js';

/** A session by its owner and client identifier. */
export interface SessionKey {
  readonly user: string;
  readonly clientId: string;
}

export interface StoredSession extends SessionKey {
  readonly sentThrough: number;
}

export interface StoredSubscription {
  readonly filter: string;
  readonly qos: Qos;
  readonly since: number;
}

export interface StoredInflight {
  readonly packetId: number;
  /** The message's id; 0 for a retained message sent on SUBSCRIBE. */
  readonly msgId: number;
  /** That retained message's topic. */
  readonly topic: string | null;
  readonly qos: 1 | 2;
  readonly released: boolean;
}

export interface RetainedMessage {
  readonly topic: string;
  readonly ts: number;
  readonly sender: string;
  readonly body: string;
  readonly qos: Qos;
}

/** Retained messages read per step, at most. */
export const RETAINED_PAGE = 500;

type Key = [user: string, clientId: string];

export class MqttStore {
  readonly #db: Database.Database;
  readonly #sessions: Database.Statement<[], { user: string; client_id: string; sent_through: number }>;
  readonly #createSession: Database.Statement<[string, string, number, number]>;
  readonly #sentThrough: Database.Statement<[number, string, string]>;
  readonly #subscriptions: Database.Statement<Key, { filter: string; qos: Qos; since: number }>;
  readonly #subscribe: Database.Statement<[string, string, string, number, number]>;
  readonly #unsubscribe: Database.Statement<[string, string, string]>;
  readonly #inflight: Database.Statement<Key, { packet_id: number; msg_id: number; topic: string | null; qos: 1 | 2; released: number }>;
  readonly #putInflight: Database.Statement<[string, string, number, number, string | null, number, number]>;
  readonly #dropInflight: Database.Statement<[string, string, number]>;
  readonly #received: Database.Statement<Key, number>;
  readonly #receive: Database.Statement<[string, string, number]>;
  readonly #release: Database.Statement<[string, string, number]>;
  readonly #retain: Database.Statement<[string, number, string, string, number]>;
  readonly #unretain: Database.Statement<[string]>;
  readonly #retained: Database.Statement<[string], RetainedMessage>;
  readonly #retainedBetween: Database.Statement<[string, string, number], RetainedMessage>;
  readonly #retainedFrom: Database.Statement<[string, number], RetainedMessage>;
  readonly #dropSession: (user: string, clientId: string) => void;

  constructor(db: Database.Database) {
    this.#db = db;
    const key = 'user = ? AND client_id = ?';
    this.#sessions = db.prepare('SELECT user, client_id, sent_through FROM mqtt_sessions ORDER BY user, client_id');
    this.#createSession = db.prepare('INSERT INTO mqtt_sessions (user, client_id, sent_through, created) VALUES (?, ?, ?, ?)');
    this.#sentThrough = db.prepare(`UPDATE mqtt_sessions SET sent_through = ? WHERE ${key}`);
    this.#subscriptions = db.prepare(`SELECT filter, qos, since FROM mqtt_subscriptions WHERE ${key} ORDER BY filter`);
    this.#subscribe = db.prepare('INSERT OR REPLACE INTO mqtt_subscriptions (user, client_id, filter, qos, since) VALUES (?, ?, ?, ?, ?)');
    this.#unsubscribe = db.prepare(`DELETE FROM mqtt_subscriptions WHERE ${key} AND filter = ?`);
    this.#inflight = db.prepare(`SELECT packet_id, msg_id, topic, qos, released FROM mqtt_inflight WHERE ${key} ORDER BY msg_id, packet_id`);
    this.#putInflight = db.prepare('INSERT OR REPLACE INTO mqtt_inflight (user, client_id, packet_id, msg_id, topic, qos, released) VALUES (?, ?, ?, ?, ?, ?, ?)');
    this.#dropInflight = db.prepare(`DELETE FROM mqtt_inflight WHERE ${key} AND packet_id = ?`);
    this.#received = db.prepare<Key, number>(`SELECT packet_id FROM mqtt_received WHERE ${key}`).pluck();
    this.#receive = db.prepare('INSERT OR IGNORE INTO mqtt_received (user, client_id, packet_id) VALUES (?, ?, ?)');
    this.#release = db.prepare(`DELETE FROM mqtt_received WHERE ${key} AND packet_id = ?`);
    this.#retain = db.prepare('INSERT OR REPLACE INTO retained (topic, ts, sender, body, qos) VALUES (?, ?, ?, ?, ?)');
    this.#unretain = db.prepare('DELETE FROM retained WHERE topic = ?');
    this.#retained = db.prepare('SELECT topic, ts, sender, body, qos FROM retained WHERE topic = ?');
    // A range of the primary key, a page at a time.
    this.#retainedBetween = db.prepare('SELECT topic, ts, sender, body, qos FROM retained WHERE topic >= ? AND topic < ? ORDER BY topic LIMIT ?');
    this.#retainedFrom = db.prepare('SELECT topic, ts, sender, body, qos FROM retained WHERE topic >= ? ORDER BY topic LIMIT ?');
    const tables = ['mqtt_sessions', 'mqtt_subscriptions', 'mqtt_inflight', 'mqtt_received'].map((table) => db.prepare<Key>(`DELETE FROM ${table} WHERE ${key}`));
    this.#dropSession = db.transaction((user: string, clientId: string) => {
      for (const drop of tables) drop.run(user, clientId);
    });
  }

  sessions(): StoredSession[] {
    return this.#sessions.all().map((row) => ({ user: row.user, clientId: row.client_id, sentThrough: row.sent_through }));
  }

  subscriptions({ user, clientId }: SessionKey): StoredSubscription[] {
    return this.#subscriptions.all(user, clientId);
  }

  /** In the order they were sent, near enough: by message id (a retained message's is 0). */
  inflight({ user, clientId }: SessionKey): StoredInflight[] {
    return this.#inflight.all(user, clientId).map((row) => ({ packetId: row.packet_id, msgId: row.msg_id, topic: row.topic, qos: row.qos, released: row.released === 1 }));
  }

  received({ user, clientId }: SessionKey): number[] {
    return this.#received.all(user, clientId);
  }

  /** A new kept session, written at once. */
  createSession({ user, clientId }: SessionKey, sentThrough: number): void {
    this.#createSession.run(user, clientId, sentThrough, Date.now());
  }

  /** Deletes a session and everything it keeps, at once. */
  dropSession({ user, clientId }: SessionKey): void {
    this.#dropSession(user, clientId);
  }

  /** A SUBSCRIBE's filters, written at once, before its SUBACK. */
  subscribe({ user, clientId }: SessionKey, subscriptions: readonly StoredSubscription[]): void {
    this.#db.transaction(() => {
      for (const { filter, qos, since } of subscriptions) this.#subscribe.run(user, clientId, filter, qos, since);
    })();
  }

  unsubscribe({ user, clientId }: SessionKey, filters: readonly string[]): void {
    this.#db.transaction(() => {
      for (const filter of filters) this.#unsubscribe.run(user, clientId, filter);
    })();
  }

  // --- written inside the broker's commits ---------------------------------

  setSentThrough({ user, clientId }: SessionKey, id: number): void {
    this.#sentThrough.run(id, user, clientId);
  }

  putInflight({ user, clientId }: SessionKey, entry: StoredInflight): void {
    this.#putInflight.run(user, clientId, entry.packetId, entry.msgId, entry.topic, entry.qos, entry.released ? 1 : 0);
  }

  dropInflight({ user, clientId }: SessionKey, packetId: number): void {
    this.#dropInflight.run(user, clientId, packetId);
  }

  receive({ user, clientId }: SessionKey, packetId: number): void {
    this.#receive.run(user, clientId, packetId);
  }

  release({ user, clientId }: SessionKey, packetId: number): void {
    this.#release.run(user, clientId, packetId);
  }

  /** A topic's retained message, replaced; an empty body clears it. */
  retain(message: RetainedMessage): void {
    if (message.body === '') this.#unretain.run(message.topic);
    else this.#retain.run(message.topic, message.ts, message.sender, message.body, message.qos);
  }

  // --- read ----------------------------------------------------------------

  retained(topic: string): RetainedMessage | undefined {
    return this.#retained.get(topic);
  }

  /**
   * Up to RETAINED_PAGE retained messages, in topic order, of the topics
   * that start with `prefix` (a topic's first segments, no dot at the end;
   * '' for every topic) or share it up to a character before '/' (the
   * caller matches each), after topic `after` (undefined: from the first).
   */
  retainedPage(prefix: string, after: string | undefined): RetainedMessage[] {
    // A topic has no NUL: the smallest string after `after` is `after` and a NUL.
    const from = after === undefined ? prefix : `${after}\0`;
    // '/' follows '.' and comes before every letter and digit.
    return prefix === '' ? this.#retainedFrom.all(from, RETAINED_PAGE) : this.#retainedBetween.all(from, `${prefix}/`, RETAINED_PAGE);
  }
}
