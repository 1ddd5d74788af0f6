import t from 'tap';
import { matches, patternProblem, topicProblem } from '../src/protocol/topic.js';
import { filterMatches, filterPatterns, linebusTopic, mqttTopicName, parseFilter, parseSubscriptionFilter } from '../src/mqtt/topics.js';
import type { MqttFilter } from '../src/mqtt/topics.js';
import type { MqttRefusalReason } from '../src/mqtt/refusals.js';

/** [MQTT topic name, linebus topic]: both directions, exactly. */
const NAMES: [string, string][] = [
  ['home/kitchen/temp', 'home.kitchen.temp'],
  ['a', 'a'],
  ['v1.0/status', 'v1%2E0.status'],
  ['a.b.c', 'a%2Eb%2Ec'],
  ['...', '%2E%2E%2E'],
  ['a/./b', 'a.%2E.b'],
  ['/TopicA', '%.TopicA'],
  ['TopicA/', 'TopicA.%'],
  ['a//b', 'a.%.b'],
  ['/', '%.%'],
  ['//', '%.%.%'],
  ['a/ b', 'a.%20b'],
  [' ', '%20'],
  ['a b c', 'a%20b%20c'],
  ['%', '%25'],
  ['100%', '100%25'],
  ['%41', '%2541'],
  ['%2E', '%252E'],
  ['*', '%2A'],
  ['>', '%3E'],
  ['a/*/b', 'a.%2A.b'],
  ['a/>', 'a.%3E'],
  ['**', '**'],
  ['*x', '*x'],
  ['x>', 'x>'],
  ['>>', '>>'],
  ['$SYS/broker/uptime', '$SYS.broker.uptime'],
  ['$dead/workers', '$dead.workers'],
  ['température/salon', 'température.salon'],
  ['日本/東京', '日本.東京'],
  ['😀/🚀', '😀.🚀'],
  ['tab\there', 'tab%09here'],
  ['\x01', '%01'],
  ['line\nfeed', 'line%0Afeed'],
  ['del\x7f', 'del%7F'],
  ['nbsp\u00a0', 'nbsp%C2%A0'],
  ['zero\u200bwidth', 'zero%E2%80%8Bwidth'],
  ['\ufeffbom', '%EF%BB%BFbom'],
  ['c1\u0085', 'c1%C2%85'],
  ['ideographic\u3000space', 'ideographic%E3%80%80space'],
  ['é.ü', 'é%2Eü'],
  ['~!"$&\'()*,-:;<=>?@[\\]^_`{|}', '~!"$&\'()*,-:;<=>?@[\\]^_`{|}'],
  ['a'.repeat(255), 'a'.repeat(255)],
  ['.'.repeat(85), '%2E'.repeat(85)],
  ['é'.repeat(127), 'é'.repeat(127)],
  ['a/'.repeat(127) + 'a', 'a.'.repeat(127) + 'a'],
];

t.test('MQTT topic names map to linebus topics and back, exactly', async (t) => {
  for (const [name, topic] of NAMES) {
    const mapped = linebusTopic(name);
    t.same(mapped, { ok: true, value: topic }, `${JSON.stringify(name)} -> ${topic}`);
    t.equal(topicProblem(topic), undefined, `${topic} is a valid linebus topic`);
    t.equal(mqttTopicName(topic), name, `${topic} -> ${JSON.stringify(name)}`);
  }
});

t.test('names that cannot be published', async (t) => {
  const table: [string, MqttRefusalReason][] = [
    ['', 'topic-empty'],
    ['a/+', 'topic-wildcard'],
    ['a/#', 'topic-wildcard'],
    ['#', 'topic-wildcard'],
    ['+', 'topic-wildcard'],
    ['a+b', 'topic-wildcard'],
    ['sport#', 'topic-wildcard'],
    ['a\0b', 'nul'],
    ['a'.repeat(256), 'topic-too-long'],
    ['.'.repeat(86), 'topic-too-long'],
    ['é'.repeat(128), 'topic-too-long'],
    ['/'.repeat(128), 'topic-too-long'],
    ['a'.repeat(70000), 'topic-too-long'],
  ];
  for (const [name, reason] of table) t.same(linebusTopic(name), { ok: false, reason }, `${JSON.stringify(name.slice(0, 20))} is ${reason}`);
});

t.test('linebus topics no MQTT name maps to', async (t) => {
  const table: [string, string][] = [
    ['#ops', 'MQTT names cannot hold #'],
    ['a.#', '# as a level'],
    ['room+1', 'MQTT names cannot hold +'],
    ['a/b', 'a / in a segment'],
    ['100%', 'a stray %'],
    ['%%', 'a stray %'],
    ['a.b%', 'a stray % at the end'],
    ['%zz', 'not hex'],
    ['%2e', 'lower-case hex'],
    ['%41', 'an escape of what needs none'],
    ['a.%2541.%41', 'one segment is not canonical'],
    ['%2F', 'an escaped /'],
    ['%2B', 'an escaped +'],
    ['%23', 'an escaped #'],
    ['%00', 'NUL'],
    ['%FF', 'not UTF-8'],
    ['%C3', 'a truncated UTF-8 sequence'],
    ['%ED%A0%80', 'an encoded surrogate'],
    ['%C3%A9', 'é needs no escape'],
    ['%', 'the empty name'],
  ];
  for (const [topic, why] of table) t.equal(mqttTopicName(topic), undefined, `${topic}: ${why}`);
  t.equal(mqttTopicName('%2A'), '*', 'an escaped whole-level * is the level *');
  t.equal(mqttTopicName('x.%2A%2A'), undefined, 'but ** is written as itself');
});

/** [filter, pattern, parent, skipsDollar] */
const FILTERS: [string, string, string | undefined, boolean][] = [
  ['a/b', 'a.b', undefined, false],
  ['#', '>', undefined, true],
  ['+', '*', undefined, true],
  ['a/#', 'a.>', 'a', false],
  ['a/+', 'a.*', undefined, false],
  ['+/b', '*.b', undefined, true],
  ['+/#', '*.>', '*', true],
  ['+/+', '*.*', undefined, true],
  ['a/+/#', 'a.*.>', 'a.*', false],
  ['/#', '%.>', '%', false],
  ['/+', '%.*', undefined, false],
  ['a//#', 'a.%.>', 'a.%', false],
  ['$SYS/#', '$SYS.>', '$SYS', false],
  ['$share', '$share', undefined, false],
  ['v1.0/+', 'v1%2E0.*', undefined, false],
  ['*', '%2A', undefined, false],
  ['>/#', '%3E.>', '%3E', false],
  ['a b/#', 'a%20b.>', 'a%20b', false],
  ['é/+/ü', 'é.*.ü', undefined, false],
  ['a'.repeat(253) + '/#', 'a'.repeat(253) + '.>', 'a'.repeat(253), false],
];

t.test('MQTT filters as linebus patterns', async (t) => {
  for (const [text, pattern, parent, skipsDollar] of FILTERS) {
    const parsed = parseFilter(text);
    t.same(parsed, { ok: true, value: { filter: text, pattern, parent, skipsDollar } }, text);
    if (!parsed.ok) continue;
    for (const each of filterPatterns(parsed.value)) t.equal(patternProblem(each), undefined, `${each} is a valid pattern`);
    t.same(filterPatterns(parsed.value), parent === undefined ? [pattern] : [pattern, parent]);
  }
});

t.test('filters that cannot be subscribed to', async (t) => {
  const table: [string, MqttRefusalReason][] = [
    ['', 'topic-empty'],
    ['a/#/b', 'filter-wildcard'],
    ['#/', 'filter-wildcard'],
    ['#/#', 'filter-wildcard'],
    ['a#', 'filter-wildcard'],
    ['a/b#', 'filter-wildcard'],
    ['sport/tennis#', 'filter-wildcard'],
    ['a+', 'filter-wildcard'],
    ['+a/b', 'filter-wildcard'],
    ['a/++', 'filter-wildcard'],
    ['a/+b/c', 'filter-wildcard'],
    ['a\0/#', 'nul'],
    ['a'.repeat(256), 'topic-too-long'],
    ['a'.repeat(254) + '/#', 'topic-too-long'],
    ['./'.repeat(64) + '#', 'topic-too-long'],
  ];
  for (const [filter, reason] of table) t.same(parseFilter(filter), { ok: false, reason }, `${filter.slice(0, 20)} is ${reason}`);
});

/** MQTT 3.1.1's matching, written from section 4.7 on MQTT names, to check the mapping against. */
function mqttMatches(filter: string, name: string): boolean {
  if ((filter.startsWith('+') || filter.startsWith('#')) && name.startsWith('$')) return false;
  const want = filter.split('/');
  const have = name.split('/');
  for (let i = 0; i < want.length; i++) {
    if (want[i] === '#') return true;
    if (i >= have.length) return false;
    if (want[i] !== '+' && want[i] !== have[i]) return false;
  }
  return want.length === have.length;
}

t.test('a mapped filter matches a mapped name exactly when MQTT says it matches', async (t) => {
  const names = ['a', 'b', 'a/b', 'a/c', 'a/b/c', 'a/', '/a', '/', '//', 'a//b', '$SYS', '$SYS/x', '$SYS/x/y', 'x/$SYS', 'v1.0/status', 'v1%2E0/status',
    'a/*', '*', '>', 'a/>', '*/b', 'x y', '%', 'é/ü', 'sport', 'sport/tennis', 'sport/tennis/player1', 'sport/tennis/player1/ranking'];
  const filters = ['#', '+', 'a', 'a/#', 'a/+', '+/+', '+/#', '/#', '/+', '+/', '$SYS/#', '$SYS/+', '$SYS', '+/$SYS', '+/b', 'a/+/#', 'a//b', 'a/*',
    '*', '>', '*/b', 'v1.0/+', '%', 'é/#', '+/+/+', 'a/b/c/#', 'sport/#', 'sport/tennis/+', 'sport/+', '+/tennis/#', 'x y'];
  let compared = 0;
  let matched = 0;
  for (const filterText of filters) {
    const filter = parseFilter(filterText);
    if (!filter.ok) throw new Error(`${filterText}: ${filter.reason}`);
    for (const name of names) {
      const topic = linebusTopic(name);
      if (!topic.ok) throw new Error(`${name}: ${topic.reason}`);
      const expected = mqttMatches(filterText, name);
      if (filterMatches(filter.value, topic.value) !== expected) t.fail(`${filterText} ~ ${name} should be ${expected}`);
      compared++;
      if (expected) matched++;
    }
  }
  t.equal(compared, filters.length * names.length);
  t.ok(matched > 100 && matched < compared - 100, `${matched} of ${compared} pairs match: the table has both kinds`);
  const spot = (filter: string, name: string): boolean => {
    const f = parseFilter(filter) as { value: MqttFilter };
    return filterMatches(f.value, (linebusTopic(name) as { value: string }).value);
  };
  t.equal(spot('sport/#', 'sport'), true, 'a/# matches a [4.7.1.2]');
  t.equal(spot('#', '$SYS/x'), false, '# does not match $ topics [MQTT-4.7.2-1]');
  t.equal(spot('+/x', '$SYS/x'), false, '+ first does not match $ topics');
  t.equal(spot('$SYS/#', '$SYS/x'), true);
  t.equal(spot('sport/+', 'sport'), false, '+ needs a level');
  t.equal(spot('sport/+', 'sport/'), true, '+ matches an empty level');
  t.equal(matches('>', '$SYS.x'), true, 'while the linebus pattern alone would match: the predicate does it');
});

t.test('$share/<group>/<filter>', async (t) => {
  const plain = parseSubscriptionFilter('a/#');
  t.same(plain, { ok: true, value: { group: undefined, filter: { filter: 'a/#', pattern: 'a.>', parent: 'a', skipsDollar: false } } });
  const shared = parseSubscriptionFilter('$share/workers/jobs/+');
  t.same(shared, { ok: true, value: { group: 'workers', filter: { filter: 'jobs/+', pattern: 'jobs.*', parent: undefined, skipsDollar: false } } });
  const deep = parseSubscriptionFilter('$share/g-1.x_y/#');
  t.same(deep, { ok: true, value: { group: 'g-1.x_y', filter: { filter: '#', pattern: '>', parent: undefined, skipsDollar: true } } });
  const table: [string, MqttRefusalReason][] = [
    ['$share/', 'share-invalid'],
    ['$share/g', 'share-invalid'],
    ['$share/g/', 'share-invalid'],
    ['$share//a', 'share-invalid'],
    ['$share/+/a', 'share-invalid'],
    ['$share/#/a', 'share-invalid'],
    ['$share/a b/x', 'share-invalid'],
    ['$share/é/x', 'share-invalid'],
    [`$share/${'g'.repeat(65)}/x`, 'share-invalid'],
    ['$share/g/a/#/b', 'filter-wildcard'],
    ['$share/g/a\0', 'nul'],
  ];
  for (const [text, reason] of table) t.same(parseSubscriptionFilter(text), { ok: false, reason }, `${text.slice(0, 30)} is ${reason}`);
  t.same(parseSubscriptionFilter(`$share/${'g'.repeat(64)}/x`), { ok: true, value: { group: 'g'.repeat(64), filter: { filter: 'x', pattern: 'x', parent: undefined, skipsDollar: false } } });
  t.same(parseSubscriptionFilter('$shared/g/x'), { ok: true, value: { group: undefined, filter: { filter: '$shared/g/x', pattern: '$shared.g.x', parent: undefined, skipsDollar: false } } }, 'only $share/ is shared');
});
