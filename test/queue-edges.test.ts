/**
 * The edges of queue groups, cursors and requests: bursts larger than a
 * group's read-ahead, a pattern whose messages lie far apart, retention
 * overtaking a group, and commits that fail (another process holds the
 * journal's write lock) under acks, marks, requests and replies.
 */
import t from 'tap';
import Database from 'better-sqlite3';
import { LineClient, startServer, stat } from './helpers.js';

/** Sends the messages and waits for their acknowledgements. */
async function produce(port: number, lines: string[]): Promise<void> {
  const tx = await LineClient.login(port, 'tx');
  tx.write(...lines);
  const acks = await tx.lines(lines.length);
  if (acks.some((line) => !line?.startsWith('ok send '))) throw new Error(`a send failed: ${acks.find((line) => !line?.startsWith('ok send '))}`);
  tx.close();
}

/** Sends each line as a commit of its own: a page each, which retention deletes whole. */
async function produceEach(port: number, lines: string[]): Promise<void> {
  const tx = await LineClient.login(port, 'tx');
  for (const line of lines) {
    tx.write(line);
    const ack = await tx.line();
    if (!ack?.startsWith('ok send ')) throw new Error(`a send failed: ${ack}`);
  }
  tx.close();
}

const JOB_NOT_STORED = 'err internal the journal could not store that; the job may come again';
const JOB_NOT_HELD = 'err notfound you hold no job 1: never had it, acked it already, or its wait ran out and it went to another worker';

t.test('a burst larger than the read-ahead waits in the journal and comes whole, in order', { timeout: 30000 }, async (t) => {
  // 1000 rows, then 1 MiB, bound what a group holds in memory.
  for (const { count, size } of [
    { count: 1500, size: 10 },
    { count: 800, size: 2000 },
  ]) {
    const { port } = await startServer(t);
    const w = await LineClient.login(port, 'w');
    w.write('take jobs as g max 50');
    t.equal(await w.line(), 'ok take jobs as g');
    await produce(
      port,
      Array.from({ length: count }, (_, i) => `send jobs ${String(i + 1).padStart(size, '0')}`),
    );
    // Compared whole at the end: one assertion, not two per job.
    const jobs: string[] = [];
    while (jobs.length < count) {
      const line = (await w.line()) as string;
      if (line.startsWith('ok ack ')) continue;
      jobs.push(line);
      w.write(`ack ${line.split(' ')[2]}`);
    }
    const sent = Array.from({ length: count }, (_, i) => `job jobs ${i + 1} tx ${String(i + 1).padStart(size, '0')}`);
    t.same(jobs, sent, `${count} jobs of ${size} bytes, each once, in id order, each carrying its own message`);
    t.same((await w.sync()).filter((line) => !line.startsWith('ok ack ')), [], 'and nothing more');
    w.close();
  }
});

t.test('pending lists a thousand jobs a page at a time', { timeout: 30000 }, async (t) => {
  const { port } = await startServer(t);
  const w = await LineClient.login(port, 'w');
  w.write('take jobs as g max 1000');
  t.equal(await w.line(), 'ok take jobs as g');
  await produce(port, Array.from({ length: 1100 }, (_, i) => `send jobs ${i + 1}`));
  const jobs = await w.lines(1000);
  t.equal(jobs[999], 'job jobs 1000 tx 1000', "a thousand out, the group's most");
  w.write('pending g');
  const listed = await w.lines(1001);
  t.equal(listed.filter((line, i) => new RegExp(`^pending ${i + 1} jobs w \\d+ 1$`).test(line as string)).length, 1000);
  t.equal(listed[1000], 'ok pending g 1000');
  w.close();
});

t.test('a pattern whose messages lie far apart in the journal is read in steps, none skipped', { timeout: 30000 }, async (t) => {
  const { port } = await startServer(t);
  // More than one read (2000 rows) of other topics between them.
  const noise = Array.from({ length: 4500 }, (_, i) => `send noise ${i}`);
  await produce(port, ['send rare.a first', ...noise, 'send rare.b second', ...noise, 'send rare.c third']);
  const w = await LineClient.login(port, 'w');
  w.write('take rare.* as g since 0 max 5');
  t.same(await w.lines(4), ['ok take rare.* as g', 'job rare.a 1 tx first', 'job rare.b 4502 tx second', 'job rare.c 9003 tx third']);
  w.close();
});

t.test('retention that overtakes a group is logged, and the group goes on from the first id left', { timeout: 15000 }, async (t) => {
  const { server, port, logs } = await startServer(t, { retainMessages: 2, retentionIntervalMs: 3600_000 });
  let w = await LineClient.login(port, 'w');
  w.write('take jobs as g tries 1', 'leave jobs');
  t.same(await w.lines(2), ['ok take jobs as g', 'ok leave jobs']);
  w.close();
  await produceEach(port, ['send jobs 1', 'send jobs 2', 'send jobs 3', 'send jobs 4', 'send jobs 5']);
  t.equal(await server.runRetention(), 3);
  w = await LineClient.login(port, 'w');
  w.write('take jobs as g');
  t.same(await w.lines(2), ['ok take jobs as g', 'job jobs 4 tx 4']);
  t.ok(logs.some((line) => line.startsWith('warn retention deleted messages before the group handed them out') && line.includes('"from":1,"to":3')));
  // Job 4 is out; retention deletes it before its single try ends.
  await produceEach(port, ['send other 6', 'send other 7']);
  server.reconfigure({ retainMessages: 3 });
  t.equal(await server.runRetention(), 1);
  w.write('pending g');
  t.same(await w.lines(2), ['pending 4 - w - 1', 'ok pending g 1'], 'a job whose row is gone shows no topic or age');
  w.write('nack 4');
  t.same(await w.lines(2), ['ok nack 4', 'job jobs 5 tx 5'], 'the lost job is not journaled as dead; the next one comes');
  t.ok(logs.some((line) => line.startsWith('warn retention deleted a job before it was acked') && line.includes('"id":4')));
  w.write('pending g', 'replay $dead.> since 0');
  t.match(await w.lines(3), [/^pending 5 jobs w \d+ 1$/, 'ok pending g 1', 'ok replay $dead.> 0']);
  w.close();
});

t.test('a commit that fails answers acks, marks, requests and replies with err internal; they work again after', { timeout: 20000 }, async (t) => {
  const { server, port, db } = await startServer(t);
  const w = await LineClient.login(port, 'w');
  const bot = await LineClient.login(port, 'bot');
  const asker = await LineClient.login(port, 'asker');
  w.write('take jobs as g');
  bot.write('recv jobs as c', 'recv q');
  t.equal(await w.line(), 'ok take jobs as g');
  t.same(await bot.lines(2), ['ok recv jobs as c after 0', 'ok recv q']);
  await produce(port, ['send jobs 1']);
  t.equal(await w.line(), 'job jobs 1 tx 1');
  t.equal(await bot.line(), 'msg jobs 1 tx 1');
  asker.write('request q within 10s question');
  t.equal(await bot.line(), 'msg q 2 asker question');

  const locker = new Database(db);
  t.teardown(() => locker.close());
  locker.exec('BEGIN IMMEDIATE');
  w.write('ack 1');
  t.equal(await w.line(), JOB_NOT_STORED);
  bot.write('mark c 1');
  t.equal(await bot.line(), 'err internal the mark could not be stored; mark again');
  bot.write('reply 2 answer');
  t.equal(await bot.line(), 'err internal the journal could not store the message; nothing was sent, try again');
  const other = await LineClient.login(port, 'other');
  other.write('request q within 10s lost');
  t.equal(await other.line(), 'err internal the journal could not store the message; nothing was sent, try again');
  locker.exec('ROLLBACK');

  t.equal(stat(server.stats(), 'requests_waiting'), 1, 'the asker still waits');
  bot.write('mark c 1', 'reply 2 answer', 'cursors');
  t.same(await bot.lines(4), ['ok mark c 1', 'ok reply 2', 'cursor c jobs 1 0', 'ok cursors 1']);
  t.equal(await asker.line(), 'ok request 2 bot answer');
  // The ack stood in memory and was written by the next commit.
  w.write('ack 1', 'pending g');
  t.same(await w.lines(2), [JOB_NOT_HELD, 'ok pending g 0']);
  t.equal(locker.prepare('SELECT count(*) FROM jobs').pluck().get(), 0);
  for (const client of [w, bot, asker, other]) client.close();
});
