/**
 * What a handler of the line protocol works with: the connection it serves
 * (Conn, implemented by the session) and the bus's services. Handlers
 * change a connection only through Conn, and answer with typed replies
 * (protocol/events.ts) that the session writes as lines.
 */
import type { Broker } from '../bus/broker.js';
import type { Cursors } from '../bus/cursors.js';
import type { EitherTarget, Feed } from '../bus/feed.js';
import type { Caller, Policy } from '../bus/policy.js';
import type { Receiver } from '../bus/receiver.js';
import type { Requests } from '../bus/requests.js';
import type { Refusal, Reply } from '../protocol/events.js';
import type { LineReply } from '../protocol/wire.js';
import type { Attachments } from '../queue/attachments.js';
import type { QueueGroups, Worker } from '../queue/queue.js';
import type { JournalReader } from '../store/reader.js';
import type { JournalStarts } from '../store/starts.js';
import type { Logger } from '../log.js';
import type { ClusterView } from './views.js';

export interface Conn extends Receiver, Worker, EitherTarget, Caller, ConnectionInfo {
  readonly user: string | undefined;
  /** The login succeeded: this connection is `user` from now on. */
  loggedIn(user: string): void;
  /** A reply, in order. */
  reply(reply: LineReply): void;
  /** Reserves the place of a reply given later; every line after it waits. */
  later(): (reply: Reply) => void;
  /**
   * Reserves the place of a send's reply, as later() does, given with
   * sent() or answer(): no closure per send.
   */
  reserve(): ReplySlot;
  /** Fills `slot` with `ok send <id>`. */
  sent(slot: ReplySlot, id: number): void;
  /** Fills `slot` with `reply`. */
  answer(slot: ReplySlot, reply: Reply): void;
  /** Runs `work`; the commands after this one wait until it is done. */
  hold(work: () => Promise<void>): void;
  /** Stops receiving and leaves the groups taken on `pattern`; false if there was nothing to stop. */
  unsubscribe(pattern: string): boolean;
  /** Patterns received and groups taken: what --max-subscriptions counts. */
  readonly subscriptionCount: number;
  /** Groups taken, and what to undo when the connection goes. */
  readonly attachments: Attachments;
  /** Whether its `msg` and `job` lines start with `@ts=<ms> ` (`tags ts`). */
  stamp(on: boolean): void;
  /** Replies `ok logoff`, then closes once it is written. */
  logoff(): void;
  /** Writes `last` last and closes, for `reason` (logged and counted); nothing after it is handled. */
  close(reason: string, last: Refusal): void;
}

/** The place of a reply given later (Conn.reserve); only its connection reads it. */
export interface ReplySlot {
  readonly generation: number;
}

/** What `who` shows of a connection. */
export interface ConnectionInfo {
  readonly id: number;
  readonly user: string | undefined;
  readonly remote: string;
  /** The listener it came through: tcp, tls, ws, http. */
  readonly listener: string;
  readonly patterns: ReadonlySet<string>;
  /** Bytes on their way to it. */
  pendingBytes(): number;
}

/** The limits handlers apply (SIGHUP may change them). */
export interface HandlerLimits {
  readonly maxSubscriptions: number;
  /** Un-acked jobs of one group, at most. */
  readonly maxAckPending: number;
  /** Cursors of one user, at most. */
  readonly maxCursors: number;
  /** Groups one user may make. */
  readonly maxGroups: number;
}

export interface Services {
  readonly version: string;
  readonly limits: HandlerLimits;
  readonly broker: Broker;
  readonly feed: Feed;
  readonly policy: Policy;
  readonly reader: JournalReader;
  readonly starts: JournalStarts;
  readonly cursors: Cursors;
  readonly groups: QueueGroups;
  readonly requests: Requests;
  readonly logger: Logger;
  /** The other daemons, with --cluster. */
  readonly cluster?: ClusterView;
  /** What `stats` shows, as name and value pairs. */
  stats(): [string, string | number][];
  /** Every connection, in the order they came. */
  connections(): Iterable<ConnectionInfo>;
}
