/**
 * What the daemons of a cluster share besides the stream, each in a
 * JetStream key-value bucket named after it: cursors (`<stream>_cursors`,
 * cursors.ts), the daemons themselves (`<stream>_daemons`, peers.ts) and,
 * when an operator made it with `linebus user add --cluster`, the users
 * (`<stream>_users`, users.ts). Taken up once the stream is set up.
 */
import type { NatsConnection } from 'nats';
import type { Cursors } from '../bus/cursors.js';
import type { Policy } from '../bus/policy.js';
import type { Requests } from '../bus/requests.js';
import type { Logger } from '../log.js';
import { SharedCursors } from './cursors.js';
import { GONE_MS } from './peers.js';
import type { Answerer, Peers } from './peers.js';
import type { ClusterSettings } from './subjects.js';
import { findUsersBucket, SharedUsers, usersBucket } from './users.js';

/** The daemon as the other daemons see it, given once it listens. */
export interface ClusterDaemon {
  /** Its name in the cluster, `<host>:<port>`. */
  readonly name: string;
  readonly requests: Requests;
  /** Checks logins against the cluster's users bucket, if there is one. */
  readonly policy: Policy;
  /** Its answers to the other daemons' questions (handlers/answers.ts). */
  readonly answer: Answerer;
}

export interface BucketsParts {
  readonly settings: ClusterSettings;
  readonly cursors: Cursors;
  readonly peers: Peers;
  readonly logger: Logger;
}

export class Buckets {
  readonly #parts: BucketsParts;
  #cursors: SharedCursors | undefined;
  #users: SharedUsers | undefined;
  #joined = false;

  constructor(parts: BucketsParts) {
    this.#parts = parts;
  }

  /** Takes each bucket up, once; the next call (a set-up done again) takes up those that failed. */
  async start(nats: typeof import('nats'), nc: NatsConnection, daemon: ClusterDaemon): Promise<void> {
    await this.#shareCursors(nc);
    await this.#shareUsers(nc, daemon.policy);
    if (this.#joined) return;
    const { stream, replicas } = this.#parts.settings;
    const kv = await nc.jetstream({ timeout: 2000 }).views.kv(`${stream}_daemons`, { replicas, history: 1, ttl: 2 * GONE_MS });
    await this.#parts.peers.start(nats, nc, kv, daemon.name, daemon.answer);
    this.#joined = true;
  }

  stop(): void {
    this.#cursors?.stop();
    this.#users?.stop();
    this.#parts.peers.stop();
  }

  /** Shares cursors through the bucket `<stream>_cursors`, made if missing. */
  async #shareCursors(nc: NatsConnection): Promise<void> {
    if (this.#cursors !== undefined) return;
    const { stream, replicas } = this.#parts.settings;
    // allow_direct false: a cursor read (refresh, as a recv names it) goes
    // to the bucket's leader. A direct get may be answered by a replica that
    // has not applied a mark another daemon's client already saw
    // acknowledged; a recv through this daemon would then resume before
    // it. (A bucket made with direct gets keeps them for other clients.)
    const kv = await nc.jetstream({ timeout: 2000 }).views.kv(`${stream}_cursors`, { replicas, allow_direct: false });
    const shared = new SharedCursors(kv, this.#parts.cursors, this.#parts.logger);
    await shared.start();
    this.#cursors = shared;
  }

  /** Logins from the bucket `<stream>_users` if it exists; otherwise the journal's users stay. */
  async #shareUsers(nc: NatsConnection, policy: Policy): Promise<void> {
    if (this.#users !== undefined) return;
    const { stream } = this.#parts.settings;
    const kv = await findUsersBucket(nc, stream);
    if (kv === undefined) {
      this.#parts.logger.log('info', `cluster: no bucket ${usersBucket(stream)}: logins use the users of this daemon's journal`);
      return;
    }
    const users = new SharedUsers(this.#parts.logger);
    await users.follow(kv);
    this.#users = users;
    policy.users = users;
    this.#parts.logger.log('notice', `cluster: logins use the ${users.size} users of bucket ${usersBucket(stream)}, not the journal's`);
  }
}
