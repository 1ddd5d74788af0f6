import t from 'tap';
import { SubscriptionSet } from '../src/mqtt/subscriptions.js';
import { parseFilter } from '../src/mqtt/topics.js';
import type { MqttFilter } from '../src/mqtt/topics.js';

function filter(text: string): MqttFilter {
  const parsed = parseFilter(text);
  if (!parsed.ok) throw new Error(`${text}: ${parsed.reason}`);
  return parsed.value;
}

t.test('filters share bus patterns, counted', async (t) => {
  const set = new SubscriptionSet();
  t.same(set.subscribe(filter('a/#'), 1, 0), ['a.>', 'a'], 'a/# needs a.> and a');
  t.same(set.subscribe(filter('a'), 2, 0), [], 'a is already delivered');
  t.same(set.subscribe(filter('+/b'), 0, 0), ['*.b']);
  t.same(set.subscribe(filter('a/#'), 0, 0), [], 'the same filter again replaces its QoS');
  t.same(set.patterns().sort(), ['*.b', 'a', 'a.>']);
  t.equal(set.size, 3);
  t.same(set.unsubscribe('a/#'), ['a.>'], 'a is still needed by the filter a');
  t.same(set.unsubscribe('a/#'), [], 'twice');
  t.same(set.unsubscribe('nothing'), []);
  t.same(set.unsubscribe('a'), ['a']);
  t.same(set.unsubscribe('+/b'), ['*.b']);
  t.same(set.patterns(), []);
  t.equal(set.size, 0);
});

t.test('overlapping subscriptions: one copy, at the highest granted QoS', async (t) => {
  const set = new SubscriptionSet();
  set.subscribe(filter('#'), 0, 0);
  set.subscribe(filter('home/+/temp'), 1, 0);
  set.subscribe(filter('home/kitchen/#'), 2, 0);
  set.subscribe(filter('$SYS/#'), 1, 0);
  const table: [string, number | undefined][] = [
    ['home.kitchen.temp', 2],
    ['home.kitchen', 2],
    ['home.hall.temp', 1],
    ['home.hall', 0],
    ['other', 0],
    ['$SYS.uptime', 1],
    ['$dead.workers', undefined],
  ];
  for (const [topic, qos] of table) t.equal(set.grantedFor(topic, 1), qos, `${topic}: ${qos}`);
  set.subscribe(filter('home/kitchen/#'), 0, 50);
  t.equal(set.grantedFor('home.kitchen.temp', 2), 1, 'a replaced subscription keeps only its new QoS');
  t.same(set.list().map((each) => [each.filter.filter, each.qos, each.since]), [['#', 0, 0], ['home/+/temp', 1, 0], ['home/kitchen/#', 0, 0], ['$SYS/#', 1, 0]], 'in the order made; a replaced one keeps its start');
});

t.test('a subscription gets what was journaled after it was made', async (t) => {
  const set = new SubscriptionSet();
  set.subscribe(filter('a/#'), 1, 10);
  set.subscribe(filter('a/b'), 2, 20);
  const table: [number, number | undefined][] = [[5, undefined], [10, undefined], [11, 1], [20, 1], [21, 2]];
  for (const [id, qos] of table) t.equal(set.grantedFor('a.b', id), qos, `message ${id} of a.b: ${qos}`);
});
