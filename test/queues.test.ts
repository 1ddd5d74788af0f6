/**
 * Work queues (PROTOCOL.md, "Work queues") over real TCP and a real SQLite
 * file: jobs spread over members, one at a time and never past `max`;
 * jobs of closed, leaving, slow and silent workers go to another; nack,
 * touch, dead jobs, pending, restarts, limits and bad input.
 */
import t from 'tap';
import { join } from 'node:path';
import { LineClient, startServer, stat, tempDir } from './helpers.js';

/** Sends `count` messages `<topic> m<i>` and waits for their acknowledgements. */
async function produce(port: number, topic: string, count: number): Promise<void> {
  const tx = await LineClient.login(port, 'tx');
  tx.write(...Array.from({ length: count }, (_, i) => `send ${topic} m${i + 1}`));
  await tx.lines(count);
  tx.close();
}

t.test('jobs spread over the members, one member at a time, never past max', { timeout: 15000 }, async (t) => {
  const { server, port } = await startServer(t);
  const w1 = await LineClient.login(port, 'w1');
  const w2 = await LineClient.login(port, 'w2');
  w1.write('take jobs as g');
  t.equal(await w1.line(), 'ok take jobs as g');
  w2.write('take jobs as g max 2');
  t.equal(await w2.line(), 'ok take jobs as g');
  await produce(port, 'jobs', 5);
  t.equal(await w1.line(), 'job jobs 1 tx m1');
  t.same(await w2.lines(2), ['job jobs 2 tx m2', 'job jobs 3 tx m3']);
  t.same(await w1.sync(), [], 'w1 holds its max of 1');
  t.same(await w2.sync(), [], 'w2 holds its max of 2');
  w1.write('pending g');
  const listed = await w1.lines(4);
  t.match(listed.slice(0, 3), [/^pending 1 jobs w1 \d+ 1$/, /^pending 2 jobs w2 \d+ 1$/, /^pending 3 jobs w2 \d+ 1$/]);
  t.equal(listed[3], 'ok pending g 3', 'messages not handed out yet are not listed');
  w1.write('ack 1');
  t.same(await w1.lines(2), ['ok ack 1', 'job jobs 4 tx m4'], 'room again: the next job, in id order');
  w2.write('ack 3', 'ack 2');
  t.same(await w2.lines(3), ['ok ack 3', 'job jobs 5 tx m5', 'ok ack 2']);
  t.equal(stat(server.stats(), 'jobs_delivered'), 5);
  t.equal(stat(server.stats(), 'jobs_acked'), 3);
  t.equal(stat(server.stats(), 'jobs_pending'), 2);
  w1.close();
  w2.close();
});

t.test("a closed worker's jobs go to another at once; a job whose wait runs out too", { timeout: 15000 }, async (t) => {
  const { server, port } = await startServer(t);
  const w1 = await LineClient.login(port, 'w1');
  w1.write('take t as g wait 300ms');
  t.equal(await w1.line(), 'ok take t as g');
  await produce(port, 't', 2);
  t.equal(await w1.line(), 'job t 1 tx m1');
  const w2 = await LineClient.login(port, 'w2');
  w2.write('take t as g');
  t.same(await w2.lines(2), ['ok take t as g', 'job t 2 tx m2']);
  w1.close();
  await w1.closed;
  w2.write('ack 2');
  t.same(await w2.lines(2), ['ok ack 2', 'job t 1 tx m1'], "w1's job came back to the group and went to w2");
  // w2 sits on it: after the group's wait it goes to w3, and w2's ack is refused.
  const w3 = await LineClient.login(port, 'w3');
  w3.write('take t as g');
  t.same(await w3.lines(2), ['ok take t as g', 'job t 1 tx m1']);
  w2.write('ack 1', 'touch 1');
  t.same(await w2.lines(2), [
    'err notfound you hold no job 1: never had it, acked it already, or its wait ran out and it went to another worker',
    'err notfound you hold no job 1: never had it, acked it already, or its wait ran out and it went to another worker',
  ]);
  w3.write('touch 1', 'pending g', 'ack 1', 'pending g');
  const lines = await w3.lines(5);
  t.equal(lines[0], 'ok touch 1 1', 'the wait starts again: 300 ms, rounded up to a second');
  t.match(lines[1], /^pending 1 t w3 \d+ 3$/, 'delivered three times');
  t.same(lines.slice(2), ['ok pending g 1', 'ok ack 1', 'ok pending g 0']);
  t.equal(stat(server.stats(), 'jobs_redelivered'), 2);
  w2.close();
  w3.close();
});

t.test('nack gives a job back at once (to another member) or after a delay; leave returns them', { timeout: 15000 }, async (t) => {
  const { port } = await startServer(t);
  const w1 = await LineClient.login(port, 'w1');
  const w2 = await LineClient.login(port, 'w2');
  w1.write('take t as g');
  await w1.line();
  w2.write('take t as g');
  await w2.line();
  await produce(port, 't', 1);
  t.equal(await w1.line(), 'job t 1 tx m1');
  w1.write('nack 1');
  t.equal(await w1.line(), 'ok nack 1');
  t.equal(await w2.line(), 'job t 1 tx m1', 'another member is preferred');
  w2.write('nack 1 400ms');
  t.equal(await w2.line(), 'ok nack 1');
  t.same(await w1.sync(), [], 'not at once');
  w1.write('pending g');
  t.match(await w1.lines(2), [/^pending 1 t - \d+ 2$/, 'ok pending g 1']);
  t.equal(await w1.line(), 'job t 1 tx m1', 'after the delay');
  w1.write('leave t', 'leave t');
  t.same(await w1.lines(2), ['ok leave t', 'err notfound not receiving or taking t; recv it first, or check the spelling']);
  t.equal(await w2.line(), 'job t 1 tx m1', 'leave gave it back');
  w1.close();
  w2.close();
});

t.test('a job delivered tries times is dead: journaled on $dead.<group>, never handed out again', { timeout: 15000 }, async (t) => {
  const { server, port } = await startServer(t);
  const watcher = await LineClient.login(port, 'ops');
  watcher.write('recv $dead.>');
  await watcher.line();
  const w = await LineClient.login(port, 'w');
  w.write('take t as g tries 2 wait 100ms');
  await w.line();
  await produce(port, 't', 1);
  t.equal(await w.line(), 'job t 1 tx m1');
  t.equal(await w.line(), 'job t 1 tx m1', 'its wait ran out: again, the only member');
  w.write('nack 1');
  t.equal(await w.line(), 'ok nack 1');
  t.equal(await watcher.line(), 'msg $dead.g 2 $linebus 1 t m1');
  t.same(await w.sync(), [], 'not again');
  w.write('pending g');
  t.equal(await w.line(), 'ok pending g 0');
  t.equal(stat(server.stats(), 'jobs_dead'), 1);
  w.close();
  watcher.close();
});

t.test('the journal is the queue: messages wait for workers; since starts a group in the past', { timeout: 15000 }, async (t) => {
  const { port } = await startServer(t);
  await produce(port, 'old', 2);
  const w = await LineClient.login(port, 'w');
  w.write('take t as g', 'leave t');
  t.same(await w.lines(2), ['ok take t as g', 'ok leave t']);
  await produce(port, 't', 3);
  w.write('take t as g max 10');
  t.same(await w.lines(4), ['ok take t as g', 'job t 3 tx m1', 'job t 4 tx m2', 'job t 5 tx m3'], 'sent while no worker was there');
  w.write('take old as history since 0 max 5', 'take old as fresh');
  t.same(await w.lines(4), ['ok take old as history', 'job old 1 tx m1', 'job old 2 tx m2', 'ok take old as fresh'], 'since 0: from the start; default: new only');
  w.close();
});

t.test('group state survives a restart: out jobs go again, acked never, delayed stay delayed', { timeout: 20000 }, async (t) => {
  const db = join(tempDir(t), 'bus.db');
  const first = await startServer(t, { db });
  let w = await LineClient.login(first.port, 'w');
  w.write('take t as g max 3');
  await w.line();
  await produce(first.port, 't', 3);
  t.same(await w.lines(3), ['job t 1 tx m1', 'job t 2 tx m2', 'job t 3 tx m3']);
  w.write('ack 1', 'nack 2 1h');
  t.same(await w.lines(2), ['ok ack 1', 'ok nack 2']);
  await first.server.stop();
  w.close();
  const again = await startServer(t, { db });
  w = await LineClient.login(again.port, 'w');
  w.write('take t as g max 5');
  t.same(await w.lines(2), ['ok take t as g', 'job t 3 tx m3'], 'only the job that was out');
  w.write('pending g');
  t.match(await w.lines(3), [/^pending 2 t - \d+ 1$/, /^pending 3 t w \d+ 2$/, 'ok pending g 2']);
  w.close();
});

t.test('--max-ack-pending and --max-groups', { timeout: 15000 }, async (t) => {
  const { server, port } = await startServer(t, { maxAckPending: 2, maxGroups: 1 });
  const w1 = await LineClient.login(port, 'w1');
  const w2 = await LineClient.login(port, 'w2');
  w1.write('take t as g max 2');
  await w1.line();
  w2.write('take t as g max 2', 'take t as g max 3', 'take u as h');
  t.same(await w2.lines(3), [
    'ok take t as g',
    'err syntax max 3 is over the 2 un-acked jobs a group may have (--max-ack-pending); ask for fewer',
    'ok take u as h',
  ]);
  w1.write('take u as other');
  t.equal(await w1.line(), 'err busy you made 1 groups, the most one user may (--max-groups); take one of them');
  await produce(port, 't', 4);
  t.equal(await w1.line(), 'job t 1 tx m1');
  t.equal(await w2.line(), 'job t 2 tx m2', 'round robin');
  t.same(await w1.sync(), [], 'the group has 2 out: no more, though both have room');
  t.same(await w2.sync(), []);
  w1.write('ack 1');
  t.same(await w1.lines(2), ['ok ack 1', 'job t 3 tx m3']);
  t.same(await w2.sync(), []);
  t.equal(stat(server.stats(), 'max_ack_pending'), 2);
  t.equal(stat(server.stats(), 'groups'), 2);
  w1.close();
  w2.close();
});

t.test('taking a group again changes the max; leaving one group keeps the others; take counts as a subscription', { timeout: 15000 }, async (t) => {
  const { port } = await startServer(t, { maxSubscriptions: 2 });
  const w = await LineClient.login(port, 'w');
  w.write('take t as g', 'take u as h', 'take v as k');
  t.same(await w.lines(3), [
    'ok take t as g',
    'ok take u as h',
    'err busy this connection receives or takes 2 patterns, the most one may (--max-subscriptions); leave one first',
  ]);
  await produce(port, 't', 4);
  t.equal(await w.line(), 'job t 1 tx m1');
  w.write('take t as g max 3');
  t.same(await w.lines(3), ['ok take t as g', 'job t 2 tx m2', 'job t 3 tx m3'], 'room for two more');
  w.write('take t as g max 1', 'ack 1', 'ack 2');
  t.same(await w.lines(3), ['ok take t as g', 'ok ack 1', 'ok ack 2'], 'still holding one: no more at max 1');
  w.write('ack 3');
  t.same(await w.lines(2), ['ok ack 3', 'job t 4 tx m4']);
  w.write('leave t');
  t.equal(await w.line(), 'ok leave t');
  await produce(port, 'u', 1);
  t.equal(await w.line(), 'job u 5 tx m1', 'group h still delivers');
  w.close();
});

t.test('bad input: one clear err line each, and nothing changes', { timeout: 15000 }, async (t) => {
  const { port } = await startServer(t);
  const w = await LineClient.login(port, 'w');
  w.write('take t as g');
  await w.line();
  await produce(port, 't', 1);
  t.equal(await w.line(), 'job t 1 tx m1');
  w.write('ack 7', 'nack 7', 'touch 7', 'take t g', 'take other as g', 'pending nope', 'nack 1 5x');
  t.same(await w.lines(7), [
    'err notfound you hold no job 7: never had it, acked it already, or its wait ran out and it went to another worker',
    'err notfound you hold no job 7: never had it, acked it already, or its wait ran out and it went to another worker',
    'err notfound you hold no job 7: never had it, acked it already, or its wait ran out and it went to another worker',
    "err syntax take needs 'as <group>'; usage: take <pattern> as <group> [since <start> | last <n>] [max <n>] [wait <duration>] [tries <n>]",
    'err syntax group g takes t; take t as g, or choose another group name',
    'err notfound no group nope; take <pattern> as nope makes it',
    "err syntax '5x' is not a duration; use a number and a unit: 500ms, 30s, 5m, 2h, 1d; usage: nack <id> [<duration>]",
  ]);
  w.write('pending g', 'ack 1', 'ack 1');
  t.match(await w.lines(4), [/^pending 1 t w \d+ 1$/, 'ok pending g 1', 'ok ack 1', /^err notfound you hold no job 1/]);
  w.close();
});

t.test('a half-closed worker is handed nothing: it could not ack', { timeout: 15000 }, async (t) => {
  const { port } = await startServer(t);
  const half = await LineClient.login(port, 'half');
  half.write('take t as g');
  await half.line();
  half.socket.end();
  t.same(await half.rest(), [], 'no longer a member after its half-close: nothing keeps it open');
  await produce(port, 't', 1);
  const next = await LineClient.login(port, 'next');
  next.write('take t as g');
  t.same(await next.lines(2), ['ok take t as g', 'job t 1 tx m1'], 'the job waited for a worker that can ack');
  next.close();
});

t.test('a worker that does not read is cut off, and every job it held goes back', { timeout: 60000 }, async (t) => {
  const { server, port } = await startServer(t, { maxPending: 256 * 1024 });
  const slow = await LineClient.login(port, 'slow');
  slow.write('take big as s max 1000');
  t.equal(await slow.line(), 'ok take big as s');
  slow.socket.pause();
  const tx = await LineClient.login(port, 'tx');
  const body = 'x'.repeat(30_000);
  let sent = 0;
  // Bounded: the kernel's socket buffers take a few MB first.
  for (let batch = 0; batch < 60 && stat(server.stats(), 'slow_disconnects') === 0; batch++) {
    tx.write(...Array.from({ length: 16 }, () => `send big ${body}`));
    await tx.lines(16);
    sent += 16;
  }
  t.equal(stat(server.stats(), 'slow_disconnects'), 1, `cut off within ${sent} jobs`);
  // Four at a time: 120 KB a burst, under --max-pending.
  const other = await LineClient.login(port, 'other');
  other.write('take big as s max 4');
  t.equal(await other.line(), 'ok take big as s');
  const ids: number[] = [];
  while (ids.length < sent) {
    const line = (await other.line()) ?? 'closed';
    if (line.startsWith('ok ack ')) continue;
    const id = Number(line.split(' ')[2]);
    ids.push(id);
    other.write(`ack ${id}`);
  }
  t.same(ids, Array.from({ length: sent }, (_, i) => i + 1), 'every job, in id order, none lost');
  for (const c of [slow, tx, other]) c.close();
});

t.test('retention takes the jobs a group holds in memory, as it takes the rest', { timeout: 20000 }, async (t) => {
  const { server, port, logs } = await startServer(t, { retentionIntervalMs: 3_600_000 });
  const worker = await LineClient.login(port, 'w');
  worker.write('take q as g max 1');
  t.equal(await worker.line(), 'ok take q as g');
  const tx = await LineClient.login(port, 'tx');
  // One commit, so one page, each: retention can take them one by one.
  for (let i = 1; i <= 10; i++) {
    tx.write(`send q m${i}`);
    t.equal(await tx.line(), `ok send ${i}`);
  }
  t.equal(await worker.line(), 'job q 1 tx m1', 'the rest wait in the group, in memory');
  server.reconfigure({ retainMessages: 3 });
  t.equal(await server.runRetention(), 7);
  worker.write('ack 1');
  t.same(await worker.lines(2), ['ok ack 1', 'job q 8 tx m8'], 'the next job is the journal\'s first, not one it deleted');
  t.ok(logs.includes('warn retention deleted messages before the group handed them out {"group":"g","from":2,"to":7}'));
  worker.close();
  tx.close();
});
