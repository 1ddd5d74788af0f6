/**
 * `request` and `reply` (PROTOCOL.md, "Request and reply"). In a cluster
 * a reply may come through any daemon: it claims the request at the
 * daemon of the asker first (cluster/peers.ts), and that daemon answers
 * the asker once its copy of the stream brings the reply.
 */
import type { CommandOf } from '../protocol/commands.js';
import type { ProtocolError } from '../protocol/errors.js';
import { err, ok } from '../protocol/events.js';
import type { Refusal, Reply } from '../protocol/events.js';
import { duration } from '../protocol/wire.js';
import type { Conn, Services } from './context.js';
import type { ClusterView } from './views.js';

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
        const numbered = requests.asking();
        broker.publish({
          origin: conn,
          topic,
          sender: conn.user as string,
          body,
          done(result) {
            if (typeof result !== 'number') {
              numbered();
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
            numbered();
            cancel = conn.attachments.onRelease(() => {
              requests.gone(id);
              finish(undefined);
            });
          },
        });
      }),
  );
}

/** Nobody waits for an answer to `id`. */
function unwaited(id: number): Refusal {
  return err('notfound', `no one waits for an answer to ${id}: answered already, timed out, or the asker left`);
}

export function reply(conn: Conn, { id, answer }: CommandOf<'reply'>, services: Services): void {
  if (services.cluster !== undefined) {
    replyInCluster(conn, id, answer, services, services.cluster);
    return;
  }
  // Only a user who may read the question may answer it.
  const topic = services.requests.topicOf(id);
  const claim = topic !== undefined && services.policy.mayRead(conn.user, topic) ? services.requests.claim(id) : undefined;
  if (claim === undefined) {
    conn.reply(unwaited(id));
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

/** A reply claimed at the asker's daemon, wherever that is, then published; its claim is given back if it was not stored. */
function replyInCluster(conn: Conn, id: number, answer: string, { broker, policy, reader }: Services, cluster: ClusterView): void {
  const responder = conn.user as string;
  // The question is in every daemon's journal: only a user who may read it may answer it.
  const topic = reader.message(id)?.topic;
  if (topic === undefined || !policy.mayRead(responder, topic)) {
    conn.reply(unwaited(id));
    return;
  }
  const done = conn.later();
  cluster.claim(id, responder).then(
    (release) => {
      if (release === undefined) {
        done(unwaited(id));
        return;
      }
      broker.publish({
        origin: conn,
        topic: `$reply.${id}`,
        sender: responder,
        body: answer,
        done(result) {
          if (typeof result !== 'number') release();
          done(typeof result === 'number' ? ok('reply', id) : result);
        },
      });
    },
    // The view refuses with a ProtocolError only (views.ts).
    (refusal: ProtocolError) => done(refusal),
  );
}
