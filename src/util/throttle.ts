/**
 * Failed logins slow down the answers to the next ones from the same
 * address: after FREE_FAILURES, each login from it waits 1 s, doubling per
 * further failure up to MAX_DELAY_MS, until a login from it succeeds or it
 * has been quiet for FORGET_MS. Other addresses, the real user's among them,
 * are not slowed.
 */
const FREE_FAILURES = 3;
const FIRST_DELAY_MS = 1000;
const MAX_DELAY_MS = 16_000;
const FORGET_MS = 10 * 60_000;
/** Addresses remembered at most; the least recent go first. */
const MAX_ADDRESSES = 10_000;

interface Failures {
  count: number;
  last: number;
}

export class LoginThrottle {
  /** By address; an unknown address (undefined) counts as one. */
  readonly #failures = new Map<string | undefined, Failures>();
  /** Logins that had to wait, for `stats`. */
  delayed = 0;

  /** How long a login from `address` waits before its answer, in ms. */
  delayFor(address: string | undefined, now: number): number {
    const failures = this.#failures.get(address);
    if (failures === undefined) return 0;
    if (now - failures.last >= FORGET_MS) {
      this.#failures.delete(address);
      return 0;
    }
    if (failures.count < FREE_FAILURES) return 0;
    this.delayed++;
    return Math.min(MAX_DELAY_MS, FIRST_DELAY_MS * 2 ** (failures.count - FREE_FAILURES));
  }

  failed(address: string | undefined, now: number): void {
    const failures = this.#failures.get(address) ?? { count: 0, last: now };
    this.#failures.delete(address);
    if (this.#failures.size >= MAX_ADDRESSES) this.#failures.delete(this.#failures.keys().next().value);
    failures.count++;
    failures.last = now;
    this.#failures.set(address, failures);
  }

  succeeded(address: string | undefined): void {
    this.#failures.delete(address);
  }
}
