/**
 * The seam a door that is not lines plugs into (protocol/events.ts): live
 * deliveries, journal pages and jobs come as typed messages with their
 * commit time, replies as Ok or Refusal with their code; the line protocol
 * writes the same events as lines (wire.ts). In memory, on a real journal.
 */
import t from 'tap';
import type { MessageTarget } from '../src/bus/feed.js';
import { Delivery } from '../src/bus/receiver.js';
import type { Receiver } from '../src/bus/receiver.js';
import { err, ok, sent, startingAt } from '../src/protocol/events.js';
import type { Message, Reply } from '../src/protocol/events.js';
import { ProtocolError } from '../src/protocol/errors.js';
import { hello, item, msgText, MsgWriter, pong, replyLine, replyText, SentLines, writeDigits } from '../src/protocol/wire.js';
import type { Worker } from '../src/queue/queue.js';
import { Wants } from '../src/store/wants.js';
import { bench } from './memory-link.js';

/** What an MQTT door would be to the bus: every event kept as it came. */
class TypedDoor implements MessageTarget, Receiver, Worker {
  readonly takes = 'messages';
  readonly user = 'device';
  readonly patterns = new Set<string>();
  readonly pageBytes = 16 * 1024;
  readonly events: (Reply | { page: Message[] } | { live: Message } | { job: Message })[] = [];
  constructor(readonly broker: { subscribe(receiver: Receiver, pattern: string): boolean }) {}
  subscribe(pattern: string): void {
    this.patterns.add(pattern);
    this.broker.subscribe(this, pattern);
  }
  reply(reply: Reply): void {
    this.events.push(reply);
  }
  pushMessages(messages: readonly Message[]): void {
    this.events.push({ page: messages.map((m) => ({ ...m })) });
  }
  room(): Promise<boolean> {
    return Promise.resolve(true);
  }
  pauseLive(): void {}
  resumeLive(): void {}
  deliver(message: Delivery): void {
    const { id, ts, topic, sender, body } = message;
    this.events.push({ live: { id, ts, topic, sender, body } });
  }
  mayTake(): boolean {
    return true;
  }

  pushJob(message: Message): boolean {
    this.events.push({ job: message });
    return true;
  }
}

t.test('a typed door gets the journal as messages, then live ones, each with the time the journal holds', async (t) => {
  const { services, store, turn } = bench(t);
  store.journal.append(
    [
      { topic: 'a.1', sender: 's', body: 'one' },
      { topic: 'b', sender: 's', body: 'not this' },
      { topic: 'a.2', sender: 's', body: 'two' },
    ],
    1000,
  );
  const door = new TypedDoor(services.broker);
  await services.feed.catchUp(door, 'a.*', { kind: 'id', id: 0 });
  t.same(door.events, [
    { code: 'ok', verb: 'recv', text: 'a.*' },
    {
      page: [
        { id: 1, ts: 1000, topic: 'a.1', sender: 's', body: 'one' },
        { id: 3, ts: 1000, topic: 'a.2', sender: 's', body: 'two' },
      ],
    },
  ]);
  let id = 0;
  services.broker.publish({ origin: undefined, topic: 'a.3', sender: 'x', body: 'live', done: (result) => (id = result as number) });
  await turn.ended();
  t.equal(id, 4);
  t.same(door.events[2], { live: { id: 4, ts: store.reader.message(4)?.ts, topic: 'a.3', sender: 'x', body: 'live' } }, 'the commit time, as journaled');
});

t.test('a typed door hears refusals by their code', async (t) => {
  const { services } = bench(t);
  const door = new TypedDoor(services.broker);
  await services.feed.follow(door, 'c', 'x.*', undefined, 0);
  t.same(door.events, [{ code: 'busy', text: 'you have 0 cursors, the most one user may (--max-cursors); forget one first' }]);
});

t.test("a queue group hands a typed worker the job's message, and answers its ack after the commit", async (t) => {
  const { services, store, turn } = bench(t);
  store.journal.append([{ topic: 'jobs.a', sender: 'tx', body: 'do it' }], 2000);
  const group = await services.groups.create({ name: 'g', pattern: 'jobs.*', position: 0, waitMs: 30_000, tries: 5, creator: 'device' });
  const door = new TypedDoor(services.broker);
  const member = group.join(door, 1);
  t.same(door.events, [{ job: { id: 1, ts: 2000, topic: 'jobs.a', sender: 'tx', body: 'do it' } }]);
  const replies: Reply[] = [];
  t.equal(group.ack(member, 1, (reply) => replies.push(reply)), true);
  t.same(replies, [], 'not before the commit');
  await turn.ended();
  t.same(replies, [{ code: 'ok', verb: 'ack', text: '1' }]);
  services.groups.stop();
});

t.test('the line protocol writes the same events as lines', async (t) => {
  const cases: [Parameters<typeof replyLine>[0], string][] = [
    [ok('logoff'), 'ok logoff'],
    [ok('recv', 'a.*', 'as', 'c', 'after', 7), 'ok recv a.* as c after 7'],
    [startingAt(ok('recv', 'a.*', 'as', 'c', 'after', 7), 12), 'ok recv a.* as c after 7 journal starts at 12'],
    [startingAt(ok('replay', '>', 0), undefined), 'ok replay > 0'],
    [startingAt(ok('recv'), 3), 'ok recv journal starts at 3'],
    [sent(42), 'ok send 42'],
    [err('denied', 'you may not'), 'err denied you may not'],
    [new ProtocolError('busy', 'later'), 'err busy later'],
    [hello('1.0.0'), 'hello linebus 1.0.0'],
    [pong(undefined), 'pong'],
    [pong('x y'), 'pong x y'],
    [item('stat', 'uptime_s', 3), 'stat uptime_s 3'],
  ];
  for (const [reply, line] of cases) t.equal(replyLine(reply), line, line);
  t.equal(sent(42).id, 42, 'an ok send carries its id');
  t.equal(msgText('café', 5, 's', 'b'), 'msg café 5 s b\n');
  const page = Buffer.from(`${msgText('t', 4, 's', 'a')}${msgText('café', 5, 's', 'b')}`);
  const delivery = new Delivery(5, 1000, 'café', 's', 'b', page, 12, page.length);
  t.equal(delivery.text, 'msg café 5 s b\n', 'its line, cut from its page');
  t.equal(delivery.bytes, 16, 'bytes, not characters');
});

t.test('MsgWriter writes the bytes of msgText, line after line', async (t) => {
  const writer = new MsgWriter();
  const lines: [topic: string, id: number, sender: string, body: string][] = [
    ['t', 0, 's', ''],
    ['t', 9, 's', 'a b'],
    ['t', 10, 'ß', 'ünïcödé ✓ 🎉'],
    ['tópic.ü', 2 ** 31 - 1, 'ß', 'x'],
    ['tópic.ü', 2 ** 31, 's', 'nul \u0000 and cr \r'],
    ['t', Number.MAX_SAFE_INTEGER, 's', 'y'.repeat(300)],
  ];
  const into = Buffer.alloc(lines.reduce((sum, [topic, , sender, body]) => sum + writer.maxBytes(topic, sender, body), 0));
  let at = 0;
  for (const [topic, id, sender, body] of lines) {
    const end = writer.write(into, at, topic, id, sender, body);
    t.equal(into.toString('utf8', at, end), msgText(topic, id, sender, body), `msg ${topic} ${id}`);
    at = end;
  }
  const digits = Buffer.alloc(20);
  for (const n of [0, 7, 10, 99, 100, 123456789, 2 ** 31, 2 ** 40 + 1]) t.equal(digits.toString('latin1', 0, writeDigits(digits, 0, n)), `${n}`, `${n}`);
});

t.test('SentLines writes the bytes of replyText(sent(id)), and never over a line written before', async (t) => {
  const lines = new SentLines();
  const written: [data: Buffer, start: number, end: number, id: number][] = [];
  // Enough lines to fill more than one slab.
  for (let k = 0; k < 600; k++) {
    const id = [0, 9, 10, 2 ** 31 - 1, 2 ** 31, Number.MAX_SAFE_INTEGER][k % 6] as number;
    const end = lines.write(id);
    written.push([lines.data, lines.start, end, id]);
  }
  t.ok(new Set(written.map(([data]) => data)).size > 1, 'more than one slab');
  for (const [data, start, end, id] of written) t.equal(data.toString('latin1', start, end), replyText(sent(id)), `ok send ${id}`);
});

t.test('pages of messages stop at their rows or their bytes, and skip what is not wanted', async (t) => {
  const { store } = bench(t);
  for (let i = 1; i <= 10; i++) store.journal.append([{ topic: i % 2 === 0 ? 'n.even' : 'n.odd', sender: 's', body: 'x'.repeat(10) }], i);
  const reader = store.reader;
  const ids = (page: { messages: Message[] }): number[] => page.messages.map((m) => m.id);
  const odd = reader.pageMessages(new Wants([{ pattern: '*.odd', after: 0 }]), 0, 10, { rows: 4, bytes: 1 << 20 });
  t.same([ids(odd), odd.next, odd.done], [[1, 3], 4, false], 'four rows read, two wanted');
  // A message weighs its topic, sender and body, plus 24: 40 here.
  const bytes = reader.pageMessages(new Wants([{ pattern: '>', after: 0 }]), 0, 10, { rows: 100, bytes: 80 });
  t.same([ids(bytes), bytes.next, bytes.done], [[1, 2], 2, false], 'stops at the first message that reaches the limit');
  const rest = reader.pageMessages(new Wants([{ pattern: 'n.even', after: 0 }]), 2, 10, { rows: 100, bytes: 1 << 20 });
  t.same([ids(rest), rest.done], [[4, 6, 8, 10], true]);
  t.same(rest.messages[0], { id: 4, ts: 4, topic: 'n.even', sender: 's', body: 'xxxxxxxxxx' });
});
