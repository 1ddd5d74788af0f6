/**
 * Requests waiting for their answer (PROTOCOL.md, "Request and reply"),
 * by the journal id of the question. The first `reply` claims the request
 * at once, so a second one is refused; the asker hears the answer only
 * once it is committed. A timeout that strikes while an answer is being
 * committed waits for the commit's outcome. Deadlines share one heap and
 * one Node timer (timers.ts), which also reaches those past setTimeout's
 * 24.8 days in steps.
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
}

/** A claimed request, handed back to settle() with the commit's outcome. */
export type Claim = Waiting;

export class Requests {
  readonly #waiting = new Map<number, Waiting>();
  readonly #timers = new Timers();

  get size(): number {
    return this.#waiting.size;
  }

  /** `asker` waits `withinMs` for an answer to request `id`, asked on `topic`. */
  wait(id: number, asker: Asker, withinMs: number, topic: string): void {
    const waiting: Waiting = { asker, topic, claimed: false, expired: false, due: Date.now() + withinMs, heapIndex: -1, expire: () => this.#expire(id, waiting) };
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

  /** No more timeouts (the daemon is stopping). */
  stop(): void {
    this.#timers.stop();
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
