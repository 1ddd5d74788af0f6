/**
 * The pure parts of cluster mode, as tables: subjects and URLs, the
 * journal's claim on a stream, sends waiting for their PubAck and their
 * copy, cursor keys, consumer names, and the journal taking the stream's ids.
 */
import t from 'tap';
import { join } from 'node:path';
import { bodyProblem, parseClusterUrls, streamNameProblem, subjectOf, topicOf } from '../src/cluster/subjects.js';
import { identityProblem } from '../src/store/cluster.js';
import type { StreamIdentity } from '../src/store/cluster.js';
import { InFlightSends, pubAckOf } from '../src/cluster/publisher.js';
import { cursorKey, cursorOfKey } from '../src/cluster/cursors.js';
import { consumerName } from '../src/cluster/groups.js';
import type { Publication } from '../src/bus/upstream.js';
import type { Receiver } from '../src/bus/receiver.js';
import { ProtocolError } from '../src/protocol/errors.js';
import { replyLine } from '../src/protocol/wire.js';
import { Store } from '../src/store/store.js';
import { BLOCK_SIZE } from '../src/store/schema.js';
import { tempDir } from './helpers.js';

t.test('--cluster URLs', async (t) => {
  const table: [string, string[] | RegExp][] = [
    ['nats://h1:4222,nats://h2:4222', ['nats://h1:4222', 'nats://h2:4222']],
    ['h1', ['nats://h1:4222']],
    [' h1:5000 , tls://h2 ', ['nats://h1:5000', 'tls://h2:4222']],
    ['nats://user:secret@h1:4222', ['nats://user:secret@h1:4222']],
    ['nats://[::1]:4222', ['nats://[::1]:4222']],
    ['http://h1:4222', /the scheme is nats:\/\/ \(or tls:\/\/\), not http:\/\//],
    ['nats://', /not a NATS URL|has no host/],
    [',', /no NATS URL/],
    ['nats://h1:99999', /not a NATS URL/],
  ];
  for (const [input, expected] of table) {
    if (expected instanceof RegExp) t.throws(() => parseClusterUrls(input), { message: expected }, input);
    else t.same(parseClusterUrls(input), expected, input);
  }
});

t.test('topics are subjects under the stream name', async (t) => {
  t.equal(subjectOf('linebus', 'orders.eu'), 'linebus.orders.eu');
  t.same(topicOf('linebus', 'linebus.orders.eu'), { topic: 'orders.eu' });
  t.same(topicOf('linebus', 'other.orders'), { problem: 'subject other.orders is not under linebus.' });
  t.same(topicOf('linebus', 'linebus.a..b'), { problem: 'topic has an empty segment (check the dots)' });
  t.match(topicOf('linebus', 'linebus.a.*'), { problem: /wildcard/ });
  t.equal(bodyProblem('one line'), undefined);
  t.equal(bodyProblem('two\nlines'), 'its body has a line break');
  t.equal(bodyProblem('a\rb'), 'its body has a line break');
  for (const good of ['linebus', 'bus-2', 'a_b']) t.equal(streamNameProblem(good), undefined, good);
  for (const bad of ['', 'a.b', 'a b', 'x>', 'x'.repeat(33)]) t.ok(streamNameProblem(bad), `'${bad}' refused`);
});

t.test('a journal copies one stream', async (t) => {
  const stream = { stream: 'linebus', created: '2026-11-23T00:00:00Z' };
  const table: [StreamIdentity | undefined, number, number, RegExp | undefined][] = [
    [undefined, 0, 0, undefined],
    [undefined, 0, 500, undefined],
    [undefined, 3, 500, /has messages up to id 3 that are not the stream's/],
    [stream, 10, 500, undefined],
    [stream, 501, 500, /has messages up to id 501 but stream linebus ends at 500: the stream lost messages/],
    [{ stream: 'other', created: stream.created }, 1, 500, /copies stream other made .*, not stream linebus/],
    [{ stream: 'linebus', created: '2025-01-01T00:00:00Z' }, 1, 500, /deleted and made again\?/],
  ];
  for (const [journal, lastId, lastSeq, expected] of table) {
    const problem = identityProblem('bus.db', journal, lastId, stream, lastSeq);
    if (expected === undefined) t.equal(problem, undefined);
    else t.match(problem, expected);
  }
});

/** A publication whose answer is kept. */
function publication(origin?: Receiver): Publication & { answers: (number | string)[] } {
  const answers: (number | string)[] = [];
  return { origin, topic: 't', sender: 'alice', body: 'b', answers, done: (result) => answers.push(typeof result === 'number' ? result : replyLine(result)) };
}

t.test('a send is answered once its PubAck came and its copy was journaled, in either order', async (t) => {
  const sends = new InFlightSends('p');
  const origin = {} as Receiver;
  const first = publication(origin);
  const id1 = sends.add(first);
  t.equal(sends.name(id1), 'p-1');
  sends.acked(id1, 7);
  t.same(first.answers, [], 'not before its copy is journaled');
  const claim = sends.claim(sends.name(id1));
  t.equal(claim?.origin, origin, 'its copy is not delivered back to the sender');
  claim?.journaled(7);
  t.same(first.answers, [7]);
  t.equal(sends.size, 0);

  const second = publication();
  const id2 = sends.add(second);
  sends.claim(sends.name(id2))?.journaled(8);
  t.same(second.answers, [], 'not before the PubAck');
  sends.acked(id2, 8);
  t.same(second.answers, [8]);

  const lost = publication();
  const id3 = sends.add(lost);
  sends.failed(id3, new Error('TIMEOUT'));
  t.same(lost.answers, ['err busy the cluster did not store the message (TIMEOUT); it was not sent, try again']);
  t.equal(sends.claim(sends.name(id3)), undefined, 'a refused send that was stored after all is anybody\'s message');

  const seen = publication();
  const id4 = sends.add(seen);
  sends.claim(sends.name(id4))?.journaled(9);
  sends.failed(id4, new Error('TIMEOUT'));
  t.same(seen.answers, [9], 'a send seen in the stream was stored: its PubAck only got lost');

  const failedCommit = publication();
  const id5 = sends.add(failedCommit);
  sends.claim(sends.name(id5))?.journaled(new ProtocolError('internal', 'the journal failed'));
  sends.acked(id5, 10);
  t.same(failedCommit.answers, [], 'a failed commit waits for the copy to come again');
  sends.claim(sends.name(id5))?.journaled(10);
  t.same(failedCommit.answers, [10]);

  const late = publication();
  const id6 = sends.add(late);
  const acked = publication();
  const id7 = sends.add(acked);
  sends.acked(id7, 11);
  sends.expire(Date.now() - 60_000);
  t.same(late.answers, [], 'not refused before its time');
  sends.expire(Date.now() + 1);
  t.same(late.answers, ['err busy the cluster did not store the message (TIMEOUT); it was not sent, try again'], 'no PubAck in time: refused');
  t.same(acked.answers, [], 'a stored send waits for its copy, however long');
  t.equal(sends.claim(sends.name(id6)), undefined);
  sends.claim(sends.name(id7))?.journaled(11);
  t.same(acked.answers, [11]);

  t.equal(sends.claim(undefined), undefined);
  sends.acked(99, 1);
  sends.failed(99, new Error('x'));
  t.equal(sends.claim('p-99'), undefined);
  const waiting = publication();
  const number = sends.add(waiting);
  t.equal(sends.claim(`q-${number}`), undefined, "another daemon's send of the same number is not this one");
  t.not(sends.claim(`p-${number}`), undefined, 'its own name claims it');
  sends.refuseAll('the server is stopping');
  t.same(waiting.answers, ['err busy the server is stopping']);
});

t.test("JetStream's answers to a publish: a sequence, or why not", async (t) => {
  const table: [string, string | undefined, string, number | string][] = [
    ['a PubAck', undefined, '{"stream":"linebus","seq":42}', 42],
    ['a PubAck with a domain', undefined, '{"stream":"linebus","domain":"hub","seq":43}', 43],
    ['a stream name with an escaped quote', undefined, '{"stream":"a\\",\\"seq\\":1","seq":44}', 44],
    ['a sequence with a sign', undefined, '{"stream":"s","seq":-5}', 'no sequence in the PubAck'],
    ['a duplicate is still its sequence', undefined, '{"stream":"linebus","seq":7,"duplicate":true}', 7],
    ['a refusal, sequence 0', undefined, '{"error":{"code":503,"err_code":10077,"description":"maximum messages exceeded"},"stream":"full","seq":0}', 'maximum messages exceeded'],
    ['no stream for the subject', 'NATS/1.0 503\r\n\r\n', '', '503 no stream answered'],
    ['a status with its words', 'NATS/1.0 408 Request Timeout\r\n\r\n', '', '408 Request Timeout'],
    ['headers without a status', 'NATS/1.0\r\nX: y\r\n\r\n', '{"stream":"s","seq":3}', 3],
    ['no sequence', undefined, '{"stream":"s"}', 'no sequence in the PubAck'],
    ['sequence 0 without an error', undefined, '{"stream":"s","seq":0}', 'no sequence in the PubAck'],
    ['a sequence that is not a number', undefined, '{"stream":"s","seq":"3"}', 'no sequence in the PubAck'],
    ['null', undefined, 'null', 'no sequence in the PubAck'],
    ['not JSON', undefined, 'hello', /JSON/.source],
  ];
  for (const [name, headers, payload, expected] of table) {
    const answer = pubAckOf({ headers, payload });
    if (typeof expected === 'number') t.equal(answer, expected, name);
    else t.match(answer instanceof Error ? answer.message : answer, new RegExp(expected), name);
  }
});

t.test('cursor keys and consumer names use only the characters JetStream allows', async (t) => {
  for (const [user, name] of [
    ['alice', 'bot'],
    ['bob.smith', 'reports.daily'],
    ['ünï', 'a-b_c'],
  ] as const) {
    const key = cursorKey(user, name);
    t.match(key, /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/, key);
    t.same(cursorOfKey(key), { user, name });
  }
  for (const bad of ['one', 'a.b.c', '.b', 'a.']) t.equal(cursorOfKey(bad), undefined, bad);
  t.equal(consumerName('work'), 'g_d29yaw');
  t.match(consumerName('orders.eu-1'), /^g_[A-Za-z0-9_-]+$/);
});

t.test("the journal takes a stream's ids, gaps and all, and summarizes the blocks they complete", async (t) => {
  const store = Store.open(join(tempDir(t), 'bus.db'));
  t.teardown(() => store.close());
  const message = (id: number, topic = 't'): { id: number; ts: number; topic: string; sender: string; body: string } => ({ id, ts: 1000 + id, topic, sender: 's', body: `m${id}` });
  t.equal(store.journal.appendNumbered([message(1), message(2), message(5)]), 5);
  t.same(store.reader.message(5), { id: 5, ts: 1005, topic: 't', sender: 's', body: 'm5' });
  t.throws(() => store.journal.appendNumbered([message(5)]), { message: "message id 5 is not after the journal's last id 5" });
  t.equal(store.reader.lastId(), 5, 'the failed batch left nothing');
  // Across a block boundary with a gap: the block before is summarized.
  t.equal(store.journal.appendNumbered([message(BLOCK_SIZE + 3, 'u')]), BLOCK_SIZE + 3);
  const blocks = store.db.prepare('SELECT block, topic, first_id, last_id, count FROM topic_blocks').all();
  t.same(blocks, [{ block: 0, topic: 't', first_id: 1, last_id: 5, count: 3 }]);
  t.equal(store.journal.appendNumbered([]), BLOCK_SIZE + 3, 'an empty batch (staged writes only) changes nothing');
});
