/**
 * Who may do what: the login decision (users, open mode) and the rules on
 * topics. Every handler asks here; nothing else decides.
 */
import { isIP } from 'node:net';
import { ProtocolError } from '../protocol/errors.js';
import { usageError } from '../protocol/parser.js';
import { isReservedTopic, userNameProblem } from '../protocol/topic.js';
import type { Logger } from '../log.js';
import { decoy, verifyPassword } from '../store/passwords.js';
import type { Users } from '../store/users.js';

/** 127.0.0.0/8, ::1 and IPv4-mapped loopback count as loopback. */
export function isLoopback(address: string | undefined): boolean {
  if (address === undefined) return false;
  const v4 = address.startsWith('::ffff:') ? address.slice(7) : address;
  if (isIP(v4) === 4) return v4.startsWith('127.');
  return address === '::1';
}

/** Who is asking, for the decision and the log. */
export interface Caller {
  readonly id: number;
  readonly remote: string;
  readonly remoteAddress: string | undefined;
}

export class Policy {
  readonly #users: Users;
  readonly #logger: Logger;

  constructor(users: Users, logger: Logger) {
    this.#users = users;
    this.#logger = logger;
  }

  /** Resolves to undefined when `user` may log in, or to the refusal. */
  async login(caller: Caller, user: string, password: string): Promise<ProtocolError | undefined> {
    const problem = userNameProblem(user);
    if (problem) return usageError('login', problem);
    if (!this.#users.any()) {
      if (isLoopback(caller.remoteAddress)) return undefined;
      this.#logger.log('warn', 'login refused: open mode allows loopback clients only', { remote: caller.remote });
      return new ProtocolError('auth', "no users are set up, so only loopback clients may log in; the operator must run 'linebus user add <name>'");
    }
    const row = this.#users.get(user);
    const matched = await verifyPassword(password, row?.hash ?? (await decoy()));
    if (row && matched) {
      this.#logger.log('info', 'login', { conn: caller.id, user, remote: caller.remote });
      return undefined;
    }
    this.#logger.log('warn', 'login failed', { conn: caller.id, user, remote: caller.remote });
    return new ProtocolError('auth', 'bad user or password');
  }

  /** Undefined when `user` may send to `topic`, or the refusal. */
  send(topic: string): ProtocolError | undefined {
    if (!isReservedTopic(topic)) return undefined;
    return new ProtocolError('denied', "topics starting with '$' belong to the server; clients may recv them but not send to them");
  }
}
