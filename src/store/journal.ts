/**
 * The messages of the journal (PROTOCOL.md, "Journal"): every accepted send
 * is a row of `messages`, committed before it is acknowledged or delivered.
 * Rows are append-only, enforced by triggers in the database itself
 * (schema.ts); only retention deletes, through a narrow path. The commit
 * that completes a block of ids also writes the block's summary
 * (topic_blocks), in the same transaction.
 */
import type Database from 'better-sqlite3';
import type { Qos } from '../protocol/events.js';
import { BLOCK_SIZE, blockOf, NO_DELETE_TRIGGER } from './schema.js';

/** Rows per multi-row INSERT statement when a batch is large enough. */
const INSERT_ROWS = 16;

export interface StoredMessage {
  id: number;
  ts: number;
  topic: string;
  sender: string;
  body: string;
  /** The MQTT publish QoS, when not 1. */
  qos?: Qos;
}

export interface PendingMessage {
  readonly topic: string;
  readonly sender: string;
  readonly body: string;
  /** The MQTT publish QoS; absent: 1. */
  readonly qos?: Qos | undefined;
}

/**
 * The QoS of a commit's messages, one digit each, or undefined when all
 * are 1 (every message of the line protocol, HTTP and WebSocket): one side
 * row per commit that has any other, never one per message.
 */
function qosDigits(messages: readonly PendingMessage[]): string | undefined {
  let i = 0;
  while (i < messages.length && ((messages[i] as PendingMessage).qos ?? 1) === 1) i++;
  if (i === messages.length) return undefined;
  let digits = '1'.repeat(i);
  for (; i < messages.length; i++) digits += (messages[i] as PendingMessage).qos ?? 1;
  return digits;
}

/** A message whose id and time were given elsewhere (a cluster's stream). */
export interface NumberedMessage extends PendingMessage {
  readonly id: number;
  readonly ts: number;
}

export class Journal {
  readonly #check: () => void;
  readonly #appendBatch: (messages: readonly PendingMessage[], ts: number, alsoWrite: (() => void) | undefined) => number;
  readonly #appendNumbered: (messages: readonly NumberedMessage[], alsoWrite: (() => void) | undefined) => number;
  readonly #deleteThrough: (lastDeleted: number, limit: number) => number;

  /** `check` throws when the journal's files are no longer the ones open. */
  constructor(db: Database.Database, check: () => void) {
    this.#check = check;
    const insert = 'INSERT INTO messages (ts, topic, sender, body) VALUES ';
    const insertOne = db.prepare(`${insert}(?, ?, ?, ?)`);
    // One statement per INSERT_ROWS rows costs far less than one per row
    // (measured: 1.7x the rows per second); the rest go one by one.
    const insertMany = db.prepare(`${insert}${Array(INSERT_ROWS).fill('(?, ?, ?, ?)').join(', ')}`);
    const summarize = db.prepare<[number, number, number]>(
      'INSERT INTO topic_blocks (block, topic, first_id, last_id, count) SELECT ?, topic, min(id), max(id), count(*) FROM messages WHERE id BETWEEN ? AND ? GROUP BY topic',
    );
    // message_qos: the QoS digits of a commit's messages, keyed by its first id.
    const insertQos = db.prepare<[number, string]>('INSERT INTO message_qos (first_id, qos) VALUES (?, ?)');
    const params: unknown[] = [];
    this.#appendBatch = db.transaction((messages: readonly PendingMessage[], ts: number, alsoWrite: (() => void) | undefined) => {
      alsoWrite?.();
      let id = 0;
      let i = 0;
      for (; i + INSERT_ROWS <= messages.length; i += INSERT_ROWS) {
        params.length = 0;
        for (let j = i; j < i + INSERT_ROWS; j++) {
          const m = messages[j] as PendingMessage;
          params.push(ts, m.topic, m.sender, m.body);
        }
        id = Number(insertMany.run(params).lastInsertRowid);
      }
      for (; i < messages.length; i++) {
        const m = messages[i] as PendingMessage;
        id = Number(insertOne.run(ts, m.topic, m.sender, m.body).lastInsertRowid);
      }
      const qos = qosDigits(messages);
      if (qos !== undefined) insertQos.run(id - messages.length + 1, qos);
      // The blocks this batch completed (ids are consecutive within it).
      for (let block = blockOf(id - messages.length); block < blockOf(id); block++) {
        summarize.run(block, block * BLOCK_SIZE, (block + 1) * BLOCK_SIZE - 1);
      }
      return id;
    });
    const insertNumbered = db.prepare('INSERT INTO messages (id, ts, topic, sender, body) VALUES (?, ?, ?, ?, ?)');
    const last = db.prepare<[], number | null>('SELECT max(id) FROM messages').pluck();
    this.#appendNumbered = db.transaction((messages: readonly NumberedMessage[], alsoWrite: (() => void) | undefined) => {
      alsoWrite?.();
      // Ids may skip (a stream's deleted messages): the blocks completed
      // are those from the journal's last id before the batch.
      const before = last.get() ?? 0;
      let id = before;
      for (const m of messages) {
        if (m.id <= id) throw new Error(`message id ${m.id} is not after the journal's last id ${id}`);
        insertNumbered.run(m.id, m.ts, m.topic, m.sender, m.body);
        id = m.id;
      }
      for (let block = blockOf(before); block < blockOf(id); block++) {
        summarize.run(block, block * BLOCK_SIZE, (block + 1) * BLOCK_SIZE - 1);
      }
      return id;
    });
    const remove = db.prepare<[number, number]>('DELETE FROM messages WHERE id IN (SELECT id FROM messages WHERE id <= ? ORDER BY id LIMIT ?)');
    const forget = db.prepare<[number]>('DELETE FROM topic_blocks WHERE block < ?');
    const forgetQos = db.prepare<[number, number]>('DELETE FROM message_qos WHERE first_id < ? AND first_id + length(qos) <= ?');
    const first = db.prepare<[], number | null>('SELECT min(id) FROM messages').pluck();
    // Retention's narrow path past the append-only guard: within one
    // transaction of this connection, so no other connection ever sees
    // the trigger missing.
    this.#deleteThrough = db.transaction((lastDeleted: number, limit: number) => {
      db.exec('DROP TRIGGER messages_no_delete');
      const changes = remove.run(lastDeleted, limit).changes;
      db.exec(NO_DELETE_TRIGGER);
      // The summaries of blocks left with no row go too, and QoS digits.
      const firstLeft = first.get() ?? lastDeleted + 1;
      forget.run(blockOf(firstLeft));
      forgetQos.run(firstLeft, firstLeft);
      return changes;
    });
  }

  /**
   * Appends messages in one transaction, in order, all stamped `ts`, with
   * whatever `alsoWrite` writes (cursor marks, job states) in the same
   * transaction. Returns the id of the last message (0 for none); ids are
   * consecutive within a batch because the daemon's connection is the only
   * writer of `messages`.
   */
  append(messages: readonly PendingMessage[], ts: number, alsoWrite?: () => void): number {
    this.#check();
    return this.#appendBatch(messages, ts, alsoWrite);
  }

  /**
   * Appends messages that carry their own ids and times (cluster mode),
   * in one transaction with `alsoWrite`. Ids must rise and be above the
   * journal's last; returns the last one.
   */
  appendNumbered(messages: readonly NumberedMessage[], alsoWrite?: () => void): number {
    this.#check();
    return this.#appendNumbered(messages, alsoWrite);
  }

  /**
   * Retention: deletes at most `limit` of the oldest rows with id <=
   * `lastDeleted`; returns how many went.
   */
  deleteOldest(lastDeleted: number, limit: number): number {
    return this.#deleteThrough(lastDeleted, limit);
  }
}
