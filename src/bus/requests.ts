/**
 * Requests waiting for their answer (PROTOCOL.md, "Request and reply"),
 * by the journal id of the question. The first `reply` claims the request
 * at once, so a second one is refused; the asker hears the answer only
 * once it is committed. A timeout that strikes while an answer is being
 * committed waits for the commit's outcome.
 */

/** The connection waiting for an answer. */
export interface Asker {
  answered(responder: string, answer: string): void;
  timedOut(): void;
}

interface Waiting {
  readonly asker: Asker;
  /** The question's topic. */
  readonly topic: string;
  readonly timer: NodeJS.Timeout;
  /** A reply is being committed. */
  claimed: boolean;
  /** The time ran out while it was. */
  expired: boolean;
}

/** A claimed request, handed back to settle() with the commit's outcome. */
export type Claim = Waiting;

export class Requests {
  readonly #waiting = new Map<number, Waiting>();

  get size(): number {
    return this.#waiting.size;
  }

  /** `asker` waits `withinMs` for an answer to request `id`, asked on `topic`. */
  wait(id: number, asker: Asker, withinMs: number, topic: string): void {
    const waiting: Waiting = { asker, topic, timer: setTimeout(() => this.#expire(id, waiting), withinMs), claimed: false, expired: false };
    waiting.timer.unref();
    this.#waiting.set(id, waiting);
  }

  /** The topic of request `id`, if someone waits for its answer. */
  topicOf(id: number): string | undefined {
    return this.#waiting.get(id)?.topic;
  }

  /** The asker left: nobody waits for `id` any more. */
  gone(id: number): void {
    const waiting = this.#waiting.get(id);
    if (waiting === undefined) return;
    clearTimeout(waiting.timer);
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

  /** Runs while `waiting` waits: its timer is cleared when it stops. */
  #expire(id: number, waiting: Waiting): void {
    if (waiting.claimed) {
      waiting.expired = true;
      return;
    }
    this.gone(id);
    waiting.asker.timedOut();
  }
}
