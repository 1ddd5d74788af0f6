/**
 * Where sends get their ids and become durable, and what they carry on the
 * way: the interface between the Broker and the single-node journal or a
 * cluster's stream (DESIGN.md, "One path through the Broker").
 */
import type { ProtocolError } from '../protocol/errors.js';
import type { Qos } from '../protocol/events.js';
import type { Journal, NumberedMessage } from '../store/journal.js';
import type { Receiver } from './receiver.js';

export interface Publication {
  /** The receiver that sent it, which does not get it back; or none. */
  readonly origin: Receiver | undefined;
  readonly topic: string;
  readonly sender: string;
  readonly body: string;
  /** The MQTT publish QoS (MQTT.md); absent: 1. Journaled with the message. */
  readonly qos?: Qos;
  /**
   * State that must commit in the same transaction as this message (an
   * MQTT QoS 2 packet identifier held until PUBREL, a retained message).
   */
  readonly staged?: Staged;
  /** Called once, after the commit, with the id; or with the refusal. */
  done(result: number | ProtocolError): void;
}

/**
 * A message of a cluster's stream (cluster/cluster.ts): its id and time
 * come from the stream; `done` gets the id once it is journaled here.
 */
export interface Ingested extends Publication, NumberedMessage {}

/**
 * Where sends get their ids and become durable, chosen once where the
 * server is assembled: this daemon's journal (journalUpstream: ids given
 * at commit, in the order of the sends) or a cluster's stream
 * (cluster/cluster.ts: ids from the stream, each message coming back
 * through Broker.ingest). The broker commits, acknowledges and delivers
 * the same way for both.
 */
export interface Upstream {
  /** A send: into the broker's next commit (`bus.enqueue`), or published to come back through Broker.ingest. */
  publish(publication: Publication, bus: UpstreamBus): void;
  /** Writes `batch` to `journal` in one transaction with `alsoWrite`; returns the id of its last message. */
  append(journal: Journal, batch: Publication[], now: number, alsoWrite: (() => void) | undefined): number;
  /**
   * Its messages carry their ids and times (Ingested), and are journaled
   * in order: a failed commit refuses the ones queued after it too, which
   * upstream brings again. Otherwise each commit's messages take the ids
   * after the journal's last, all stamped with the commit's time.
   */
  readonly numbered: boolean;
}

/** What an upstream does with the broker. */
export interface UpstreamBus {
  /** Puts a message in the next commit. */
  enqueue(publication: Publication): void;
  /** Writes `staged` with the next commit. */
  stage(staged: Staged): void;
}

/** The journal alone: a send goes into the next commit, which gives it its id. */
export const journalUpstream: Upstream = {
  publish: (publication, bus) => bus.enqueue(publication),
  append: (journal, batch, now, alsoWrite) => journal.append(batch, now, alsoWrite),
  numbered: false,
};

/**
 * State written with the journal's next commit, in its transaction: cursor
 * marks and job states, so a mark or an ack costs no transaction of its
 * own.
 */
export interface Staged {
  /** Writes the changes; runs inside the commit's transaction. */
  write(): void;
  /** The transaction is over: committed (`error` undefined) or rolled back. */
  settled(error: Error | undefined): void;
}
