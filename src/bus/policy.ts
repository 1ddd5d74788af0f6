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
import type { Readable } from '../store/wants.js';
import { overlaps } from '../protocol/patterns.js';

/**
 * The server's topics whose messages are each about another topic: a dead
 * job (`$dead.<group>`, body `<id> <topic> <message>`) and the answer to a
 * request (`$reply.<id>`, about the request's topic). Whoever may read them
 * must also be allowed the topic they are about, message by message.
 */
const DEAD = '$dead.';
const REPLY = '$reply.';

function aboutAnother(topic: string): boolean {
  return topic.startsWith(DEAD) || topic.startsWith(REPLY);
}

/** Who may log in: the journal's users table (store/users.ts), or a cluster's bucket (cluster/users.ts). */
export interface UserSource {
  /** The user's password hash, if there is such a user. */
  get(name: string): { readonly hash: string } | undefined;
  /** Whether there is any user at all (no users: open mode). */
  any(): boolean;
}

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
  #users: UserSource;
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
  /** The topic of journal message `id`, if it is still there (whom a `$reply.<id>` is about). */
  readonly #topicOf: (id: number) => string | undefined;

  constructor(users: UserSource, logger: Logger, topicOf: (id: number) => string | undefined) {
    this.#users = users;
    this.#logger = logger;
    this.#topicOf = topicOf;
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
    const delay = this.throttle.begin(address, user, Date.now());
    if (delay === undefined) {
      this.#logger.log('warn', 'login refused unchecked: too many at once from its address', { conn: caller.id, remote: caller.remote });
      return new ProtocolError('busy', 'too many logins at once from your address; wait for their answers, then try again');
    }
    let row: ReturnType<UserSource['get']>;
    let matched: boolean;
    try {
      if (delay > 0) await new Promise((resolve) => setTimeout(resolve, delay).unref());
      row = this.#users.get(user);
      matched = await verifyPassword(password, row?.hash ?? (await decoy()));
    } finally {
      this.throttle.end(address);
    }
    if (row && matched) {
      this.throttle.succeeded(address, user, Date.now());
      this.#logger.log('info', 'login', { conn: caller.id, user, remote: caller.remote });
      return undefined;
    }
    this.throttle.failed(address, user, Date.now());
    this.#logger.log('warn', 'login failed', { conn: caller.id, remote: caller.remote, delayed_ms: delay || undefined, ...(row ? { user } : unknownName(user)) });
    return new ProtocolError('auth', 'bad user or password');
  }

  /** Logins are checked against `users` from now on (a cluster's bucket); open mode ends if it has any. */
  set users(users: UserSource) {
    this.#users = users;
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

  /**
   * How much of `pattern` `user` may read. A pattern that can match the
   * `$dead`/`$reply` topics reaches them whole only for a user who may read
   * every topic, since each of their messages is about some other topic.
   */
  reach(user: string, pattern: string): Reach {
    const acl = this.#acl;
    if (acl === undefined) return 'all';
    const reach = acl.reach(user, pattern);
    if (reach === 'all' && (overlaps(pattern, `${DEAD}>`) || overlaps(pattern, `${REPLY}>`)) && acl.reach(user, '>') !== 'all') return 'some';
    return reach;
  }

  /** Whether `user` may read messages of `topic` (for `$dead`/`$reply`, some of them may still be denied: see mayReadMessage). */
  mayRead(user: string | undefined, topic: string): boolean {
    return this.#acl === undefined || (user !== undefined && this.#acl.mayRead(user, topic));
  }

  /** Whether `user` may read this message: its topic, and the topic a `$dead`/`$reply` message is about. */
  mayReadMessage(user: string | undefined, topic: string, body: string): boolean {
    if (!this.mayRead(user, topic)) return false;
    return this.#acl === undefined || !aboutAnother(topic) || this.#mayReadAbout(user as string, topic, body);
  }

  /** What `user` may read, to filter a stream of the journal; undefined: everything. */
  readable(user: string): Readable | undefined {
    const acl = this.#acl;
    if (acl === undefined) return undefined;
    return {
      topic: (topic) => (!acl.mayRead(user, topic) ? 'none' : aboutAnother(topic) ? 'each' : 'all'),
      message: (topic, body) => this.#mayReadAbout(user, topic, body),
    };
  }

  /** Whether `user` may read the topic that a `$dead`/`$reply` message is about. */
  #mayReadAbout(user: string, topic: string, body: string): boolean {
    let about: string | undefined;
    if (topic.startsWith(DEAD)) {
      const start = body.indexOf(' ') + 1;
      const end = body.indexOf(' ', start);
      about = start > 0 ? body.slice(start, end < 0 ? undefined : end) : undefined;
    } else {
      const id = Number(topic.slice(REPLY.length));
      about = Number.isSafeInteger(id) ? this.#topicOf(id) : undefined;
    }
    // A message about a topic no longer known (retention took the request) is the server's alone.
    return about !== undefined && (this.#acl as Acl).mayRead(user, about);
  }
}
