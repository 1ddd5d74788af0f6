/**
 * Requests waiting for their answer (PROTOCOL.md, "Request and reply"),
 * by the journal id of the question. The first `reply` claims the request
 * at once, so a second one is refused; the asker hears the answer only
 * once it is committed. A timeout that strikes while an answer is being
 * committed waits for the commit's outcome. Deadlines share one heap and
 * one Node timer (timers.ts), which also reaches those past setTimeout's
 * 24.8 days in steps.
 *
 * In a cluster the reply may come through another daemon: it is granted
 * here (grant) to its responder, and answers the asker once this daemon's
 * copy of the stream brings `$reply.<id>` from that responder (answered);
 * a reply that was not stored gives its claim back (release), and a claim
 * nobody speaks of again lapses after its lease.
 */
import { Timers } from '../util/timers.js';
import type { Timed } from '../util/timers.js';

/** The connection waiting for an answer. */
export interface Asker {
  answered(responder: string, answer: string): void;
  timedOut(): void;
}

interface Waiting extends Timed {
  readonly asker: Asker;
  /** The question's topic. */
  readonly topic: string;
  /** A reply is being committed. */
  claimed: boolean;
  /** The time ran out while it was. */
  expired: boolean;
  /** Cluster mode: who was granted the reply, and when the grant lapses. */
  grant?: { readonly responder: string; readonly lease: NodeJS.Timeout };
}

/** A claimed request, handed back to settle() with the commit's outcome. */
export type Claim = Waiting;

/** What a daemon says to a claim of the cluster (grant). */
export type Grant = 'granted' | 'taken' | 'none';

/** A question published whose id is not known yet, and who waits for it to be. */
interface Asking {
  readonly waiters: (() => void)[];
}

export class Requests {
  readonly #waiting = new Map<number, Waiting>();
  readonly #timers = new Timers();
  readonly #asking = new Set<Asking>();

  get size(): number {
    return this.#waiting.size;
  }

  /** A question is being published; call the function returned once its id is known (or it failed), after wait(). */
  asking(): () => void {
    const asking: Asking = { waiters: [] };
    this.#asking.add(asking);
    return () => {
      this.#asking.delete(asking);
      for (const waiter of asking.waiters) waiter();
    };
  }

  /** Resolves once every question being published now has its id (and waits, if it was stored). */
  async numbered(): Promise<void> {
    await Promise.all([...this.#asking].map((asking) => new Promise<void>((resolve) => asking.waiters.push(resolve))));
  }

  /** `asker` waits `withinMs` for an answer to request `id`, asked on `topic`. */
  wait(id: number, asker: Asker, withinMs: number, topic: string): void {
    const waiting: Waiting = { id, asker, topic, claimed: false, expired: false, due: Date.now() + withinMs, heapIndex: -1, expire: () => this.#expire(id, waiting) };
    this.#waiting.set(id, waiting);
    this.#timers.set(waiting);
  }

  /** The topic of request `id`, if someone waits for its answer. */
  topicOf(id: number): string | undefined {
    return this.#waiting.get(id)?.topic;
  }

  /** The asker left: nobody waits for `id` any more. */
  gone(id: number): void {
    const waiting = this.#waiting.get(id);
    if (waiting === undefined) return;
    if (waiting.heapIndex >= 0) this.#timers.remove(waiting);
    clearTimeout(waiting.grant?.lease);
    this.#waiting.delete(id);
  }

  /** Request `id` for a reply; undefined if nobody waits or another reply came first. */
  claim(id: number): Claim | undefined {
    const waiting = this.#waiting.get(id);
    if (waiting === undefined || waiting.claimed) return undefined;
    waiting.claimed = true;
    return waiting;
  }

  /** The reply was committed (with its answer), or not (undefined): then the asker waits on. */
  settle(id: number, claim: Claim, answer: { responder: string; text: string } | undefined): void {
    if (this.#waiting.get(id) !== claim) return;
    if (answer !== undefined) {
      this.gone(id);
      claim.asker.answered(answer.responder, answer.text);
      return;
    }
    claim.claimed = false;
    if (claim.expired) this.#expire(id, claim);
  }

  /**
   * Cluster mode: grants the reply to request `id` to `responder` for
   * `leaseMs`, unless another has it (`taken`) or nobody waits (`none`).
   */
  grant(id: number, responder: string, leaseMs: number): Grant {
    const waiting = this.#waiting.get(id);
    if (waiting === undefined) return 'none';
    if (waiting.claimed) return 'taken';
    waiting.claimed = true;
    const lease = setTimeout(() => this.release(id, responder), leaseMs);
    lease.unref();
    waiting.grant = { responder, lease };
    return 'granted';
  }

  /** The reply granted to `responder` was not stored (or its lease ran out): the asker waits on. */
  release(id: number, responder: string): void {
    const waiting = this.#granted(id, responder);
    if (waiting !== undefined) this.settle(id, waiting, undefined);
  }

  /** `$reply.<id>` from `responder` is in this daemon's journal: the answer, if it was granted to them. */
  answered(id: number, responder: string, text: string): void {
    const waiting = this.#granted(id, responder);
    if (waiting !== undefined) this.settle(id, waiting, { responder, text });
  }

  /** No more timeouts (the daemon is stopping). */
  stop(): void {
    this.#timers.stop();
    for (const waiting of this.#waiting.values()) clearTimeout(waiting.grant?.lease);
  }

  /** The request whose reply is granted to `responder`, its grant ended. */
  #granted(id: number, responder: string): Waiting | undefined {
    const waiting = this.#waiting.get(id);
    if (waiting?.grant?.responder !== responder) return undefined;
    clearTimeout(waiting.grant.lease);
    waiting.grant = undefined;
    return waiting;
  }

  /** Its time ran out (it is off the heap). */
  #expire(id: number, waiting: Waiting): void {
    if (waiting.claimed) {
      waiting.expired = true;
      return;
    }
    this.gone(id);
    waiting.asker.timedOut();
  }
}
