/**
 * The end of a turn of the event loop, the one place where work that
 * arrived during the turn is finished: the tasks deferred to it run
 * first, then the steps (the broker commits the sends that arrived,
 * acknowledges and delivers them), then every outbox that got lines hands
 * them to its link in one write. Work of the bus that waits for a later
 * turn waits here, not on a timer of its own.
 *
 * The turn ends in a setImmediate callback, that is in the check phase,
 * after Node has run the callbacks of every socket read of the poll phase:
 * sends from all the connections that were readable share one commit.
 * Anything marked dirty while the turn ends (the acknowledgements and
 * deliveries of the commit) is flushed in the same turn, not in another.
 *
 * A full batch ends the turn early (endNow), at once, commit and flush
 * alike: a read of thousands of pipelined sends then reaches receivers as
 * writes the size of a batch, which the kernel takes as they come, instead
 * of one write per turn so large that Node must buffer and copy it.
 */

export interface Flushable {
  flush(): void;
}

export class Turn {
  readonly #steps: (() => void)[] = [];
  /** Run once, at the start of the next end of a turn. */
  #deferred: (() => void)[] = [];
  readonly #dirty = new Set<Flushable>();
  #waiters: (() => void)[] = [];
  #scheduled = false;
  /** A turn to end later (after()), if one is due. */
  #timer: NodeJS.Timeout | undefined;
  #running = false;
  /** Work for the steps came while the turn was ending: end another. */
  #again = false;
  /** Turns ended so far: one per burst of input, not one per reply. */
  count = 0;

  /** A step run at every end of turn, before the flush, in the order added. */
  addStep(step: () => void): void {
    this.#steps.push(step);
  }

  /**
   * Runs `task` once, when the turn ends, before the steps: work left for
   * later so that the event loop serves others first (a queue group's
   * long scan of the journal). Deferred while the turn ends, it runs at the
   * end of the next.
   */
  defer(task: () => void): void {
    this.#deferred.push(task);
    this.schedule();
  }

  /** Makes sure the current turn ends with a run of the steps and the flush. */
  schedule(): void {
    if (this.#running) this.#again = true;
    else this.#arm();
  }

  #arm(): void {
    if (this.#scheduled) return;
    this.#scheduled = true;
    setImmediate(this.#tick);
  }

  /**
   * Makes a turn end after `ms` (a commit found the journal locked and
   * tries again): one timer, however often asked before it fires.
   */
  after(ms: number): void {
    this.#timer ??= setTimeout(() => {
      this.#timer = undefined;
      this.schedule();
    }, ms);
  }

  /** `flushable` has output: flush it at the end of this turn. */
  dirty(flushable: Flushable): void {
    this.#dirty.add(flushable);
    // While the turn ends, the flush to come takes it.
    if (!this.#running) this.#arm();
  }

  /** `flushable` is gone: do not flush it. */
  forget(flushable: Flushable): void {
    this.#dirty.delete(flushable);
  }

  /**
   * Resolves once the current turn has ended: whatever was sent before the
   * call is committed, acknowledged and delivered, and every output made
   * before it is in its link.
   */
  ended(): Promise<void> {
    this.schedule();
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  /**
   * Ends the turn now, synchronously (a full batch, shutdown). Inside an
   * end it only asks for another: the end under way finishes first.
   */
  endNow(): void {
    if (this.#running) this.#again = true;
    else this.#end();
  }

  readonly #tick = (): void => {
    this.#scheduled = false;
    this.#end();
  };

  #end(): void {
    this.#running = true;
    this.#again = false;
    this.count++;
    try {
      const deferred = this.#deferred;
      if (deferred.length > 0) {
        this.#deferred = [];
        for (const task of deferred) task();
      }
      for (const step of this.#steps) step();
      // Deleting before flushing: a flushable marked dirty again by its own
      // flush is visited again, as Set iteration visits entries re-added.
      for (const flushable of this.#dirty) {
        this.#dirty.delete(flushable);
        flushable.flush();
      }
    } finally {
      this.#running = false;
    }
    if (this.#again) this.#arm();
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const resolve of waiters) resolve();
  }
}
