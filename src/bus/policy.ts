/**
 * Who may do what: the login decision (users, open mode) and the rules on
 * topics. Every handler asks here; nothing else decides.
 */
import { createHash } from 'node:crypto';
import { ProtocolError } from '../protocol/errors.js';
import { usageError } from '../protocol/parser.js';
import { isReservedTopic, userNameProblem } from '../protocol/topic.js';
import type { Logger } from '../log.js';
import type { Acl, Reach } from './acl.js';
import { isLoopback } from '../util/loopback.js';
import { LoginThrottle } from '../util/throttle.js';
import { decoy, verifyPassword } from '../store/passwords.js';
import type { Users } from '../store/users.js';

/** Who is asking, for the decision and the log. */
export interface Caller {
  readonly id: number;
  readonly remote: string;
  readonly remoteAddress: string | undefined;
}

/**
 * A name that is no user's may be a password typed in the wrong place:
 * the log gets its length and a short hash, enough to tell attempts apart.
 */
function unknownName(name: string): { user_bytes: number; user_sha256: string } {
  return { user_bytes: Buffer.byteLength(name), user_sha256: createHash('sha256').update(name).digest('hex').slice(0, 12) };
}

export class Policy {
  readonly #users: Users;
  readonly #logger: Logger;
  #open: boolean;
  #warnedNoUsers = false;
  readonly throttle = new LoginThrottle();
  /** The access rules; undefined: every user may do everything (version 1). */
  #acl: Acl | undefined;

  /**
   * Open mode is decided here, at start: on when the journal has no users.
   * The first user added ends it; deleting every user later does not bring
   * it back (nobody can log in until a user is added).
   */
  constructor(users: Users, logger: Logger) {
    this.#users = users;
    this.#logger = logger;
    this.#open = !users.any();
  }

  /** Whether any login from loopback is accepted (no users yet). */
  get open(): boolean {
    if (this.#open && this.#users.any()) {
      this.#open = false;
      this.#logger.log('info', 'a user was added: open mode is over, every login needs a password');
    }
    return this.#open;
  }

  /** Resolves to undefined when `user` may log in, or to the refusal. */
  async login(caller: Caller, user: string, password: string): Promise<ProtocolError | undefined> {
    const problem = userNameProblem(user);
    if (problem) return usageError('login', problem);
    if (this.open) {
      if (isLoopback(caller.remoteAddress)) return undefined;
      this.#logger.log('warn', 'login refused: open mode allows loopback clients only', { remote: caller.remote });
      return new ProtocolError('auth', "no users are set up, so only loopback clients may log in; the operator must run 'linebus user add <name>'");
    }
    const any = this.#users.any();
    if (!any && !this.#warnedNoUsers) {
      this.#logger.log('error', "every user was deleted: nobody can log in until one is added with 'linebus user add <name>' (open mode is decided at start)");
    }
    this.#warnedNoUsers = !any;
    const address = caller.remoteAddress;
    const delay = this.throttle.delayFor(address, Date.now());
    if (delay > 0) await new Promise((resolve) => setTimeout(resolve, delay).unref());
    const row = this.#users.get(user);
    const matched = await verifyPassword(password, row?.hash ?? (await decoy()));
    if (row && matched) {
      this.throttle.succeeded(address);
      this.#logger.log('info', 'login', { conn: caller.id, user, remote: caller.remote });
      return undefined;
    }
    this.throttle.failed(address, Date.now());
    this.#logger.log('warn', 'login failed', { conn: caller.id, remote: caller.remote, delayed_ms: delay || undefined, ...(row ? { user } : unknownName(user)) });
    return new ProtocolError('auth', 'bad user or password');
  }

  /** New rules, at start or on a reload; undefined: none. */
  set acl(acl: Acl | undefined) {
    this.#acl = acl;
  }

  /** Undefined when `user` may send to `topic`, or the refusal. */
  send(user: string, topic: string): ProtocolError | undefined {
    if (isReservedTopic(topic)) {
      return new ProtocolError('denied', "topics starting with '$' belong to the server; clients may recv them but not send to them");
    }
    if (this.#acl === undefined || this.#acl.mayWrite(user, topic)) return undefined;
    return new ProtocolError('denied', `you may not send to ${topic} (the access file's rules); ask the operator`);
  }

  /** Undefined when `user` may receive some topic of `pattern`, or the refusal. */
  receive(user: string, pattern: string): ProtocolError | undefined {
    if (this.reach(user, pattern) !== 'none') return undefined;
    return new ProtocolError('denied', `you may read no topic of ${pattern} (the access file's rules); ask the operator`);
  }

  /** Undefined when `user` may read every topic of `pattern` (a queue group's), or the refusal. */
  receiveAll(user: string, pattern: string): ProtocolError | undefined {
    if (this.reach(user, pattern) === 'all') return undefined;
    return new ProtocolError('denied', `you may not read every topic of ${pattern} (the access file's rules); take a pattern your rules allow whole`);
  }

  reach(user: string, pattern: string): Reach {
    return this.#acl === undefined ? 'all' : this.#acl.reach(user, pattern);
  }

  mayRead(user: string | undefined, topic: string): boolean {
    return this.#acl === undefined || (user !== undefined && this.#acl.mayRead(user, topic));
  }

  /** What `user` may read, to filter a stream of the journal; undefined: everything. */
  readable(user: string): ((topic: string) => boolean) | undefined {
    const acl = this.#acl;
    return acl === undefined ? undefined : (topic) => acl.mayRead(user, topic);
  }
}
