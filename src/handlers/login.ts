/** `login <user> <password>` (PROTOCOL.md, "Commands"). */
import { err, ok } from '../protocol/events.js';
import type { CommandOf } from '../protocol/commands.js';
import type { Conn, Services } from './context.js';

export function login(conn: Conn, { user, password }: CommandOf<'login'>, services: Services): void {
  if (conn.user !== undefined) {
    conn.reply(err('auth', `already logged in as ${conn.user}; log off and reconnect to change user`));
    return;
  }
  const reply = conn.later();
  // Commands after a login wait for its answer: they need to know who it is.
  conn.hold(async () => {
    const refusal = await services.policy.login(conn, user, password);
    if (refusal === undefined) conn.loggedIn(user);
    reply(refusal ?? ok('login', user));
  });
}
