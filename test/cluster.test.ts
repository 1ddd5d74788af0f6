/**
 * Cluster mode (CLI.md, "Cluster"; issues 15 and 24) against a real
 * three-node JetStream cluster on loopback (stream replicas 3) and real
 * `linebus serve` processes: the same ids on every daemon, catch-up after
 * a kill -9, a NATS node killed under load with no acknowledged message
 * lost, NATS gone and back, and journals that must not join. On a second
 * stream, `people`, two more daemons share users from its bucket and an
 * access file: one bus for request and reply, `pending`, `stats`, `who
 * all` and `topics all`. The NATS cluster fixture (nats-cluster.ts) is
 * checked on the way: one process per node, a node killed and started
 * again, and nothing left running after stop().
 */
import t from 'tap';
import { readdirSync, readFileSync } from 'node:fs';
import { connect as connectTcp } from 'node:net';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { connect, DiscardPolicy } from 'nats';
import { Acl } from '../src/bus/acl.js';
import { userKey } from '../src/cluster/users.js';
import type { ClusterSettings } from '../src/cluster/subjects.js';
import { clusterUserAdd, clusterUserDel, clusterUserList } from '../src/cli/cluster-users.js';
import type { Say } from '../src/cli/cluster-users.js';
import { clusterSettings } from '../src/cli/options.js';
import { hashPassword } from '../src/store/passwords.js';
import { LineClient, startServer, tempDir } from './helpers.js';
import type { Started } from './helpers.js';
import { run, serve } from './cli-helpers.js';
import type { Serving } from './cli-helpers.js';
import { startNatsCluster } from './nats-cluster.js';

t.setTimeout(110_000);

const dir = tempDir(t);
const natsDir = join(dir, 'nats');
const nats = await startNatsCluster(natsDir);
t.teardown(() => nats.stop());

/** Pids of the processes whose command line mentions `text` (the nodes' config files are in natsDir). */
function processesMentioning(text: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes(text)) pids.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}

function refused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connectTcp(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', () => resolve(true));
  });
}

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

/**
 * The stream's leader, as JetStream's API says, asked again until it
 * answers: with the killed node gone, the API may wait for a new meta
 * leader, and a loaded machine took longer than nats.js's 5 s request
 * timeout for that.
 */
async function streamLeader(): Promise<string | undefined> {
  const nc = await connect({ servers: nats.urls.split(',') });
  const deadline = Date.now() + 30_000;
  try {
    for (;;) {
      try {
        return (await (await nc.jetstreamManager()).streams.info('linebus')).cluster?.leader;
      } catch (error) {
        if (Date.now() > deadline) throw error;
        await delay(100);
      }
    }
  } finally {
    await nc.close();
  }
}

/** What a user command of cluster-users.ts says, run in this process: its lines, or its FatalError's. */
async function said(command: (say: Say) => Promise<void>): Promise<{ out: string[]; notes: string[]; error?: string }> {
  const lines = { out: [] as string[], notes: [] as string[] };
  try {
    await command({ out: (line) => lines.out.push(line), note: (line) => lines.notes.push(line) });
    return lines;
  } catch (error) {
    return { ...lines, error: (error as Error).message };
  }
}

/** --cluster and --cluster-stream of the user commands. */
function settings(stream: string, urls = nats.urls): ClusterSettings {
  return clusterSettings(urls, stream, 1);
}

/** The access file of the `people` daemons, deployed alike to both. */
const PEOPLE_ACL = `
user alice
topic readwrite >
user bob
topic read ask.>
topic read jobs.>
topic read $reply.>
user carol
topic write ask.>
topic readwrite chat.>
topic read $reply.>
`;
const PASSWORD = { alice: 'alice-pw', bob: 'bob-pw', carol: 'carol-pw', dave: 'dave-pw' };

/**
 * A daemon of the `people` stream, whose users are in the bucket
 * people_users. One replica each: every replicated stream, bucket and
 * consumer is one more Raft group to elect a leader for when the tests
 * below kill NATS nodes.
 */
async function person(name: string, http = false): Promise<Started> {
  const started = await startServer(t, { db: join(dir, `${name}.db`), cluster: { ...cluster, stream: 'people', replicas: 1 }, acl: Acl.parse(PEOPLE_ACL), http: http ? { port: 0 } : undefined });
  await started.server.clusterReady();
  return started;
}

/** A `pending` line with its age (seconds held: the machine's business, not the test's) as `<age>`. */
function ageless(line: string | undefined): string | undefined {
  return line?.startsWith('pending ') ? line.replace(/ \d+ (\d+)$/, ' <age> $1') : line;
}

/** Logs in to a `people` daemon with the user's password. */
function login(door: Started, user: keyof typeof PASSWORD): Promise<LineClient> {
  return LineClient.login(door.port, user, PASSWORD[user]);
}

/** A daemon's name in the cluster. */
function nameOf(door: { port: number }): string {
  return `${hostname()}:${door.port}`;
}

/**
 * Puts `users` in the bucket `<stream>_users` as `linebus user add
 * --cluster` does (the test of the users checks that it does), and a key
 * that is no user.
 */
async function putUsers(stream: string, users: Record<string, string>): Promise<void> {
  const nc = await connect({ servers: nats.urls.split(',') });
  const kv = await nc.jetstream().views.kv(`${stream}_users`, { history: 1 });
  await Promise.all(Object.entries(users).map(async ([name, password]) => kv.put(userKey(name), JSON.stringify({ name, hash: await hashPassword(password), created: Date.now() }))));
  await kv.put('nobody', 'not a user');
  await nc.close();
}

/** The people's users, then their daemons: a daemon takes the bucket up when its cluster is set up. */
async function startPeople(): Promise<[Started, Started]> {
  await putUsers('people', { alice: PASSWORD.alice, bob: PASSWORD.bob, carol: PASSWORD.carol });
  return Promise.all([person('x', true), person('y')]);
}

const [a, b, firstC, [x, y]] = await Promise.all([inProcess('a', true), inProcess('b'), daemon('c'), startPeople()]);
let c = firstC;
/** GET /healthz of daemon a: 200 while its cluster is ready, 503 while not. */
async function healthOfA(): Promise<number> {
  return (await fetch(`http://127.0.0.1:${(a.server.httpAddress() as { port: number }).port}/healthz`)).status;
}

t.test('the NATS fixture: three nodes, one process each', async (t) => {
  t.same(nats.nodes.map((node) => node.name), ['n1', 'n2', 'n3']);
  t.equal(nats.urls, nats.nodes.map((node) => `nats://127.0.0.1:${node.port}`).join(','));
  t.ok(nats.nodes.every((node) => node.running && node.url === `nats://127.0.0.1:${node.port}`));
  t.equal(processesMentioning(natsDir).length, 3, 'one process per node');
});

// The two streams' daemons are independent: their tests run side by side.
t.test('while the cluster is whole, on two streams at once', async (t) => {
  t.jobs = 2;
  t.test('stream linebus: ids, cursors, groups, a daemon killed', async (t) => {
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
      // How daemon b reads the cursor: from the bucket's leader, which
      // has every acknowledged mark, not by a direct get that a lagging
      // replica may answer (a busy machine saw b resume after 0).
      // A spy on every node: the request is seen where b publishes it,
      // whether or not the spy's interest has reached the other nodes yet.
      const spies = await Promise.all(nats.urls.split(',').map((url) => connect({ servers: url })));
      const reads = new Set<string>();
      for (const spy of spies) {
        for (const subject of ['$JS.API.DIRECT.GET.KV_linebus_cursors', '$JS.API.DIRECT.GET.KV_linebus_cursors.>', '$JS.API.STREAM.MSG.GET.KV_linebus_cursors']) {
          spy.subscribe(subject, { callback: (_error, message) => reads.add(message.subject.split('.').slice(2, 4).join('.')) });
        }
      }
      await Promise.all(spies.map((spy) => spy.flush()));
      const onB = await LineClient.login(b.port, 'dave');
      onB.write('recv chat.> as bot');
      t.same(await onB.lines(2), ['ok recv chat.> as bot after 1', 'msg chat.y 2 bob hi from b']);
      await Promise.all(spies.map((spy) => spy.flush()));
      t.same([...reads], ['STREAM.MSG'], "the cursor read from the bucket's leader");
      await Promise.all(spies.map((spy) => spy.close()));
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
  });
  t.test('stream people: one bus across daemons, shared users', async (t) => {
    t.test('who all and topics all: the connections and receivers of every daemon, each named', async (t) => {
      // Each daemon of `people` knows the other before either is asked.
      await Promise.all([x.waitForLog(new RegExp(`cluster: daemon ${nameOf(y)} is here`)), y.waitForLog(new RegExp(`cluster: daemon ${nameOf(x)} is here`))]);
      const xFirst = nameOf(x) < nameOf(y);
      const alice = await login(x, 'alice');
      const bob = await login(y, 'bob');
      const carol = await login(y, 'carol');
      alice.write('recv ask.>');
      bob.write('recv ask.>');
      carol.write('recv chat.>');
      t.same([await alice.line(), await bob.line(), await carol.line()], ['ok recv ask.>', 'ok recv ask.>', 'ok recv chat.>']);
      alice.write('send ask.q hi');
      const id = Number(/^ok send (\d+)$/.exec((await alice.line()) as string)?.[1]);
      t.equal(await bob.line(), `msg ask.q ${id} alice hi`, 'y has journaled it too');
      const conn = (door: Started, user: string, pattern: string): RegExp => new RegExp(`^conn ${nameOf(door)}/\\d+ ${user} 127\\.0\\.0\\.1:\\d+ tcp 0 ${pattern.replace(/\./g, '\\.')}$`);
      const onX = [conn(x, 'alice', 'ask.>')];
      const onY = [conn(y, 'bob', 'ask.>'), conn(y, 'carol', 'chat.>')];

      alice.write('who all');
      const everyone = await alice.until('ok who');
      t.equal(everyone.length, 4);
      (xFirst ? [...onX, ...onY] : [...onY, ...onX]).forEach((line, i) => t.match(everyone[i], line));
      t.equal(everyone[3], 'ok who 3', 'the operator sees every connection of every daemon, by daemon');
      carol.write('who all');
      const own = await carol.until('ok who');
      t.match(own[0], conn(y, 'carol', 'chat.>'));
      t.equal(own[1], 'ok who 1', 'a user who may not read everything sees its own connections');
      alice.write('who');
      const here = await alice.until('ok who');
      t.match(here[0], /^conn \d+ alice 127\.0\.0\.1:\d+ tcp 0 ask\.>$/);
      t.equal(here[1], 'ok who 1', 'without all: this daemon, its ids as they are');

      alice.write('who ask.q all', 'who chat.x all');
      const users = [`user ${nameOf(x)}/alice 1`, `user ${nameOf(y)}/bob 1`];
      t.same(await alice.lines(5), [...(xFirst ? users : users.reverse()), 'ok who ask.q 2', `user ${nameOf(y)}/carol 1`, 'ok who chat.x 1']);
      bob.write('who chat.x all');
      t.equal(await bob.line(), 'ok who chat.x 0', 'a topic one may not read has no receivers to show');

      alice.write('topics all', 'topics');
      t.same(await alice.lines(7), ['topic ask.> 2 -', `topic ask.q 2 ${id}`, 'topic chat.> 1 -', 'ok topics 3', 'topic ask.> 1 -', `topic ask.q 1 ${id}`, 'ok topics 2']);
      carol.write('topics all');
      t.same(await carol.lines(2), ['topic chat.> 1 -', 'ok topics 1']);
      for (const client of [alice, bob, carol]) client.close();
    });

    t.test("users in the cluster's bucket: one password on every daemon, changes live; a daemon without the bucket keeps its journal's", async (t) => {
      for (const door of [x, y]) t.match(await door.waitForLog(/logins use the/), /^notice cluster: logins use the 3 users of bucket people_users, not the journal's/);
      t.match(await x.waitForLog(/nobody/), /^warn cluster: key nobody of bucket people_users is not a linebus user; ignored/);
      t.match(await a.waitForLog(/no bucket/), /^info cluster: no bucket linebus_users: logins use the users of this daemon's journal/);
      (await LineClient.login(a.port, 'anyone', 'any password')).close();
      const [onX, onY] = await Promise.all([login(x, 'alice'), login(y, 'alice')]);
      // Two failures at most on each daemon: a third would slow the logins from this address.
      const [wrongX, wrongY] = await Promise.all([LineClient.connect(x.port), LineClient.connect(y.port)]);
      await Promise.all([wrongX.line(), wrongY.line()]);
      wrongY.write('login alice carol-pw');
      t.equal(await wrongY.line(), 'err auth bad user or password');

      // The command itself where it counts (a process costs a second under
      // the coverage loader), the same functions in this process for the rest.
      const hash = await hashPassword('carol-2');
      const [fresh, dave, carolAgain, nobody, noBucket, noNats] = await Promise.all([
        run(['user', 'add', 'zed', '--cluster', nats.urls, '--cluster-stream', 'fresh'], 'zed-pw\n'),
        said(async (say) => clusterUserAdd('dave', await hashPassword(PASSWORD.dave), settings('people'), say)),
        said((say) => clusterUserAdd('carol', hash, settings('people'), say)),
        said((say) => clusterUserDel('nobody', settings('people'), say)),
        said((say) => clusterUserList(settings('nobucket'), say)),
        said((say) => clusterUserAdd('zed', hash, settings('people', 'nats://127.0.0.1:1'), say)),
      ]);
      t.same([fresh.code, fresh.stdout, fresh.stderr], [0, 'added zed\n', 'linebus: made bucket fresh_users (1 replicas); daemons of stream fresh check logins against it from their next start\n'], 'the first add makes the bucket, and says so');
      t.same([dave, carolAgain], [{ out: ['added dave'], notes: [] }, { out: ['changed password of carol'], notes: [] }]);
      t.same(nobody, { out: [], notes: [], error: "no user 'nobody' in bucket people_users; 'linebus user list --cluster ...' shows who there is" });
      t.same(noBucket, { out: [], notes: [], error: `no users bucket nobucket_users at ${nats.urls}; 'linebus user add --cluster ${nats.urls} <name>' makes it` });
      t.match(noNats.error, /^cannot reach NATS at nats:\/\/127\.0\.0\.1:1 \(.+\)$/);
      for (const door of [x, y]) await Promise.all([door.waitForLog(/user dave added or changed in bucket people_users/), door.waitForLog(/user carol added or changed in bucket people_users/)]);
      PASSWORD.carol = 'carol-2';
      (await login(x, 'dave')).close();
      (await login(y, 'carol')).close();
      wrongX.write('login carol carol-pw');
      t.equal(await wrongX.line(), 'err auth bad user or password', 'the old password no more');

      await putUsers('fresh', { ann: 'ann-pw' });
      const [deleted, list] = await Promise.all([run(['user', 'del', 'dave', '--cluster', nats.urls, '--cluster-stream', 'people']), run(['user', 'list', '--cluster', nats.urls, '--cluster-stream', 'fresh'])]);
      t.same([deleted.code, deleted.stdout], [0, 'deleted dave\n']);
      t.match(list.stdout, /^ann\t\d{4}-\d\d-\d\dT[\d:.]+Z\nzed\t\S+\n$/, 'list: by name, with when each was added; no key that is not a user');
      await Promise.all([x.waitForLog(/user dave deleted from bucket people_users/), y.waitForLog(/user dave deleted from bucket people_users/)]);
      wrongY.write(`login dave ${PASSWORD.dave}`);
      t.equal(await wrongY.line(), 'err auth bad user or password');
      for (const client of [onX, onY, wrongX, wrongY]) client.close();
    });

    t.test('a request through one daemon answered through another: once, journaled once, with the access rules of $reply', async (t) => {
      const alice = await login(x, 'alice');
      const bob = await login(y, 'bob');
      const carol = await login(y, 'carol');
      bob.write('recv ask.>');
      t.equal(await bob.line(), 'ok recv ask.>');
      const asked = async (line: string): Promise<number> => {
        alice.write(line);
        const [, id] = /^msg ask\.\S+ (\d+) alice /.exec((await bob.line()) as string) ?? [];
        return Number(id);
      };

      const time = await asked('request ask.time what time is it?');
      bob.write(`reply ${time} noon`);
      t.equal(await bob.line(), `ok reply ${time}`);
      t.equal(await alice.line(), `ok request ${time} bob noon`, 'answered through the other daemon');
      bob.write(`reply ${time} late`);
      alice.write(`reply ${time} me too`);
      t.match(await bob.line(), new RegExp(`^err notfound no one waits for an answer to ${time}`), 'a second reply, through the other daemon');
      t.match(await alice.line(), /^err notfound /, "and through the asker's");

      const date = await asked('request ask.date within 5s what day?');
      carol.write(`reply ${date} never`);
      t.match(await carol.line(), /^err notfound /, 'one who may not read the question cannot answer it');
      bob.write(`reply ${date} today`);
      t.equal(await bob.line(), `ok reply ${date}`);
      t.equal(await alice.line(), `ok request ${date} bob today`, "the refused reply did not take the request's place");

      const slow = await asked('request ask.slow within 200ms anyone?');
      t.equal(await alice.line(), `err timeout no reply to request ${slow} within 200ms; it stays in the journal as ${slow}`);
      bob.write(`reply ${slow} too late`);
      t.match(await bob.line(), /^err notfound /);

      // Alice's daemon x hears of this answer through the stream: she
      // receives it live, so her replay below comes after x has it.
      alice.write('recv $reply.>');
      t.equal(await alice.line(), 'ok recv $reply.>');
      carol.write('request ask.here who is on y?');
      const here = Number(/^msg ask\.here (\d+) carol /.exec((await bob.line()) as string)?.[1]);
      bob.write(`reply ${here} bob`);
      t.equal(await bob.line(), `ok reply ${here}`);
      t.equal(await carol.line(), `ok request ${here} bob bob`, 'asked and answered through the same daemon');
      t.equal(await alice.line(), `msg $reply.${here} ${here + 1} bob bob`, 'copied to the other daemon');
      alice.write('leave $reply.>');
      t.equal(await alice.line(), 'ok leave $reply.>');

      // Each answer is journaled once, on every daemon; only those who may
      // read the question may read it.
      const answers = [`msg $reply.${time} ${time + 1} bob noon`, `msg $reply.${date} ${date + 1} bob today`, `msg $reply.${here} ${here + 1} bob bob`];
      alice.write(`replay $reply.> since ${time}`);
      t.same(await alice.lines(4), [...answers, 'ok replay $reply.> 3']);
      bob.write(`replay $reply.> since ${time}`);
      t.same(await bob.lines(4), [...answers, 'ok replay $reply.> 3'], 'on the other daemon too');
      carol.write(`replay $reply.> since ${time}`);
      t.same(await carol.lines(1), ['ok replay $reply.> 0'], 'carol may read $reply.> but not the questions');
      for (const client of [alice, bob, carol]) client.close();
    });

    t.test('pending lists the jobs of every daemon; stats and /metrics count the groups of the cluster', async (t) => {
      const [bobX, bobY, alice] = await Promise.all([login(x, 'bob'), login(y, 'bob'), login(y, 'alice')]);
      bobX.write('take jobs.> as crunch max 2');
      t.equal(await bobX.line(), 'ok take jobs.> as crunch');
      bobY.write('take jobs.> as crunch max 1');
      t.equal(await bobY.line(), 'ok take jobs.> as crunch');
      alice.write('send jobs.a one', 'send jobs.b two', 'send jobs.c three');
      const ids = (await alice.lines(3)).map((line) => Number(line?.split(' ')[2]));
      const idOf = (line: string | undefined): number => Number(line?.split(' ')[2]);
      const held = [...(await bobX.lines(2)), await bobY.line()].map(idOf);
      t.same([...held].sort((p, q) => p - q), ids, 'each job to one worker, as many as each may hold');
      const delayed = held[2] as number;
      bobY.write(`nack ${delayed} 1m`);
      t.equal(await bobY.line(), `ok nack ${delayed}`);
      const expected = ids.map((id, i) => `pending ${id} jobs.${'abc'[i]} ${id === delayed ? '-' : `${nameOf(x)}/bob`} <age> 1`);
      alice.write('pending crunch');
      t.same((await alice.lines(4)).map(ageless), [...expected, 'ok pending crunch 3'], 'through y: held on x, delayed on y');
      bobX.write('pending crunch');
      t.same((await bobX.lines(4)).map(ageless), [...expected, 'ok pending crunch 3'], 'through x, the same');

      const solo = await login(x, 'alice');
      solo.write('take misc.> as solo');
      t.equal(await solo.line(), 'ok take misc.> as solo');
      alice.write('send misc.x alone');
      const misc = Number((await alice.line())?.split(' ')[2]);
      t.equal(await solo.line(), `job misc.x ${misc} alice alone`);
      alice.write('pending solo', 'pending nosuch');
      t.same((await alice.lines(3)).map(ageless), [`pending ${misc} misc.x ${nameOf(x)}/alice <age> 1`, 'ok pending solo 1', 'err notfound no group nosuch; take <pattern> as nosuch makes it'], 'a group taken only through the other daemon');
      bobY.write('pending solo');
      t.match(await bobY.line(), /^err denied you may not read every topic of misc\.>/, "its pattern, from its consumer, for y's access rules");

      alice.write('stats');
      const stats = await alice.until('ok stats');
      for (const pair of ['stat cluster_daemons 2', `stat cluster_name ${nameOf(y)}`, 'stat cluster_groups 2', 'stat cluster_jobs_pending 4', 'stat cluster_jobs_waiting 0', 'stat jobs_pending 1']) t.ok(stats.includes(pair), pair);
      solo.write('stats');
      await solo.until('ok stats');
      const metrics = (await (await fetch(`http://127.0.0.1:${(x.server.httpAddress() as { port: number }).port}/metrics`, { headers: { Authorization: `Basic ${Buffer.from(`alice:${PASSWORD.alice}`).toString('base64')}` } })).text()).split('\n');
      for (const line of ['linebus_cluster_daemons 2', 'linebus_cluster_groups 2', 'linebus_cluster_group_jobs_pending 4', 'linebus_cluster_group_jobs_waiting 0', 'linebus_group_jobs_pending 3']) t.ok(metrics.includes(line), line);
      for (const client of [bobX, bobY, alice, solo]) client.close();
    });
  });
});

t.test('a NATS node killed: no acknowledged message lost, sends go on', async (t) => {
  const leader = await streamLeader();
  const node = nats.nodes.find((n) => n.name === leader);
  if (node === undefined) throw new Error(`no node is the stream's leader (${String(leader)})`);
  const alice = await LineClient.login(a.port, 'alice');
  const acked = new Map<number, string>();
  for (let i = 0; i < 20; i++) acked.set(await sendRetrying(alice, 'load', `before-${i}`), `before-${i}`);
  await node.kill();
  t.notOk(node.running, 'the fixture knows its node is dead');
  t.ok(await refused(node.port), "the dead node's client port is closed");
  t.equal(processesMentioning(natsDir).length, 2);
  for (let i = 0; i < 20; i++) acked.set(await sendRetrying(alice, 'load', `after-${i}`), `after-${i}`);
  t.equal(acked.size, 40, 'every send was acknowledged once, with an id of its own');
  t.not(await streamLeader(), node.name, 'a new stream leader');
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
  t.ok(node.running, 'started again');
  t.equal(processesMentioning(natsDir).length, 3, 'the node started again, once');
  await t.rejects(async () => node.start(), { message: `nats-server ${node.name} is running already` });
  alice.close();
});

t.test('NATS gone: err busy and a clear log line, history still readable; back: sends again', async (t) => {
  // Lines from now on: daemon a may have lost and found its server in the test before.
  const now = a.logs.length;
  await Promise.all(nats.nodes.map((n) => n.kill()));
  await a.waitForLog(/cluster: lost NATS server/, now);
  t.equal(await healthOfA(), 503, '/healthz: not ready without NATS');
  const alice = await LineClient.login(a.port, 'alice');
  alice.write('send chat.x lost?', 'request chat.x anyone?');
  t.match(await alice.line(), /^err busy .*nothing was sent, try again$/);
  t.match(await alice.line(), /^err busy .*nothing was sent, try again$/, 'a request too');
  alice.write('replay chat.> since 7');
  t.same(await alice.lines(2), ['msg chat.x 8 alice five', 'ok replay chat.> 1'], 'the journal still answers');
  await Promise.all(nats.nodes.map((n) => n.start()));
  await a.waitForLog(/cluster: reconnected to NATS server/, now);
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
  bob.write('stats');
  const stats = (await bob.until('ok stats')).filter((line) => line.startsWith('stat cluster'));
  t.same(
    stats,
    [
      'stat cluster connecting',
      'stat cluster_name -',
      'stat cluster_server -',
      'stat cluster_stream linebus',
      'stat cluster_sends_in_flight 0',
      'stat cluster_daemons 1',
      'stat cluster_groups -',
      'stat cluster_jobs_pending -',
      'stat cluster_jobs_waiting -',
    ],
    'stats say what is not known without NATS',
  );
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
  t.same((await first.lines(4)).map(ageless), [`ok touch ${ids[0]} 30`, `pending ${ids[0]} tasks.a ${nameOf(a)}/worker <age> 1`, `pending ${ids[1]} tasks.b ${nameOf(a)}/worker <age> 1`, 'ok pending chores 2']);
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
  alice.write('take chat.> as newcomers', 'pending newcomers');
  t.match(await alice.line(), /^err busy the cluster could not make or find group newcomers \(.+\); take it again later$/);
  t.match(await alice.line(), /^err busy the cluster could not say what group newcomers is \(.+\); ask again later$/);
  alice.close();
});

t.test("a stream's own limits refuse a send at once, with JetStream's reason", async (t) => {
  const nc = await connect({ servers: nats.urls.split(',') });
  await (await nc.jetstreamManager()).streams.add({ name: 'full', subjects: ['full.>'], max_msgs: 1, discard: DiscardPolicy.New, num_replicas: 1 });
  await nc.close();
  const full = await startServer(t, { db: join(dir, 'full.db'), cluster: { ...cluster, stream: 'full', replicas: 1 } });
  await full.server.clusterReady();
  const alice = await LineClient.login(full.port, 'alice');
  alice.write('send x one', 'send x two');
  t.equal(await alice.line(), 'ok send 1');
  t.equal(await alice.line(), 'err busy the cluster did not store the message (maximum messages exceeded); it was not sent, try again');
  alice.close();
});

t.test('the NATS fixture stops every node and leaves no process', async (t) => {
  await nats.stop();
  t.ok(nats.nodes.every((node) => !node.running), 'no node running');
  t.same(processesMentioning(natsDir), [], 'no nats-server process left');
  for (const node of nats.nodes) t.ok(await refused(node.port), `${node.name}'s client port is closed`);
  await nats.stop();
});
