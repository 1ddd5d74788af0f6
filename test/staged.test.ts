/**
 * A publication's own staged state (Publication.staged: an MQTT QoS 2
 * identifier, a retained message) on a real journal: written in the
 * transaction of its message, so one is never committed without the
 * other; in cluster mode, where the message comes back through ingest,
 * with the commit after it, and `done` waits for that.
 */
import t from 'tap';
import { join } from 'node:path';
import { Broker } from '../src/bus/broker.js';
import type { Ingested, Publication, Staged } from '../src/bus/upstream.js';
import { Stats } from '../src/bus/stats.js';
import { outbound } from '../src/cluster/publisher.js';
import { Turn } from '../src/bus/turn.js';
import { silentLogger } from '../src/log.js';
import { ProtocolError } from '../src/protocol/errors.js';
import { Store } from '../src/store/store.js';
import { tempDir } from './helpers.js';

function setup(t: Parameters<typeof tempDir>[0]): { store: Store; broker: Broker; turn: Turn } {
  const store = Store.open(join(tempDir(t), 's.db'));
  t.teardown(() => store.close());
  const turn = new Turn();
  return { store, broker: new Broker(store.journal, turn, new Stats(), silentLogger), turn };
}

/** A staged write that records what happens to it, and fails its write if asked. */
function recorder(events: string[], fail = false): Staged {
  return {
    write: () => {
      events.push('write');
      if (fail) throw new Error('no room');
    },
    settled: (error) => events.push(error === undefined ? 'settled' : `settled: ${error.message}`),
  };
}

function publication(events: string[], staged: Staged | undefined, topic = 'a'): Publication {
  return { origin: undefined, topic, sender: 's', body: 'b', qos: 2, staged, done: (result) => events.push(typeof result === 'number' ? `done ${result}` : `refused ${result.code}`) };
}

t.test('in the transaction of its message: both, or neither', async (t) => {
  const { store, broker, turn } = setup(t);
  const events: string[] = [];
  broker.publish(publication(events, recorder(events)));
  broker.publish(publication(events, undefined));
  await turn.ended();
  t.same(events, ['write', 'settled', 'done 1', 'done 2']);
  events.length = 0;
  broker.publish(publication(events, recorder(events, true)));
  await turn.ended();
  t.same(events, ['write', 'settled: no room', 'refused internal'], 'its write failed: the message was not committed either');
  t.equal(store.reader.lastId(), 2);
  t.equal(store.reader.message(2, true)?.qos, 2, 'the QoS went with it');
});

t.test('cluster mode: with the commit after its message comes back, and done after that', async (t) => {
  const { store, broker, turn } = setup(t);
  let next = 0;
  const upstream: Publication[] = [];
  broker.upstream = { publish: (p, bus) => void upstream.push(outbound(p, bus)), append: (journal, batch, _now, alsoWrite) => journal.appendNumbered(batch as Ingested[], alsoWrite), numbered: true };
  const events: string[] = [];
  broker.publish(publication(events, recorder(events)));
  broker.publish(publication(events, recorder(events)));
  t.equal(upstream.length, 2);
  // The stream refuses the second; the first comes back to be journaled.
  (upstream[1] as Publication).done(new ProtocolError('busy', 'the cluster did not store it'));
  const first = upstream[0] as Publication;
  broker.ingest({ origin: undefined, topic: first.topic, sender: first.sender, body: first.body, id: ++next, ts: Date.now(), done: (result) => first.done(result) } satisfies Ingested);
  await turn.ended();
  await turn.ended();
  t.same(events, ['refused busy', 'write', 'settled', 'done 1'], 'a refused message writes nothing; an accepted one is done once its state is written');
  t.equal(store.reader.lastId(), 1);
});
