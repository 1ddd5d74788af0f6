/**
 * The copy of the stream into the journal (cluster/copy.ts) against a
 * stand-in for NATS that the test drives, on a clock it moves: the
 * recovery paths that cluster.test.ts, against real nats-server nodes,
 * takes or not depending on which node held the copy's consumer and when
 * the node died. Here each runs every time: a delivery gap, missed
 * heartbeats, a consumer deleted, a stall, a stop while a consumer is being
 * made, a consumer that cannot be made, a commit that fails.
 */
import t from 'tap';
import * as nats from 'nats';
import type { ConsumeOptions, ConsumerConfig, ConsumerMessages, JsMsg, NatsConnection } from 'nats';
import type { Ingested } from '../src/bus/broker.js';
import { StreamCopy } from '../src/cluster/copy.js';
import { InFlightSends } from '../src/cluster/publisher.js';
import { SENDER_HEADER } from '../src/cluster/subjects.js';
import { bench } from './memory-link.js';
import type { Bench } from './memory-link.js';
import { mockTimers } from './mock-timers.js';
import type { Teardown } from './helpers.js';

const STREAM = 'linebus';

/** An async queue: what is pushed comes out of the iterator, until end(). */
class Channel<T> implements AsyncIterable<T> {
  readonly #items: T[] = [];
  #ended = false;
  #wake: (() => void) | undefined;

  push(item: T): void {
    this.#items.push(item);
    this.#wake?.();
  }

  end(): void {
    this.#ended = true;
    this.#wake?.();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<T> {
    for (;;) {
      const item = this.#items.shift();
      if (item !== undefined) {
        yield item;
        continue;
      }
      if (this.#ended) return;
      await new Promise<void>((resolve) => (this.#wake = resolve));
      this.#wake = undefined;
    }
  }
}

/** One consumer's messages, as `consume()` gives them to its callback. */
class Consumed extends Channel<JsMsg> {
  readonly statuses = new Channel<{ type: string; data: unknown }>();
  stopped = false;
  #delivered = 0;

  /** A message of the stream sent by alice through linebus (or by another NATS client), delivered `skip` sequences later than the next. */
  deliver(seq: number, topic: string, body: string, skip = 0, foreign = false): void {
    this.#delivered += 1 + skip;
    const headers = foreign ? undefined : { get: (name: string) => (name === SENDER_HEADER ? 'alice' : '') };
    const info = { deliverySequence: this.#delivered, timestampNanos: seq * 1e9 };
    this.push({ seq, subject: `${STREAM}.${topic}`, info, headers, string: () => body } as unknown as JsMsg);
  }

  stop(): void {
    this.stopped = true;
    this.end();
    this.statuses.end();
  }

  status(): Promise<AsyncIterable<{ type: string; data: unknown }>> {
    return Promise.resolve(this.statuses);
  }
}

/** A stand-in for the NATS connection: consumers made on demand, each recorded. */
class FakeNats {
  readonly made: { config: Partial<ConsumerConfig>; consumed: Consumed }[] = [];
  lastSeq = 0;
  /** The next consumers.add calls that fail. */
  failures = 0;
  /** streams.info fails (NATS unreachable) while set. */
  infoFails = false;
  /** While set, consume() waits for it. */
  gate: Promise<void> | undefined;

  readonly nc = {
    jetstreamManager: () =>
      Promise.resolve({
        consumers: {
          add: (_stream: string, config: Partial<ConsumerConfig>) => {
            if (this.failures > 0) {
              this.failures--;
              return Promise.reject(new Error('503 no responders'));
            }
            const consumed = new Consumed();
            this.made.push({ config, consumed });
            return Promise.resolve({ name: `c${this.made.length}` });
          },
        },
        streams: { info: () => (this.infoFails ? Promise.reject(new Error('TIMEOUT')) : Promise.resolve({ state: { last_seq: this.lastSeq } })) },
      }),
    jetstream: () => ({
      consumers: {
        get: (_stream: string, name: string) =>
          Promise.resolve({
            consume: async (options: ConsumeOptions) => {
              await this.gate;
              const consumed = this.made[Number(name.slice(1)) - 1]?.consumed as Consumed;
              // Its messages reach the callback in order, each a step after
              // the one before, as a socket's reads bring them.
              void (async () => {
                for await (const message of consumed) options.callback?.(message);
              })();
              return consumed as unknown as ConsumerMessages;
            },
          }),
      },
    }),
  } as unknown as NatsConnection;

  /** The newest consumer. */
  get last(): { config: Partial<ConsumerConfig>; consumed: Consumed } {
    return this.made.at(-1) as { config: Partial<ConsumerConfig>; consumed: Consumed };
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
  const copy = await StreamCopy.start({ nats, nc: fake.nc, settings, broker: b.services.broker, store: b.store, sends: new InFlightSends('p'), logger });
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
  fake.last.consumed.deliver(3, 'chat.x', 'hello');
  fake.last.consumed.deliver(5, 'bad topic', 'not journaled');
  fake.last.consumed.deliver(7, 'chat.y', 'world', 0, true);
  await until(() => b.store.reader.lastId() === 7);
  t.same(ids(b), [3, 7], 'the stream ids, gaps and all');
  t.same(b.store.reader.message(3), { id: 3, ts: 3000, topic: 'chat.x', sender: 'alice', body: 'hello' });
  t.same(b.store.reader.message(7), { id: 7, ts: 7000, topic: 'chat.y', sender: 'nats', body: 'world' }, 'from another NATS client');
  t.match(logs, [/^warn cluster: stream message 5 is not a linebus message/]);
});

t.test('a gap in the delivery sequence: a new consumer after what was copied', async (t) => {
  const { b, fake, logs, clock, until } = await rig(t);
  const first = fake.last.consumed;
  first.deliver(1, 't', 'one');
  first.deliver(2, 't', 'two', 1);
  await until(() => logs.length > 0);
  t.same(logs, ['warn cluster: the copy of the stream skipped (delivery 3, not 2); starting it again after id 1']);
  clock.tick(0);
  await until(() => fake.made.length === 2);
  t.equal(first.stopped, true, 'the old consumer is stopped');
  t.equal(fake.last.config.opt_start_seq, 2);
  // A consumer made again may start before what was copied.
  fake.last.consumed.deliver(1, 't', 'one');
  fake.last.consumed.deliver(2, 't', 'two');
  await until(() => b.store.reader.lastId() === 2);
  t.same(ids(b), [1, 2], 'nothing twice');
});

t.test('two missed heartbeats or a consumer gone start the copy again; one missed heartbeat does not', async (t) => {
  const { fake, logs, clock, until } = await rig(t);
  fake.last.consumed.statuses.push({ type: nats.ConsumerEvents.HeartbeatsMissed, data: 1 });
  clock.tick(0);
  await until(() => false);
  t.same([logs, fake.made.length], [[], 1], 'one missed heartbeat: nothing');
  fake.last.consumed.statuses.push({ type: nats.ConsumerEvents.HeartbeatsMissed, data: 2 });
  await until(() => logs.length > 0);
  t.same(logs, ['warn cluster: the copy of the stream stopped (heartbeats_missed); starting it again after id 0']);
  clock.tick(0);
  await until(() => fake.made.length === 2);
  fake.last.consumed.statuses.push({ type: nats.ConsumerEvents.ConsumerDeleted, data: 'c2' });
  await until(() => logs.length > 1);
  t.equal(logs[1], 'warn cluster: the copy of the stream stopped (consumer_deleted); starting it again after id 0');
  clock.tick(0);
  await until(() => fake.made.length === 3);
  t.equal(fake.made.length, 3);
});

t.test('what a replaced consumer brings after its replacement is dropped', async (t) => {
  const { b, fake, logs, clock, until } = await rig(t);
  const first = fake.last.consumed;
  // The status is seen first: the message comes from a consumer already replaced.
  first.statuses.push({ type: nats.ConsumerEvents.ConsumerDeleted, data: 'c1' });
  first.deliver(1, 't', 'stale');
  await until(() => logs.length > 0);
  clock.tick(0);
  await until(() => fake.made.length === 2);
  t.equal(b.store.reader.lastId(), 0, 'not journaled from the old consumer');
  const second = fake.last.consumed;
  // The gap is seen first: the status comes from a consumer already replaced.
  second.deliver(1, 't', 'one', 1);
  second.statuses.push({ type: nats.ConsumerEvents.ConsumerDeleted, data: 'c2' });
  await until(() => logs.length > 1);
  clock.tick(0);
  await until(() => fake.made.length === 3);
  t.same(logs, [
    'warn cluster: the copy of the stream stopped (consumer_deleted); starting it again after id 0',
    'warn cluster: the copy of the stream skipped (delivery 2, not 1); starting it again after id 0',
  ], 'one new consumer for each old one, not two');
});

t.test('a copy quiet while the stream has more starts again; quiet with nothing more, or no answer, it waits', async (t) => {
  const { b, fake, logs, clock, until } = await rig(t);
  clock.tick(1000);
  fake.last.consumed.deliver(1, 't', 'one');
  await until(() => b.store.reader.lastId() === 1);
  fake.lastSeq = 4;
  clock.tick(1000);
  await until(() => false);
  t.same(logs, [], 'a message a second ago: not quiet long enough');
  fake.lastSeq = 1;
  clock.tick(2000);
  await until(() => false);
  t.same(logs, [], 'nothing more in the stream: no stall');
  fake.lastSeq = 4;
  fake.infoFails = true;
  clock.tick(2000);
  await until(() => false);
  t.same(logs, [], 'the stream does not answer: wait for the next check');
  fake.infoFails = false;
  fake.lastSeq = 4;
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
  fake.last.consumed.statuses.push({ type: nats.ConsumerEvents.ConsumerNotFound, data: 'c1' });
  await until(() => logs.length > 0);
  clock.tick(0);
  await until(() => fake.made.length === 2);
  copy.stop();
  open();
  await until(() => fake.last.consumed.stopped);
  t.equal(fake.last.consumed.stopped, true);
});

t.test('a consumer that cannot be made again is tried again a second later', async (t) => {
  const { fake, logs, clock, until } = await rig(t);
  fake.failures = 1;
  fake.last.consumed.statuses.push({ type: nats.ConsumerEvents.ConsumerDeleted, data: 'c1' });
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
  fake.last.consumed.deliver(1, 't', 'one');
  fake.last.consumed.deliver(2, 't', 'two');
  await until(() => fake.last.consumed.stopped);
  t.equal(fake.last.consumed.stopped, true, 'the consumer is dropped');
  fail = false;
  clock.tick(1000);
  await until(() => fake.made.length === 2);
  t.equal(fake.made.length, 2, 'one new consumer');
  t.equal(fake.last.config.opt_start_seq, 1, 'from after the last id the journal has');
  fake.last.consumed.deliver(1, 't', 'one');
  fake.last.consumed.deliver(2, 't', 'two');
  await until(() => b.store.reader.lastId() === 2);
  t.same(ids(b), [1, 2]);
});
