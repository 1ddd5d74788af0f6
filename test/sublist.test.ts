import t from 'tap';
import { spawnSync } from 'node:child_process';
import { Sublist } from '../src/protocol/sublist.js';
import { matches } from '../src/protocol/topic.js';

t.test('exact and wildcard receivers, each once', async (t) => {
  const list = new Sublist<string>();
  t.equal(list.add('a.b', 'r1'), true);
  t.equal(list.add('a.b', 'r1'), false, 'twice is once');
  t.equal(list.add('a.*', 'r1'), true);
  t.equal(list.add('a.>', 'r2'), true);
  t.equal(list.add('>', 'r3'), true);
  t.equal(list.add('*.b', 'r4'), true);
  t.equal(list.add('>', 'r3'), false);
  t.same([...list.match('a.b')].sort(), ['r1', 'r2', 'r3', 'r4']);
  t.same([...list.match('a.c')].sort(), ['r1', 'r2', 'r3']);
  t.same([...list.match('a')].sort(), ['r3']);
  t.same([...list.match('a.b.c')].sort(), ['r2', 'r3']);
  t.same([...list.patterns()].map(([p, r]) => [p, [...r]]).sort(), [
    ['*.b', ['r4']], ['>', ['r3']], ['a.*', ['r1']], ['a.>', ['r2']], ['a.b', ['r1']],
  ]);
  t.equal(list.remove('a.b', 'r9'), false);
  t.equal(list.remove('x.y', 'r1'), false);
  t.equal(list.remove('x.*', 'r1'), false);
  t.equal(list.remove('a.*', 'r9'), false);
  t.equal(list.remove('a.b', 'r1'), true);
  t.equal(list.remove('a.*', 'r1'), true);
  t.equal(list.remove('a.>', 'r2'), true);
  t.equal(list.remove('*.b', 'r4'), true);
  t.same([...list.match('a.b')], ['r3']);
  t.equal(list.remove('>', 'r3'), true);
  t.same([...list.match('a.b')], []);
  t.same([...list.patterns()], [], 'empty trie nodes are pruned');
});

t.test('agrees with matches() on every pattern and topic of a grid', async (t) => {
  const segments = ['a', 'b', '*', '>'];
  const patterns: string[] = [];
  const grow = (prefix: string[]): void => {
    if (prefix.length > 0 && !prefix.slice(0, -1).includes('>')) patterns.push(prefix.join('.'));
    if (prefix.length < 3) for (const s of segments) grow([...prefix, s]);
  };
  grow([]);
  const topics: string[] = [];
  const growTopic = (prefix: string[]): void => {
    if (prefix.length > 0) topics.push(prefix.join('.'));
    if (prefix.length < 4) for (const s of ['a', 'b']) growTopic([...prefix, s]);
  };
  growTopic([]);
  const list = new Sublist<string>();
  for (const p of patterns) list.add(p, p);
  let checked = 0;
  for (const topic of topics) {
    const expected = patterns.filter((p) => matches(p, topic)).sort();
    t.same([...list.match(topic)].sort(), expected, topic, { diagnostic: false });
    checked++;
  }
  t.equal(checked, topics.length);
});

t.test('10,000 receivers on 10,000 topics: a send finds its one receiver without scanning', async (t) => {
  const list = new Sublist<number>();
  for (let i = 0; i < 10000; i++) list.add(`room.${i}`, i);
  // With no wildcard patterns the exact map's own set is returned: no copy,
  // no walk, whatever the number of other topics.
  const found = list.match('room.4242');
  t.same([...found], [4242]);
  t.equal(list.match('room.4242'), found, 'the same set object: a map lookup');
  t.equal(list.match('room.10001').size, 0);
  list.add('room.*', -1);
  t.same([...list.match('room.7')].sort(), [-1, 7]);
});

t.test('a deep pattern costs a bounded amount: about 60 bytes a segment', { timeout: 30000 }, async (t) => {
  // Measured in a process of its own, where a full GC can be asked for.
  const url = new URL('../src/protocol/sublist.js', import.meta.url).href;
  const script = `
    const { Sublist } = await import(${JSON.stringify(url)});
    // 127 segments, 254 bytes, unlike every other from the first segment on.
    const deep = (i) => [i.toString(36), ...Array(125).fill('x'), '*'].join('.');
    globalThis.gc();
    const before = process.memoryUsage().heapUsed;
    const list = new Sublist();
    for (let i = 0; i < 2000; i++) list.add(deep(i), i);
    globalThis.gc();
    console.log(Math.round((process.memoryUsage().heapUsed - before) / 2000));
    if (list.match(deep(7).replace(/\\*$/, 'y')).size !== 1) process.exit(3);`;
  const result = spawnSync(process.execPath, ['--expose-gc', '--input-type=module', '-e', script], { encoding: 'utf8' });
  t.equal(result.status, 0, result.stderr);
  const perPattern = Number(result.stdout);
  t.ok(perPattern > 0 && perPattern < 16 * 1024, `${perPattern} bytes per 127-segment pattern`);
});
