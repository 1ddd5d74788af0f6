/**
 * The copy of the stream into the journal (cluster/copy.ts) against a
 * stand-in for NATS that the test drives, on a clock it moves: the
 * recovery paths that cluster.test.ts, against real nats-server nodes,
 * takes or not depending on which node held the copy's consumer and when
 * the node died. Here each runs every time: a delivery gap, missed
 * heartbeats, a stall, a stop while a consumer is being made, a consumer
 * that cannot be made, a commit that fails. The consumer delivers frames
 * as the cluster's NATS socket hands them over (nats-frames.ts).
 */
import t from 'tap';
import * as nats from 'nats';
import type { ConsumerConfig, NatsConnection } from 'nats';
import type { Ingested } from '../src/bus/upstream.js';
import { deliveryOf, StreamCopy } from '../src/cluster/copy.js';
import type { MsgFrame } from '../src/cluster/nats-frames.js';
import type { MsgCallback } from '../src/cluster/nats-socket.js';
import { InFlightSends } from '../src/cluster/publisher.js';
import { SENDER_HEADER } from '../src/cluster/subjects.js';
import { bench } from './memory-link.js';
import type { Bench } from './memory-link.js';
import { mockTimers } from './mock-timers.js';
import type { Teardown } from './helpers.js';

const STREAM = 'linebus';

/** The socket's side: subscriptions by id, and the frames written. */
class FakeWire {
  readonly subscriptions = new Map<number, { subject: string; callback: MsgCallback }>();
  readonly written: string[] = [];
  #sid = 0;

  subscribe(subject: string, callback: MsgCallback): number {
    this.subscriptions.set(++this.#sid, { subject, callback });
    return this.#sid;
  }

  unsubscribe(sid: number): void {
    this.subscriptions.delete(sid);
  }

  write(frame: string): boolean {
    this.written.push(frame);
    return true;
  }

  /** Who listens on `subject`. */
  listener(subject: string): MsgCallback | undefined {
    return [...this.subscriptions.values()].find((s) => s.subject === subject)?.callback;
  }
}

/**
 * One push consumer: what it sends goes to the callback that listened on
 * its deliver subject when it was made, even after an unsubscribe, as
 * frames already read from the socket are.
 */
class Consumer {
  readonly config: Partial<ConsumerConfig>;
  readonly #wire: FakeWire;
  /** Undefined if nobody listened when it was made. */
  readonly #callback: MsgCallback | undefined;
  #delivered = 0;

  constructor(config: Partial<ConsumerConfig>, wire: FakeWire) {
    this.config = config;
    this.#wire = wire;
    this.#callback = wire.listener(config.deliver_subject as string);
  }

  /** Nobody listens on its deliver subject any more. */
  get stopped(): boolean {
    return this.#wire.listener(this.config.deliver_subject as string) === undefined;
  }

  /** A message of the stream sent by alice through linebus (or by another NATS client), delivered `skip` sequences later than the next. */
  deliver(seq: number, topic: string, body: string, skip = 0, foreign = false): void {
    this.#delivered += 1 + skip;
    const reply = `$JS.ACK.${STREAM}.c.1.${seq}.${this.#delivered}.${seq * 1e9}.0`;
    this.#send({ subject: `${STREAM}.${topic}`, reply, headers: foreign ? undefined : `NATS/1.0\r\n${SENDER_HEADER}: alice\r\n\r\n`, payload: body });
  }

  /** An idle heartbeat, saying how many it delivered (or `last`). */
  heartbeat(last = this.#delivered): void {
    this.#send({ subject: this.config.deliver_subject as string, reply: '', headers: `NATS/1.0 100 Idle Heartbeat\r\nNats-Last-Consumer: ${last}\r\nNats-Last-Stream: 0\r\n\r\n`, payload: '' });
  }

  /** Any other status (a server's 404, 409...). */
  status(line: string): void {
    this.#send({ subject: this.config.deliver_subject as string, reply: '', headers: `NATS/1.0 ${line}\r\n\r\n`, payload: '' });
  }

  /** A message with whatever reply subject. */
  raw(reply: string): void {
    this.#send({ subject: `${STREAM}.t`, reply, headers: undefined, payload: 'x' });
  }

  flowControl(reply: string): void {
    this.#send({ subject: this.config.deliver_subject as string, reply, headers: 'NATS/1.0 100 FlowControl Request\r\n\r\n', payload: '' });
  }

  #send(frame: { subject: string; reply: string; headers: string | undefined; payload: string }): void {
    const msg: MsgFrame = { sid: 0, ...frame };
    this.#callback?.(msg);
  }
}

/** A stand-in for the NATS connection: consumers made on demand, each recorded. */
class FakeNats {
  readonly wire = new FakeWire();
  readonly made: Consumer[] = [];
  lastSeq = 0;
  /** The next consumers.add calls that fail. */
  failures = 0;
  /** streams.info fails (NATS unreachable) while set. */
  infoFails = false;
  /** Calls of consumers.add. */
  asked = 0;
  /** While set, consumers.add waits for it. */
  gate: Promise<void> | undefined;

  readonly nc = {
    jetstreamManager: () =>
      Promise.resolve({
        consumers: {
          add: async (_stream: string, config: Partial<ConsumerConfig>) => {
            this.asked++;
            await this.gate;
            if (this.failures > 0) {
              this.failures--;
              throw new Error('503 no responders');
            }
            this.made.push(new Consumer(config, this.wire));
            return { name: `c${this.made.length}` };
          },
        },
        streams: { info: () => (this.infoFails ? Promise.reject(new Error('TIMEOUT')) : Promise.resolve({ state: { last_seq: this.lastSeq } })) },
      }),
  } as unknown as NatsConnection;

  /** The newest consumer. */
  get last(): Consumer {
    return this.made.at(-1) as Consumer;
  }
}

interface Rig {
  b: Bench;
  fake: FakeNats;
  logs: string[];
  clock: ReturnType<typeof mockTimers>;
  copy: StreamCopy;
  /** Ends turns until `done()` holds (at most 200); promises of the fake settle meanwhile. */
  until(done: () => boolean): Promise<void>;
}

async function rig(t: Teardown, prepare: (fake: FakeNats) => void = () => {}): Promise<Rig> {
  const clock = mockTimers({ apis: ['setTimeout', 'setInterval', 'Date'], now: 1_000_000 });
  t.teardown(() => clock.reset());
  const b = bench(t);
  // Cluster mode: sends would go upstream; the journal takes what is ingested.
  b.services.broker.upstream = { publish: () => {}, append: (journal, batch, _now, alsoWrite) => journal.appendNumbered(batch as Ingested[], alsoWrite), numbered: true };
  const fake = new FakeNats();
  prepare(fake);
  const logs: string[] = [];
  // What an operator sees: debug lines (every status of a consumer) left out.
  const logger = { log: (level: string, message: string) => void (level !== 'debug' && logs.push(`${level} ${message}`)) };
  const settings = { urls: ['nats://127.0.0.1:4222'], stream: STREAM, replicas: 1 };
  const copy = await StreamCopy.start({ nats, nc: fake.nc, wire: fake.wire, inbox: '_INBOX.copy', settings, broker: b.services.broker, store: b.store, sends: new InFlightSends('p'), logger });
  t.teardown(() => copy.stop());
  const until = async (done: () => boolean): Promise<void> => {
    for (let turns = 0; turns < 200 && !done(); turns++) await b.turn.ended();
  };
  return { b, fake, logs, clock, copy, until };
}

/** The ids in the journal. */
const ids = (b: Bench): number[] => Array.from({ length: b.store.reader.lastId() }, (_, i) => i + 1).filter((id) => b.store.reader.message(id) !== undefined);

t.test("the copy starts after the journal's last id and journals each message with the stream's id", async (t) => {
  const { b, fake, logs, until } = await rig(t);
  t.equal(fake.made.length, 1);
  t.match(fake.last.config, { opt_start_seq: 1, deliver_policy: nats.DeliverPolicy.StartSequence, ack_policy: nats.AckPolicy.None });
  fake.last.deliver(3, 'chat.x', 'hello');
  fake.last.deliver(5, 'bad topic', 'not journaled');
  fake.last.deliver(7, 'chat.y', 'world', 0, true);
  await until(() => b.store.reader.lastId() === 7);
  t.same(ids(b), [3, 7], 'the stream ids, gaps and all');
  t.same(b.store.reader.message(3), { id: 3, ts: 3000, topic: 'chat.x', sender: 'alice', body: 'hello' });
  t.same(b.store.reader.message(7), { id: 7, ts: 7000, topic: 'chat.y', sender: 'nats', body: 'world' }, 'from another NATS client');
  t.match(logs, [/^warn cluster: stream message 5 is not a linebus message/]);
});

t.test('a gap in the delivery sequence: a new consumer after what was copied', async (t) => {
  const { b, fake, logs, clock, until } = await rig(t);
  const first = fake.last;
  first.deliver(1, 't', 'one');
  first.deliver(2, 't', 'two', 1);
  await until(() => logs.length > 0);
  t.same(logs, ['warn cluster: the copy of the stream skipped (delivery 3, not 2); starting it again after id 1']);
  clock.tick(0);
  await until(() => fake.made.length === 2);
  t.equal(first.stopped, true, 'the old consumer is stopped');
  t.equal(fake.last.config.opt_start_seq, 2);
  // A consumer made again may start before what was copied.
  fake.last.deliver(1, 't', 'one');
  fake.last.deliver(2, 't', 'two');
  await until(() => b.store.reader.lastId() === 2);
  t.same(ids(b), [1, 2], 'nothing twice');
});

t.test('heartbeats: two missed, or one saying more was sent than came, start the copy again; flow control is answered', async (t) => {
  const { fake, logs, clock, until } = await rig(t);
  clock.tick(1000);
  fake.last.heartbeat();
  clock.tick(1000);
  fake.last.heartbeat();
  clock.tick(1000);
  await until(() => false);
  t.same([logs, fake.made.length], [[], 1], 'beating: nothing');
  clock.tick(1000);
  await until(() => false);
  t.same(logs, [], 'quiet for two seconds: nothing yet');
  clock.tick(1000);
  await until(() => logs.length > 0);
  t.same(logs, ['warn cluster: the copy of the stream stopped (heartbeats missed); starting it again after id 0'], 'quiet for three seconds');
  clock.tick(0);
  await until(() => fake.made.length === 2);
  fake.last.flowControl('$JS.FC.linebus.x.1');
  t.same(fake.wire.written, ['PUB $JS.FC.linebus.x.1 0\r\n\r\n'], 'flow control answered, empty');
  fake.last.deliver(1, 't', 'one');
  fake.last.heartbeat(1);
  await until(() => false);
  t.equal(logs.length, 1, 'a heartbeat that agrees: nothing');
  fake.last.heartbeat(3);
  await until(() => logs.length > 1);
  t.equal(logs[1], 'warn cluster: the copy of the stream skipped (delivery 3, not 2); starting it again after id 1');
  clock.tick(0);
  await until(() => fake.made.length === 3);
  t.equal(fake.last.config.opt_start_seq, 2);
});

t.test('other statuses are passed over; a message without a stream sequence starts the copy again', async (t) => {
  const { b, fake, logs, clock, until } = await rig(t);
  fake.last.status('409 Consumer Deleted');
  fake.last.deliver(1, 't', 'one');
  await until(() => b.store.reader.lastId() === 1);
  t.same(logs, [], 'a 409: nothing but a debug line, and the copy goes on');
  fake.last.raw('_INBOX.not.an.ack');
  await until(() => logs.length > 0);
  t.same(logs, ["warn cluster: the copy got a message with no stream sequence (reply '_INBOX.not.an.ack'); starting it again after id 1"]);
  clock.tick(0);
  await until(() => fake.made.length === 2);
  t.equal(fake.last.config.opt_start_seq, 2);
});

t.test('what a replaced consumer brings after its replacement is dropped', async (t) => {
  const { b, fake, logs, clock, until } = await rig(t);
  const first = fake.last;
  // Replaced (heartbeats missed), then its message comes, read from the socket before the unsubscribe.
  clock.tick(3000);
  await until(() => logs.length > 0);
  t.equal(first.stopped, true, 'nobody listens to the old consumer');
  first.deliver(1, 't', 'stale');
  clock.tick(0);
  await until(() => fake.made.length === 2);
  t.equal(b.store.reader.lastId(), 0, 'not journaled from the old consumer');
  const second = fake.last;
  // The gap is seen first: the heartbeat comes from a consumer already replaced.
  second.deliver(1, 't', 'one', 1);
  second.heartbeat(9);
  await until(() => logs.length > 1);
  clock.tick(0);
  await until(() => fake.made.length === 3);
  t.same(logs, [
    'warn cluster: the copy of the stream stopped (heartbeats missed); starting it again after id 0',
    'warn cluster: the copy of the stream skipped (delivery 2, not 1); starting it again after id 0',
  ], 'one new consumer for each old one, not two');
  t.equal(b.store.reader.lastId(), 0);
});

t.test("a delivery's reply subject gives its stream sequence, delivery sequence and time, with or without domain and account", async (t) => {
  t.same(deliveryOf('$JS.ACK.linebus.c1.1.42.7.1764770000123456789.0'), { seq: 42, delivered: 7, nanos: 1764770000123456789 });
  t.same(deliveryOf('$JS.ACK._.ACCHASH.linebus.c1.1.42.7.1764770000123456789.0.tok'), { seq: 42, delivered: 7, nanos: 1764770000123456789 });
  t.equal(deliveryOf(''), undefined, 'none');
  t.equal(deliveryOf('_INBOX.x'), undefined, 'not an ack subject');
  t.equal(deliveryOf('$JS.ACK.linebus.c1.1'), undefined, 'too short');
  t.same(deliveryOf('$JS.ACK._.ACCHASH.linebus.c1.1.9.8.17.3'), { seq: 9, delivered: 8, nanos: 17 }, 'domain and account, no token');
  t.equal(deliveryOf('$JS.ACK.linebus.c1.1.x.7.1.0'), undefined, 'not numbers');
  t.equal(deliveryOf('$JS.ACK.linebus.c1.1.42.7x.1.0'), undefined, 'a delivery sequence not a number');
  t.equal(deliveryOf('$JS.ACK.linebus.c1.1.42.7.soon.0'), undefined, 'a time not a number');
  t.equal(deliveryOf('$JS.ACK.linebus.c1.1..7.1.0'), undefined, 'an empty sequence');
});

t.test('a copy quiet while the stream has more starts again; quiet with nothing more, or no answer, it waits', async (t) => {
  const { b, fake, logs, clock, until } = await rig(t);
  // Heartbeats come all along: the consumer is alive, only quiet.
  fake.last.heartbeat();
  clock.tick(1000);
  fake.last.deliver(1, 't', 'one');
  await until(() => b.store.reader.lastId() === 1);
  fake.lastSeq = 4;
  fake.last.heartbeat();
  clock.tick(1000);
  await until(() => false);
  t.same(logs, [], 'a message a second ago: not quiet long enough');
  fake.lastSeq = 1;
  fake.last.heartbeat();
  clock.tick(2000);
  await until(() => false);
  t.same(logs, [], 'nothing more in the stream: no stall');
  fake.lastSeq = 4;
  fake.infoFails = true;
  fake.last.heartbeat();
  clock.tick(2000);
  await until(() => false);
  t.same(logs, [], 'the stream does not answer: wait for the next check');
  fake.infoFails = false;
  fake.lastSeq = 4;
  fake.last.heartbeat();
  clock.tick(2000);
  await until(() => logs.length > 0);
  t.same(logs, ['warn cluster: the copy of the stream stalled at id 1 of 4; starting it again']);
  clock.tick(0);
  await until(() => fake.made.length === 2);
  t.equal(fake.last.config.opt_start_seq, 2);
});

t.test('stopped while a new consumer is being made: that consumer is stopped at once', async (t) => {
  const { fake, logs, copy, clock, until } = await rig(t);
  let open = (): void => {};
  fake.gate = new Promise((resolve) => (open = resolve));
  clock.tick(3000);
  await until(() => logs.length > 0);
  clock.tick(0);
  await until(() => fake.asked === 2);
  copy.stop();
  open();
  await until(() => fake.made.length === 2);
  t.equal(fake.last.stopped, true, 'nobody listens to it');
});

t.test('a consumer that cannot be made again is tried again a second later', async (t) => {
  const { fake, logs, clock, until } = await rig(t);
  fake.failures = 1;
  clock.tick(3000);
  await until(() => logs.length > 0);
  clock.tick(0);
  await until(() => logs.length > 1);
  t.equal(logs[1], 'error cluster: cannot copy the stream again: 503 no responders');
  clock.tick(999);
  await until(() => false);
  t.equal(fake.made.length, 1, 'not before the second is over');
  clock.tick(1);
  await until(() => fake.made.length === 2);
  t.equal(fake.made.length, 2);
});

t.test('a copy whose first consumer cannot be made does not start', async (t) => {
  await t.rejects(rig(t, (fake) => (fake.failures = 1)), { message: '503 no responders' });
});

t.test('a commit that fails: the copy starts again after the journal, a second later', async (t) => {
  const { b, fake, clock, until } = await rig(t);
  const journal = b.store.journal;
  const appendNumbered = journal.appendNumbered.bind(journal);
  let fail = true;
  journal.appendNumbered = (messages, alsoWrite) => {
    if (fail) throw new Error('disk I/O error');
    return appendNumbered(messages, alsoWrite);
  };
  // Both in the batch whose commit fails: each asks for the copy to start again, once is enough.
  fake.last.deliver(1, 't', 'one');
  fake.last.deliver(2, 't', 'two');
  await until(() => fake.last.stopped);
  t.equal(fake.last.stopped, true, 'the consumer is dropped');
  fail = false;
  clock.tick(1000);
  await until(() => fake.made.length === 2);
  t.equal(fake.made.length, 2, 'one new consumer');
  t.equal(fake.last.config.opt_start_seq, 1, 'from after the last id the journal has');
  fake.last.deliver(1, 't', 'one');
  fake.last.deliver(2, 't', 'two');
  await until(() => b.store.reader.lastId() === 2);
  t.same(ids(b), [1, 2]);
});
