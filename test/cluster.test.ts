/**
 * Cluster mode (CLI.md, "Cluster"; issue 15) against a real three-node
 * JetStream cluster on loopback (stream replicas 3) and real `linebus
 * serve` processes: the same ids on every daemon, catch-up after a kill -9,
 * a NATS node killed under load with no acknowledged message lost, NATS
 * gone and back, and journals that must not join.
 */
import t from 'tap';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { connect } from 'nats';
import { LineClient, startServer, tempDir } from './helpers.js';
import type { Started } from './helpers.js';
import { serve } from './cli-helpers.js';
import type { Serving } from './cli-helpers.js';
import { startNatsCluster } from './nats-cluster.js';

t.setTimeout(110_000);

const dir = tempDir(t);
const nats = await startNatsCluster(join(dir, 'nats'));
t.teardown(() => nats.stop());

const READY = /cluster: stream linebus ready/;

const cluster = { urls: nats.urls.split(','), stream: 'linebus', replicas: 3 };

/** A cluster daemon in this process (its code is measured), on its own journal, ready. */
async function inProcess(name: string, http = false): Promise<Started> {
  const started = await startServer(t, { db: join(dir, `${name}.db`), cluster, http: http ? { port: 0 } : undefined });
  await started.server.clusterReady();
  return started;
}

/** A cluster daemon as its own process (for kill -9), on its own journal, ready. */
async function daemon(name: string, args: string[] = []): Promise<Serving> {
  const serving = await serve(['--db', join(dir, `${name}.db`), '--cluster', nats.urls, '--cluster-replicas', '3', ...args]);
  // SIGTERM: a clean exit writes the child's coverage.
  t.teardown(() => (serving.child.exitCode === null && serving.child.signalCode === null ? stopped(serving) : undefined));
  await serving.logged(READY);
  return serving;
}

function stopped(serving: Serving): Promise<void> {
  return new Promise((resolve) => {
    serving.child.once('close', () => resolve());
    serving.child.kill('SIGTERM');
  });
}

function killed(serving: Serving): Promise<void> {
  return new Promise((resolve) => {
    serving.child.once('close', () => resolve());
    serving.child.kill('SIGKILL');
  });
}

/**
 * Sends until acknowledged, as a client told "err busy ... try again"
 * would: again after a pause, for at most 30 s (a stream's leader election
 * takes 5 to 7 s here).
 */
async function sendRetrying(client: LineClient, topic: string, body: string): Promise<number> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    client.write(`send ${topic} ${body}`);
    const reply = (await client.line()) as string;
    const ok = /^ok send (\d+)$/.exec(reply);
    if (ok) return Number(ok[1]);
    if (!reply.startsWith('err busy ') || Date.now() > deadline) throw new Error(`send ${body}: ${reply}`);
    await delay(100);
  }
}

const a = await inProcess('a', true);
/** GET /healthz of daemon a: 200 while its cluster is ready, 503 while not. */
async function healthOfA(): Promise<number> {
  return (await fetch(`http://127.0.0.1:${(a.server.httpAddress() as { port: number }).port}/healthz`)).status;
}
const b = await inProcess('b');
let c = await daemon('c');

t.test('a message sent through one daemon reaches the others with the same id', async (t) => {
  const onB = await LineClient.login(b.port, 'bob');
  const onC = await LineClient.login(c.port, 'carol');
  onB.write('recv chat.>');
  onC.write('recv chat.>');
  t.same(await onB.lines(1), ['ok recv chat.>']);
  t.same(await onC.lines(1), ['ok recv chat.>']);
  const alice = await LineClient.login(a.port, 'alice');
  alice.write('recv chat.>', 'send chat.x hello');
  t.same(await alice.lines(2), ['ok recv chat.>', 'ok send 1']);
  t.equal(await onB.line(), 'msg chat.x 1 alice hello');
  t.equal(await onC.line(), 'msg chat.x 1 alice hello');
  onB.write('send chat.y hi from b');
  t.equal(await onB.line(), 'ok send 2', "bob's send is acknowledged with the stream's next id");
  t.equal(await alice.line(), 'msg chat.y 2 bob hi from b');
  t.equal(await onC.line(), 'msg chat.y 2 bob hi from b');
  t.same(await onB.sync(), [], 'the sender does not get its own message back');
  onC.write('replay chat.> since 0');
  t.same(await onC.lines(3), ['msg chat.x 1 alice hello', 'msg chat.y 2 bob hi from b', 'ok replay chat.> 2']);
  for (const client of [alice, onB, onC]) client.close();
});

t.test('a cursor marked through one daemon resumes from its mark on another', async (t) => {
  const onA = await LineClient.login(a.port, 'dave');
  onA.write('recv chat.> as bot since 0');
  t.same(await onA.lines(3), ['ok recv chat.> as bot after 0', 'msg chat.x 1 alice hello', 'msg chat.y 2 bob hi from b']);
  onA.write('mark bot 1');
  t.equal(await onA.line(), 'ok mark bot 1', 'answered once the other daemons can see it');
  onA.close();
  const onB = await LineClient.login(b.port, 'dave');
  onB.write('recv chat.> as bot');
  t.same(await onB.lines(2), ['ok recv chat.> as bot after 1', 'msg chat.y 2 bob hi from b']);
  onB.write('mark bot 2');
  t.equal(await onB.line(), 'ok mark bot 2');
  onB.close();
  const onC = await LineClient.login(c.port, 'dave');
  onC.write('recv chat.> as bot', 'cursors');
  t.same(await onC.lines(3), ['ok recv chat.> as bot after 2', 'cursor bot chat.> 2 0', 'ok cursors 1']);
  onC.close();
});

t.test('a queue group shared by workers on two daemons: each job to one of them, acks and deaths everywhere', async (t) => {
  const onA = await LineClient.login(a.port, 'worker');
  const onB = await LineClient.login(b.port, 'worker');
  onA.write('take jobs.> as work max 1 tries 2');
  t.equal(await onA.line(), 'ok take jobs.> as work');
  onB.write('take jobs.> as work max 1');
  t.equal(await onB.line(), 'ok take jobs.> as work', 'the group made through A, found through B');
  const boss = await LineClient.login(c.port, 'boss');
  boss.write('send jobs.x one', 'send jobs.x two');
  const [one, two] = (await boss.lines(2)).map((line) => Number(/^ok send (\d+)$/.exec(line as string)?.[1]));
  const [jobA, jobB] = [await onA.line(), await onB.line()];
  t.same([jobA, jobB].sort(), [`job jobs.x ${one} boss one`, `job jobs.x ${two} boss two`], 'one job each, none twice');
  const idOf = (line: string | undefined): number => Number(line?.split(' ')[2]);
  onA.write(`ack ${idOf(jobA)}`, `ack ${idOf(jobA)}`);
  const acks = await onA.lines(2);
  t.equal(acks[0], `ok ack ${idOf(jobA)}`);
  t.match(acks[1], /^err notfound /, "an acked job is no one's");
  onB.write(`nack ${idOf(jobB)}`);
  t.equal(await onB.line(), `ok nack ${idOf(jobB)}`);
  // Its second and last try, through whichever daemon JetStream picks.
  const again = await Promise.race([onA.line().then((line) => ({ worker: onA, line })), onB.line().then((line) => ({ worker: onB, line }))]);
  t.equal(again.line, jobB, 'the nacked job comes again, to one worker');
  again.worker.write(`nack ${idOf(jobB)}`);
  t.equal(await again.worker.line(), `ok nack ${idOf(jobB)}`);
  boss.write('recv $dead.work since 0');
  const body = jobB?.split(' ')[4];
  t.same(await boss.lines(2), ['ok recv $dead.work', `msg $dead.work ${(two as number) + 1} $linebus ${idOf(jobB)} jobs.x ${body}`], 'dead after 2 tries, journaled once');
  boss.close();
  onA.close();
  onB.close();
});

t.test('a daemon killed and restarted catches up from the stream', async (t) => {
  await killed(c);
  const alice = await LineClient.login(a.port, 'alice');
  alice.write('send chat.x three', 'send chat.x four', 'send chat.x five');
  t.same(await alice.lines(3), ['ok send 6', 'ok send 7', 'ok send 8'], 'after the group test\'s 3, 4 and 5');
  c = await daemon('c');
  t.match(c.stderr(), /journal at id 5 of 8/, 'it knew where it stopped');
  const carol = await LineClient.login(c.port, 'carol');
  carol.write('recv chat.> since 5');
  t.same(await carol.lines(4), ['ok recv chat.>', 'msg chat.x 6 alice three', 'msg chat.x 7 alice four', 'msg chat.x 8 alice five']);
  alice.close();
  carol.close();
});

t.test('a NATS node killed: no acknowledged message lost, sends go on', async (t) => {
  const nc = await connect({ servers: nats.urls.split(',') });
  const leader = (await (await nc.jetstreamManager()).streams.info('linebus')).cluster?.leader;
  await nc.close();
  const node = nats.nodes.find((n) => n.name === leader);
  if (node === undefined) throw new Error(`no node is the stream's leader (${String(leader)})`);
  const alice = await LineClient.login(a.port, 'alice');
  const acked = new Map<number, string>();
  for (let i = 0; i < 20; i++) acked.set(await sendRetrying(alice, 'load', `before-${i}`), `before-${i}`);
  await node.kill();
  for (let i = 0; i < 20; i++) acked.set(await sendRetrying(alice, 'load', `after-${i}`), `after-${i}`);
  t.equal(acked.size, 40, 'every send was acknowledged once, with an id of its own');
  // Every daemon has every acknowledged message, under the same id.
  for (const door of [a, b, c]) {
    const reader = await LineClient.login(door.port, 'auditor');
    reader.write(`recv load since 0`);
    const got = new Map<number, string>();
    t.equal(await reader.line(), 'ok recv load');
    // A send refused with err busy may have been stored all the same (its
    // PubAck was lost): more lines than acknowledged sends are allowed.
    const last = Math.max(...acked.keys());
    while (!got.has(last)) {
      const [, id, body] = /^msg load (\d+) alice (.*)$/.exec((await reader.line()) as string) ?? [];
      got.set(Number(id), body as string);
    }
    t.same(new Map([...got].filter(([id]) => acked.has(id))), acked, `daemon on port ${door.port} has all 40 under their ids`);
    reader.close();
  }
  await node.start();
  alice.close();
});

t.test('NATS gone: err busy and a clear log line, history still readable; back: sends again', async (t) => {
  await Promise.all(nats.nodes.map((n) => n.kill()));
  await a.waitForLog(/cluster: lost NATS server/);
  t.equal(await healthOfA(), 503, '/healthz: not ready without NATS');
  const alice = await LineClient.login(a.port, 'alice');
  alice.write('send chat.x lost?');
  t.match(await alice.line(), /^err busy .*nothing was sent, try again$/);
  alice.write('replay chat.> since 7');
  t.same(await alice.lines(2), ['msg chat.x 8 alice five', 'ok replay chat.> 1'], 'the journal still answers');
  await Promise.all(nats.nodes.map((n) => n.start()));
  await a.waitForLog(/cluster: reconnected to NATS server/);
  const id = await sendRetrying(alice, 'chat.x', 'back');
  t.equal(await healthOfA(), 200, '/healthz: ready again');
  t.ok(id > 48, `the send after the outage got the stream's next id (${id})`);
  alice.close();
});

t.test('a daemon that cannot reach NATS at start serves its history and refuses sends', async (t) => {
  await b.server.stop();
  const cut = await startServer(t, { db: join(dir, 'b.db'), cluster: { ...cluster, urls: ['nats://127.0.0.1:1'] } });
  await cut.waitForLog(/^error cluster: cannot reach NATS at nats:\/\/127\.0\.0\.1:1 \(.+\); sends get err busy until it answers \(still trying\)/);
  const bob = await LineClient.login(cut.port, 'bob');
  bob.write('send chat.x anyone?', 'replay chat.> since 0');
  t.match(await bob.line(), /^err busy the cluster \(NATS\) is not reachable yet; nothing was sent, try again$/);
  t.same((await bob.until('ok replay')).slice(0, 2), ['msg chat.x 1 alice hello', 'msg chat.y 2 bob hi from b']);
  bob.write('take chat.> as helpers');
  t.equal(await bob.line(), 'err busy the cluster (NATS) is not reachable yet; take the group again later');
  bob.close();
});

t.test("a journal with messages of its own does not join: they would clash with the stream's ids", async (t) => {
  const own = join(dir, 'own.db');
  const single = await startServer(t, { db: own });
  const alice = await LineClient.login(single.port, 'alice');
  alice.write('send chat.x mine');
  t.equal(await alice.line(), 'ok send 1');
  alice.close();
  await single.server.stop();
  const joining = await startServer(t, { db: own, cluster });
  await joining.waitForLog(/^error cluster: .*own\.db has messages up to id 1 that are not the stream's .*give this daemon a journal of its own/);
  const bob = await LineClient.login(joining.port, 'bob');
  bob.write('send chat.x hi');
  t.equal(await bob.line(), 'err busy this daemon cannot use the cluster (see its log); nothing was sent, try again');
  bob.close();
});

t.test('more of a cluster daemon: stats, messages of other NATS clients, touch, pending, delayed nack, leave, forget', async (t) => {
  const alice = await LineClient.login(a.port, 'alice');
  alice.write('stats');
  const stats = await alice.until('ok stats');
  t.ok(stats.includes('stat cluster ready') && stats.includes('stat cluster_stream linebus') && stats.includes('stat cluster_sends_in_flight 0'), 'stats shows the cluster');
  // Another NATS client publishing on the stream's subjects: a line is a
  // message from `nats`; a body with a line break cannot be one.
  alice.write('recv ext.>');
  t.equal(await alice.line(), 'ok recv ext.>');
  const nc = await connect({ servers: nats.urls.split(',') });
  const js = nc.jetstream();
  await js.publish('linebus.ext.bad', new TextEncoder().encode('two\nlines'));
  const good = await js.publish('linebus.ext.good', new TextEncoder().encode('from nats'));
  await nc.close();
  t.equal(await alice.line(), `msg ext.good ${good.seq} nats from nats`);
  t.match((await a.waitForLog(/is not a linebus message/)).split(' {')[0], `warn cluster: stream message ${good.seq - 1} is not a linebus message (its body has a line break); not journaled`);

  const first = await LineClient.login(a.port, 'worker');
  first.write('take tasks.> as chores max 2');
  t.equal(await first.line(), 'ok take tasks.> as chores');
  alice.write('send tasks.a wash', 'send tasks.b dry');
  const ids = (await alice.lines(2)).map((line) => Number(line?.split(' ')[2]));
  t.same(await first.lines(2), [`job tasks.a ${ids[0]} alice wash`, `job tasks.b ${ids[1]} alice dry`]);
  first.write(`touch ${ids[0]}`, 'pending chores');
  t.same(await first.lines(4), [`ok touch ${ids[0]} 30`, `pending ${ids[0]} tasks.a worker 0 1`, `pending ${ids[1]} tasks.b worker 0 1`, 'ok pending chores 2']);
  first.write(`nack ${ids[0]} 1s`);
  t.equal(await first.line(), `ok nack ${ids[0]}`);
  const second = await LineClient.login(a.port, 'helper');
  second.write('take tasks.> as chores', 'take tasks.> as chores max 1');
  t.same(await second.lines(2), ['ok take tasks.> as chores', 'ok take tasks.> as chores'], 'taking again changes only the max');
  first.write('leave tasks.>');
  t.equal(await first.line(), 'ok leave tasks.>');
  // The left job at once, the delayed one after its second: both to the one member left, one at a time.
  const got = new Set<string>();
  for (let i = 0; i < 2; i++) {
    const line = (await second.line()) as string;
    got.add(line);
    second.write(`ack ${line.split(' ')[2]}`);
    t.match(await second.line(), /^ok ack \d+$/);
  }
  t.same([...got].sort(), [`job tasks.a ${ids[0]} alice wash`, `job tasks.b ${ids[1]} alice dry`]);

  alice.write('recv tasks.> as tally', 'forget tally', 'cursors');
  t.same(await alice.lines(3), [`ok recv tasks.> as tally after ${ids[1]}`, 'ok forget tally', 'ok cursors 0']);
  for (const client of [alice, first, second]) client.close();
});

t.test('a job whose wait runs out comes again, and after its last try is dead', async (t) => {
  const worker = await LineClient.login(a.port, 'slowpoke');
  worker.write('take late.> as lazy wait 1s tries 1');
  t.equal(await worker.line(), 'ok take late.> as lazy');
  const boss = await LineClient.login(a.port, 'boss');
  boss.write('recv $dead.lazy', 'send late.x zzz');
  const [recvReply, sent] = await boss.lines(2);
  t.equal(recvReply, 'ok recv $dead.lazy');
  const id = Number(sent?.split(' ')[2]);
  t.equal(await worker.line(), `job late.x ${id} boss zzz`);
  // Not acked: JetStream takes it back after 1 s; its second delivery is one too many.
  t.match(await boss.line(), new RegExp(`^msg \\$dead\\.lazy \\d+ \\$linebus ${id} late\\.x zzz$`));
  worker.write(`ack ${id}`);
  t.match(await worker.line(), /^err notfound /, 'the wait ran out: the worker holds it no more');
  worker.close();
  boss.close();
});

t.test('a stream that cannot be made is retried, and logged', async (t) => {
  const five = await startServer(t, { db: join(dir, 'five.db'), cluster: { ...cluster, stream: 'five', replicas: 5 } });
  t.match(await five.waitForLog(/cannot set up stream five/), /^warn cluster: cannot set up stream five: .+; retrying in 500 ms/);
  const bob = await LineClient.login(five.port, 'bob');
  bob.write('send x y');
  t.equal(await bob.line(), 'err busy the cluster stream is being set up; nothing was sent, try again');
  bob.close();
});

t.test('the stream deleted under the daemons: sends refused, not lost', async (t) => {
  const nc = await connect({ servers: nats.urls.split(',') });
  await (await nc.jetstreamManager()).streams.delete('linebus');
  await nc.close();
  const alice = await LineClient.login(a.port, 'alice');
  alice.write('send chat.x gone?');
  t.match(await alice.line(), /^err busy the cluster did not store the message \(.+\); it was not sent, try again$/);
  alice.write('take chat.> as newcomers');
  t.match(await alice.line(), /^err busy the cluster could not make or find group newcomers \(.+\); take it again later$/);
  alice.close();
});
