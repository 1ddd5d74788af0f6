/**
 * The end of a turn: one commit for the sends of a turn (at most 256 per
 * transaction), then one write per connection, and no empty turn after it.
 * Input backpressure: a connection whose commands wait is no longer read.
 */
import t from 'tap';
import { Worker } from 'node:worker_threads';
import { BATCH_MAX } from '../src/bus/broker.js';
import { Turn } from '../src/bus/turn.js';
import type { PendingMessage } from '../src/store/journal.js';
import { hashPassword } from '../src/store/passwords.js';
import { bench } from './memory-link.js';
import { LineClient, startServer, stat } from './helpers.js';

t.test('2400 sends published in one step are committed as 1024, 1024 and 352', async (t) => {
  const { services, store, turn } = bench(t);
  const batches: number[] = [];
  const append = store.journal.append.bind(store.journal);
  store.journal.append = (messages: readonly PendingMessage[], ts: number): number => {
    batches.push(messages.length);
    return append(messages, ts);
  };
  const ids: number[] = [];
  for (let i = 0; i < 2400; i++) {
    services.broker.publish({ origin: undefined, topic: 't', sender: 's', body: `${i}`, done: (id) => ids.push(id as number) });
  }
  t.same(batches, [BATCH_MAX, BATCH_MAX], 'full batches commit at once, inside the step that filled them');
  await turn.ended();
  t.same(batches, [1024, 1024, 352], 'the rest at the end of the turn');
  t.same(ids, Array.from({ length: 2400 }, (_, i) => i + 1), 'acknowledged in id order');
});

t.test('over TCP: pipelined sends in one write never make a transaction over 1024', { timeout: 10000 }, async (t) => {
  const { server, port } = await startServer(t);
  const c = await LineClient.login(port, 'bob');
  c.write(...Array.from({ length: 2400 }, (_, i) => `send t ${i}`));
  const acks = await c.lines(2400);
  t.equal(acks[2399], 'ok send 2400');
  t.equal(stat(server.stats(), 'journal_largest_commit'), 1024);
  t.ok(stat(server.stats(), 'journal_commits') >= 3, 'at least three commits');
  c.close();
});

t.test('one send at a time: one turn each, not two', { timeout: 10000 }, async (t) => {
  const { server, port } = await startServer(t);
  const rx = await LineClient.login(port, 'rx');
  rx.write('recv t');
  await rx.line();
  const c = await LineClient.login(port, 'bob');
  const before = server.turns;
  for (let i = 1; i <= 100; i++) {
    c.write(`send t ${i}`);
    t.equal(await c.line(), `ok send ${i}`, `send ${i}`, { diagnostic: false });
  }
  const turns = server.turns - before;
  t.ok(turns >= 100 && turns <= 102, `100 sends, each acknowledged and delivered, took ${turns} turns`);
  t.equal((await rx.lines(100))[99], 'msg t 100 bob 100');
  rx.close();
  c.close();
});

t.test('a connection whose commands wait stops being read, then catches up in order', async (t) => {
  const b = bench(t);
  const { link } = b.session();
  // The login holds the lines after it while the password hash runs.
  const pings = Array.from({ length: 20000 }, (_, i) => `ping ${i}\n`).join('');
  link.send(`login alice pw\n${pings}`);
  t.equal(link.paused, true, 'paused while the login holds 20,000 lines');
  await link.resumed();
  t.equal(link.paused, false, 'resumed once they were answered');
  await b.turn.ended();
  const lines = link.lines();
  t.equal(lines.length, 20002);
  t.same(lines.slice(0, 3), ['hello linebus test', 'ok login alice', 'pong 0']);
  t.equal(lines[20001], 'pong 19999');
});

t.test('--max-input: the input a connection may queue behind a command before it stops being read', async (t) => {
  for (const maxInput of [4096, 65536]) {
    const b = bench(t, { maxLine: 65536, maxPending: 8 << 20, maxSubscriptions: 1000, maxAckPending: 1000, maxCursors: 100, maxGroups: 100, maxInput });
    const { link } = b.session();
    link.send('login alice pw\n');
    // Six lines of 1 KiB each while the login holds them.
    const pausedAfter: boolean[] = [];
    for (let i = 0; i < 6; i++) {
      link.send(`ping ${'p'.repeat(1018)}\n`);
      pausedAfter.push(link.paused);
    }
    t.same(pausedAfter, maxInput === 4096 ? [false, false, false, true, true, true] : [false, false, false, false, false, false], `--max-input ${maxInput}`);
    await b.turn.ended();
  }
});

t.test('over TCP: a client pipelining behind a login queues a bounded amount (--max-input)', { timeout: 30000 }, async (t) => {
  for (const maxInput of [65536, 4096]) {
    const { server, port } = await startServer(t, { maxInput });
    // A real user, so the login waits for a real password hash.
    server.store.users.put('alice', await hashPassword('pw'));
    const c = await LineClient.connect(port);
    await c.line();
    // 8 MB of pings, written while the password check runs.
    const pings = `ping ${'p'.repeat(1000)}\n`.repeat(8000);
    c.writeRaw(`login alice pw\n${pings}`);
    t.equal(await c.line(), 'ok login alice');
    const replies = await c.lines(8000);
    t.equal(replies[7999], `pong ${'p'.repeat(1000)}`, 'every ping answered: the client only waits');
    const queued = stat(server.stats(), 'input_queue_max_bytes');
    // The bound, plus the one read (at most 64 KiB) that crossed it.
    t.ok(queued > 0 && queued <= maxInput + 65536, `at most ${queued} bytes of input were queued with --max-input ${maxInput}, not 8 MB`);
    t.equal(stat(server.stats(), 'max_input'), maxInput);
    c.close();
  }
});

t.test('a reply reserved before the output was dropped is never written', async (t) => {
  const b = bench(t);
  const { session, link } = b.session();
  link.send('login bob pw\n');
  await b.lines(link, 2);
  link.send('send t one\n');
  session.shutdown();
  await b.turn.ended();
  t.same(link.lines(), ['hello linebus test', 'ok login bob', 'err shutdown the server is stopping; reconnect later']);
  t.equal(link.ended, true);
});

t.test('importing the package in a worker thread starts nothing and throws nothing', { timeout: 10000 }, async (t) => {
  const url = new URL('../src/index.js', import.meta.url).href;
  const worker = new Worker(`import(${JSON.stringify(url)}).then((m) => require('node:worker_threads').parentPort.postMessage(typeof m.LinebusServer))`, { eval: true, execArgv: [] });
  const [message, code] = await Promise.all([
    new Promise((resolve) => worker.once('message', resolve)),
    new Promise((resolve) => worker.once('exit', resolve)),
  ]);
  t.equal(message, 'function');
  t.equal(code, 0);
});

t.test('a full batch reaches receivers at once, a batch per write', async (t) => {
  const b = bench(t);
  const rx = b.session();
  const tx = b.session();
  rx.link.send('login rx pw\nrecv t\n');
  tx.link.send('login tx pw\n');
  await b.lines(rx.link, 3);
  await b.lines(tx.link, 2);
  const before = rx.link.written.length;
  tx.link.send(Array.from({ length: 2400 }, (_, i) => `send t ${i}\n`).join(''));
  t.equal(rx.link.written.length - before, 2, 'two full batches written before the read is even over');
  const lines = await b.lines(rx.link, 2403);
  t.equal(rx.link.written.length - before, 3, 'the rest at the end of the turn');
  t.equal(lines[2402], 'msg t 2400 tx 2399');
});

t.test('work that comes while a turn ends gets a turn of its own', async (t) => {
  const turn = new Turn();
  const runs: string[] = [];
  let asks = 2;
  turn.addStep(() => {
    runs.push(`step ${turn.count}`);
    // A step that makes more work for the steps (as a commit whose
    // acknowledgement sends again would): once by schedule(), once by a
    // full batch's endNow().
    if (asks === 2) turn.schedule();
    if (asks === 1) turn.endNow();
    asks--;
  });
  const flushed: number[] = [];
  turn.dirty({ flush: () => flushed.push(turn.count) });
  await turn.ended();
  t.same(runs, ['step 1'], 'the first end');
  t.same(flushed, [1]);
  await turn.ended();
  await turn.ended();
  t.same(runs, ['step 1', 'step 2', 'step 3'], 'each ask made one more end, and only one');
});
