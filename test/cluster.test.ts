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
import { LineClient, tempDir } from './helpers.js';
import { serve } from './cli-helpers.js';
import type { Serving } from './cli-helpers.js';
import { haveNatsServer, startNatsCluster } from './nats-cluster.js';

t.setTimeout(110_000);
if (!(await haveNatsServer())) throw new Error('nats-server is missing and apt-get could not install it');

const dir = tempDir(t);
const nats = await startNatsCluster(join(dir, 'nats'));
t.teardown(() => nats.stop());

const READY = /cluster: stream linebus ready/;

/** A cluster daemon on its own journal, started and ready. */
async function daemon(name: string, args: string[] = []): Promise<Serving> {
  const serving = await serve(['--db', join(dir, `${name}.db`), '--cluster', nats.urls, '--cluster-replicas', '3', ...args]);
  t.teardown(() => serving.child.kill('SIGKILL'));
  await serving.logged(READY);
  return serving;
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

const a = await daemon('a');
const b = await daemon('b');
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
  await a.logged(/cluster: lost NATS server/);
  const alice = await LineClient.login(a.port, 'alice');
  alice.write('send chat.x lost?');
  t.match(await alice.line(), /^err busy .*nothing was sent, try again$/);
  alice.write('replay chat.> since 7');
  t.same(await alice.lines(2), ['msg chat.x 8 alice five', 'ok replay chat.> 1'], 'the journal still answers');
  await Promise.all(nats.nodes.map((n) => n.start()));
  await a.logged(/cluster: reconnected to NATS server/);
  const id = await sendRetrying(alice, 'chat.x', 'back');
  t.ok(id > 48, `the send after the outage got the stream's next id (${id})`);
  alice.close();
});

t.test('a daemon that cannot reach NATS at start serves its history and refuses sends', async (t) => {
  await killed(b);
  const cut = await serve(['--db', join(dir, 'b.db'), '--cluster', 'nats://127.0.0.1:1']);
  t.teardown(() => cut.child.kill('SIGKILL'));
  await cut.logged(/error cluster: cannot reach NATS at nats:\/\/127\.0\.0\.1:1; sends get err busy/);
  const bob = await LineClient.login(cut.port, 'bob');
  bob.write('send chat.x anyone?', 'replay chat.> since 0');
  t.match(await bob.line(), /^err busy the cluster \(NATS\) is not reachable yet; nothing was sent, try again$/);
  t.same(await bob.lines(2), ['msg chat.x 1 alice hello', 'msg chat.y 2 bob hi from b']);
  bob.close();
});

t.test("a journal with messages of its own does not join: they would clash with the stream's ids", async (t) => {
  const own = join(dir, 'own.db');
  const single = await serve(['--db', own]);
  const alice = await LineClient.login(single.port, 'alice');
  alice.write('send chat.x mine');
  t.equal(await alice.line(), 'ok send 1');
  alice.close();
  await killed(single);
  const joining = await serve(['--db', own, '--cluster', nats.urls]);
  t.teardown(() => joining.child.kill('SIGKILL'));
  await joining.logged(/error cluster: .*own\.db has messages up to id 1 that are not the stream's .*give this daemon a journal of its own/);
  const bob = await LineClient.login(joining.port, 'bob');
  bob.write('send chat.x hi');
  t.equal(await bob.line(), 'err busy this daemon cannot use the cluster (see its log); nothing was sent, try again');
  bob.close();
});
