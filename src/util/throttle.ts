/**
 * Failed logins slow down the answers to the next ones (a password guesser
 * gets a few guesses a minute, not thousands):
 *
 * - From one address: after FREE_FAILURES, each login from it waits 1 s,
 *   doubling per further failure up to MAX_DELAY_MS. A success forgets the
 *   address's failures only when they were all for the user who got in (who
 *   mistyped), not when the guesser logs in to an account of its own.
 * - For one user, from many addresses: after USER_FREE_FAILURES, logins
 *   for that user wait likewise, except from an address that user logged
 *   in from lately, so a guesser cannot lock the real user out.
 * - At once: at most FREE_FAILURES logins of one address are checked at a
 *   time, one once it is slowed; more are refused at once, unchecked, so
 *   parallel connections gain a guesser nothing.
 *
 * Everything is forgotten after FORGET_MS of quiet, and the tables are
 * bounded (the least recent entries go first).
 */
const FREE_FAILURES = 3;
const USER_FREE_FAILURES = 10;
const FIRST_DELAY_MS = 1000;
const MAX_DELAY_MS = 16_000;
const FORGET_MS = 10 * 60_000;
/** Addresses, users and known-good pairs remembered at most, each. */
const MAX_ENTRIES = 10_000;
/** An address's failures remember this many user names; past it, "many". */
const USERS_REMEMBERED = 4;

interface Failures {
  count: number;
  last: number;
  /** The user names it failed for; undefined: more than USERS_REMEMBERED. */
  users: Set<string> | undefined;
}

/** An address, or undefined when unknown (all unknown ones count as one). */
type Address = string | undefined;

/** Sets `key` as the most recent entry of `map`, dropping the least recent past MAX_ENTRIES. */
function touch<K, V>(map: Map<K, V>, key: K, value: V): void {
  map.delete(key);
  if (map.size >= MAX_ENTRIES) map.delete(map.keys().next().value as K);
  map.set(key, value);
}

function delayAfter(count: number, free: number): number {
  return count < free ? 0 : Math.min(MAX_DELAY_MS, FIRST_DELAY_MS * 2 ** (count - free));
}

export class LoginThrottle {
  readonly #byAddress = new Map<Address, Failures>();
  readonly #byUser = new Map<string, Failures>();
  /** `user address` of recent successful logins. */
  readonly #goodAddresses = new Map<string, number>();
  readonly #checking = new Map<Address, number>();
  /** Logins that had to wait, for `stats`. */
  delayed = 0;
  /** Logins refused unchecked: too many at once from their address. */
  refused = 0;

  /**
   * A login of `user` from `address` begins: how long it waits before it
   * is checked, in ms, or undefined when it is refused unchecked. A login
   * that was not refused must end with end().
   */
  begin(address: Address, user: string, now: number): number | undefined {
    const byAddress = this.#current(this.#byAddress, address, now);
    const checking = this.#checking.get(address) ?? 0;
    const addressDelay = delayAfter(byAddress?.count ?? 0, FREE_FAILURES);
    if (checking >= (addressDelay > 0 ? 1 : FREE_FAILURES)) {
      this.refused++;
      return undefined;
    }
    this.#checking.set(address, checking + 1);
    const byUser = this.#current(this.#byUser, user, now);
    const known = this.#known(user, address, now);
    const delay = Math.max(addressDelay, known ? 0 : delayAfter(byUser?.count ?? 0, USER_FREE_FAILURES));
    if (delay > 0) this.delayed++;
    return delay;
  }

  /** The login that began from `address` was checked. */
  end(address: Address): void {
    const checking = (this.#checking.get(address) ?? 1) - 1;
    if (checking > 0) this.#checking.set(address, checking);
    else this.#checking.delete(address);
  }

  failed(address: Address, user: string, now: number): void {
    const byAddress = this.#current(this.#byAddress, address, now) ?? { count: 0, last: now, users: new Set<string>() };
    byAddress.count++;
    byAddress.last = now;
    byAddress.users?.add(user);
    if (byAddress.users !== undefined && byAddress.users.size > USERS_REMEMBERED) byAddress.users = undefined;
    touch(this.#byAddress, address, byAddress);
    const byUser = this.#current(this.#byUser, user, now) ?? { count: 0, last: now, users: undefined };
    byUser.count++;
    byUser.last = now;
    touch(this.#byUser, user, byUser);
  }

  succeeded(address: Address, user: string, now: number): void {
    const byAddress = this.#byAddress.get(address);
    if (byAddress?.users !== undefined && [...byAddress.users].every((name) => name === user)) this.#byAddress.delete(address);
    this.#byUser.delete(user);
    if (address !== undefined) touch(this.#goodAddresses, `${user} ${address}`, now);
  }

  /** The failures kept for `key`, unless they are forgotten by now. */
  #current<K>(map: Map<K, Failures>, key: K, now: number): Failures | undefined {
    const failures = map.get(key);
    if (failures === undefined || now - failures.last < FORGET_MS) return failures;
    map.delete(key);
    return undefined;
  }

  /** Whether `user` logged in from `address` lately. */
  #known(user: string, address: Address, now: number): boolean {
    const at = address === undefined ? undefined : this.#goodAddresses.get(`${user} ${address}`);
    return at !== undefined && now - at < FORGET_MS;
  }
}
