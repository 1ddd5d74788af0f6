/** `mark`, `cursors`, `forget` (PROTOCOL.md, "Durable cursors"); `recv ... as` is in subscribe.ts. */
import type { CommandOf } from '../protocol/commands.js';
import { err, ok } from '../protocol/events.js';
import type { Refusal } from '../protocol/events.js';
import { item } from '../protocol/wire.js';
import type { Conn, Services } from './context.js';

function noCursor(name: string): Refusal {
  return err('notfound', `you have no cursor ${name}; recv <pattern> as ${name} makes one`);
}

export function mark(conn: Conn, { cursor: name, id }: CommandOf<'mark'>, services: Services): void {
  const cursor = services.cursors.get(conn.user as string, name);
  if (cursor === undefined) {
    conn.reply(noCursor(name));
    return;
  }
  // The sends before the mark may not be committed yet; their ids are known.
  const last = services.reader.lastId() + services.broker.queued;
  if (id > last) {
    conn.reply(err('notfound', `no message has id ${id} yet (the journal's last is ${last}); mark the id of a message you received`));
    return;
  }
  services.cursors.mark(cursor, id, conn.later());
}

export function cursors(conn: Conn, _command: CommandOf<'cursors'>, services: Services): void {
  // With the user's MQTT kept sessions: `mqtt/<client id>`, their patterns joined by commas.
  const list = services.cursors.listed(conn.user as string);
  conn.hold(async () => {
    for (const cursor of list) {
      const lag = await services.feed.lag(conn, cursor.patterns, cursor.mark);
      if (lag === undefined) return;
      conn.reply(item('cursor', cursor.name, cursor.patterns.join(',') || '-', cursor.mark, lag));
    }
    conn.reply(ok('cursors', list.length));
  });
}

export function forget(conn: Conn, { cursor }: CommandOf<'forget'>, services: Services): void {
  conn.reply(services.cursors.forget(conn.user as string, cursor) ? ok('forget', cursor) : noCursor(cursor));
}
