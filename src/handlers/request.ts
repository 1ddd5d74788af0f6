/** `request` and `reply` (PROTOCOL.md, "Request and reply"). */
import type { CommandOf } from '../protocol/commands.js';
import { err, ok } from '../protocol/events.js';
import type { Reply } from '../protocol/events.js';
import { duration } from '../protocol/wire.js';
import type { Conn, Services } from './context.js';

/** PROTOCOL.md: a request waits 10 s unless it says `within`. */
export const REQUEST_WITHIN_MS = 10_000;

/**
 * Journals the question like a send, then holds the connection's later
 * replies (not its deliveries) until the first reply or the timeout.
 */
export function request(conn: Conn, { topic, withinMs = REQUEST_WITHIN_MS, body }: CommandOf<'request'>, services: Services): void {
  const refusal = services.policy.send(conn.user as string, topic);
  if (refusal) {
    conn.reply(refusal);
    return;
  }
  const { broker, requests } = services;
  conn.hold(
    () =>
      new Promise<void>((resolve) => {
        let cancel = (): void => {};
        const finish = (answer: Reply | undefined): void => {
          cancel();
          if (answer !== undefined) conn.reply(answer);
          resolve();
        };
        broker.publish({
          origin: conn,
          topic,
          sender: conn.user as string,
          body,
          done(result) {
            if (typeof result !== 'number') {
              finish(result);
              return;
            }
            const id = result;
            requests.wait(
              id,
              {
                answered: (responder, answer) => finish(ok('request', id, responder, answer)),
                timedOut: () => finish(err('timeout', `no reply to request ${id} within ${duration(withinMs)}; it stays in the journal as ${id}`)),
              },
              withinMs,
              topic,
            );
            cancel = conn.attachments.onRelease(() => {
              requests.gone(id);
              finish(undefined);
            });
          },
        });
      }),
  );
}

export function reply(conn: Conn, { id, answer }: CommandOf<'reply'>, services: Services): void {
  // Only a user who may read the question may answer it.
  const topic = services.requests.topicOf(id);
  const claim = topic !== undefined && services.policy.mayRead(conn.user, topic) ? services.requests.claim(id) : undefined;
  if (claim === undefined) {
    conn.reply(err('notfound', `no one waits for an answer to ${id}: answered already, timed out, or the asker left`));
    return;
  }
  const responder = conn.user as string;
  const done = conn.later();
  services.broker.publish({
    origin: conn,
    topic: `$reply.${id}`,
    sender: responder,
    body: answer,
    done(result) {
      const committed = typeof result === 'number';
      services.requests.settle(id, claim, committed ? { responder, text: answer } : undefined);
      done(committed ? ok('reply', id) : result);
    },
  });
}
