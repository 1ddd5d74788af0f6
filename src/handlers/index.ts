/**
 * The handler table: one handler per verb of protocol/commands.ts. The
 * mapped type makes a verb without a handler a compile error.
 */
import type { CommandOf, Verb } from '../protocol/commands.js';
import { help, logoff, ping } from './basic.js';
import type { Conn, Services } from './context.js';
import { stats, topics, who } from './introspect.js';
import { login } from './login.js';
import { replay } from './replay.js';
import { send } from './send.js';
import { leave, recv } from './subscribe.js';

export type Handler<V extends Verb> = (conn: Conn, command: CommandOf<V>, services: Services) => void;

export const HANDLERS: { readonly [V in Verb]: Handler<V> } = {
  login,
  recv,
  replay,
  leave,
  send,
  ping,
  topics,
  who,
  stats,
  help,
  logoff,
};
