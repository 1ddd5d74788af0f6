/**
 * The server's topics under an access file (issue 20, items 4 and 5): a
 * `$dead.<group>` message copies a job, a `$reply.<id>` message answers a
 * request; each is readable only by whoever may read the topic it is
 * about, on every way of reading: live, replay, catch-up, a cursor's lag,
 * server-sent events and WebSocket.
 */
import t from 'tap';
import { WebSocket } from 'ws';
import { Acl } from '../src/bus/acl.js';
import { LineClient, startServer } from './helpers.js';
import type { Started } from './helpers.js';
import type { Test } from 'tap';

const RULES = `user alice
topic readwrite >
user bob
topic readwrite >
topic deny secret.>
user carol
topic readwrite >
`;

/** A dead job of secret.job (id 1 -> $dead.sg 2) and one of open.job (3 -> $dead.og 4); carol answers alice's request on secret.q (5 -> $reply.5 is 6) and on open.q (7 -> $reply.7 is 8). */
async function seed(t: Test, started: Started): Promise<void> {
  const { port } = started;
  const alice = await LineClient.login(started.port, 'alice');
  const worker = await LineClient.login(port, 'alice');
  worker.write('take secret.job as sg tries 1', 'take open.job as og tries 1');
  t.same(await worker.lines(2), ['ok take secret.job as sg', 'ok take open.job as og']);
  alice.write('send secret.job TOPSECRET-job');
  t.equal(await alice.line(), 'ok send 1');
  t.equal(await worker.line(), 'job secret.job 1 alice TOPSECRET-job');
  worker.write('nack 1');
  t.equal(await worker.line(), 'ok nack 1');
  alice.write('send open.job plain-job');
  t.equal(await alice.line(), 'ok send 3');
  t.equal(await worker.line(), 'job open.job 3 alice plain-job');
  worker.write('nack 3');
  t.equal(await worker.line(), 'ok nack 3');
  const carol = await LineClient.login(port, 'carol');
  carol.write('recv secret.q', 'recv open.q');
  t.same(await carol.lines(2), ['ok recv secret.q', 'ok recv open.q']);
  alice.write('request secret.q TOPSECRET-question');
  t.equal(await carol.line(), 'msg secret.q 5 alice TOPSECRET-question');
  carol.write('reply 5 TOPSECRET-answer');
  t.equal(await carol.line(), 'ok reply 5');
  t.equal(await alice.line(), 'ok request 5 carol TOPSECRET-answer');
  alice.write('request open.q question');
  t.equal(await carol.line(), 'msg open.q 7 alice question');
  carol.write('reply 7 answer');
  t.equal(await carol.line(), 'ok reply 7');
  t.equal(await alice.line(), 'ok request 7 carol answer');
  for (const c of [alice, worker, carol]) c.close();
}

const OPEN_LINES = ['msg $dead.og 4 $linebus 3 open.job plain-job', 'msg $reply.7 8 carol answer'];

t.test('replay, a cursor and its lag, take: bob gets only the $ messages about topics he may read', async (t) => {
  const started = await startServer(t, { acl: Acl.parse(RULES) });
  await seed(t, started);
  const bob = await LineClient.login(started.port, 'bob');
  bob.write('replay $dead.> since 0');
  t.same(await bob.until('ok replay'), [OPEN_LINES[0], 'ok replay $dead.> 1']);
  bob.write('replay $dead.sg since 0');
  t.same(await bob.until('ok replay'), ['ok replay $dead.sg 0'], 'one exact $ topic is filtered too');
  bob.write('replay $reply.> since 0');
  t.same(await bob.until('ok replay'), [OPEN_LINES[1], 'ok replay $reply.> 1']);
  bob.write('replay $reply.5 since 0');
  t.same(await bob.until('ok replay'), ['ok replay $reply.5 0']);
  bob.write('replay > since 0');
  const all = await bob.until('ok replay');
  t.same(all.filter((line) => line.includes('TOPSECRET')), [], 'nothing secret in a replay of everything');
  t.equal(all[all.length - 1], 'ok replay > 4');
  bob.write('replay > last 3');
  t.same(await bob.until('ok replay'), [OPEN_LINES[0], 'msg open.q 7 alice question', OPEN_LINES[1], 'ok replay > 3'], 'the last 3 he may read, $reply.5 about a secret left out');
  bob.write('recv $dead.> as dc since 0', 'leave $dead.>', 'cursors');
  t.same(await bob.until('ok cursors'), ['ok recv $dead.> as dc after 0', OPEN_LINES[0], 'ok leave $dead.>', 'cursor dc $dead.> 0 1', 'ok cursors 1'], 'a cursor catches up and counts its lag alike');
  bob.write('take $dead.> as deadwork');
  t.match(await bob.line(), /^err denied you may not read every topic of \$dead\.> /, 'a group hands jobs out whole: bob may not take the dead jobs');
  const alice = await LineClient.login(started.port, 'alice');
  alice.write('take $dead.> as deadwork since 0');
  t.same(await alice.lines(2), ['ok take $dead.> as deadwork', 'job $dead.sg 2 $linebus 1 secret.job TOPSECRET-job'], 'alice may read everything: she may');
  for (const c of [alice, bob]) c.close();
});

t.test('live: bob receives only the $ messages about topics he may read', async (t) => {
  const started = await startServer(t, { acl: Acl.parse(RULES) });
  const bob = await LineClient.login(started.port, 'bob');
  bob.write('recv $dead.>', 'recv $reply.*');
  t.same(await bob.lines(2), ['ok recv $dead.>', 'ok recv $reply.*']);
  await seed(t, started);
  t.same(await bob.sync(), OPEN_LINES);
  bob.close();
});

t.test('server-sent events, polls and WebSocket: the same', async (t) => {
  const started = await startServer(t, { acl: Acl.parse(RULES), http: { port: 0, origins: [] } });
  await seed(t, started);
  const base = `http://127.0.0.1:${(started.server.httpAddress() as { port: number }).port}`;
  const auth = { Authorization: `Basic ${Buffer.from('bob:pw').toString('base64')}` };
  const poll = await fetch(`${base}/t/$dead.%3E?poll=1&since=0`, { headers: auth });
  t.equal(await poll.text(), `${OPEN_LINES[0]}\nok replay $dead.> 1\n`);
  const events = await fetch(`${base}/t/$reply.%3E?since=0`, { headers: { ...auth, Accept: 'text/event-stream' } });
  const reader = (events.body as ReadableStream<Uint8Array>).getReader();
  let text = '';
  while (!text.includes('\n\n')) text += new TextDecoder().decode((await reader.read()).value);
  t.equal(text.slice(0, text.indexOf('\n\n')), 'id: 8\nevent: msg\ndata: $reply.7 carol answer', 'the first event is the open answer');
  await reader.cancel();
  const ws = new WebSocket(`ws://127.0.0.1:${(started.server.httpAddress() as { port: number }).port}/ws`);
  const frames: string[] = [];
  const done = new Promise<void>((resolve) => ws.on('message', (data: Buffer) => (frames.push(data.toString()), data.toString().startsWith('ok replay') && resolve())));
  await new Promise((resolve) => ws.on('open', resolve));
  ws.send('login bob pw\nreplay $reply.> since 0');
  await done;
  t.same(frames.slice(1), ['ok login bob', OPEN_LINES[1], 'ok replay $reply.> 1']);
  ws.close();
});

t.test('a reload applies to queue jobs as to deliveries: a worker no longer allowed is handed nothing', async (t) => {
  const open = Acl.parse('user bob\ntopic readwrite >\nuser carol\ntopic readwrite >\nuser tx\ntopic write >\n');
  const started = await startServer(t, { acl: open });
  const [bob, carol, tx] = await Promise.all(['bob', 'carol', 'tx'].map((user) => LineClient.login(started.port, user)));
  for (const worker of [bob, carol] as LineClient[]) {
    worker.write('take jobs.> as g');
    t.equal(await worker.line(), 'ok take jobs.> as g');
  }
  // What SIGHUP does with a new --acl file.
  started.server.acl = Acl.parse('user bob\ntopic readwrite >\ntopic deny jobs.>\nuser carol\ntopic readwrite >\nuser tx\ntopic write >\n');
  (tx as LineClient).write('send jobs.one 1', 'send jobs.two 2');
  t.same(await (tx as LineClient).lines(2), ['ok send 1', 'ok send 2']);
  t.equal(await (carol as LineClient).line(), 'job jobs.one 1 tx 1', 'carol may: she gets the first');
  (carol as LineClient).write('ack 1');
  t.same(await (carol as LineClient).lines(2), ['ok ack 1', 'job jobs.two 2 tx 2'], 'and the second, although bob had room: he may not');
  (carol as LineClient).write('ack 2', 'leave jobs.>');
  t.same(await (carol as LineClient).lines(2), ['ok ack 2', 'ok leave jobs.>']);
  (tx as LineClient).write('send jobs.three 3');
  t.equal(await (tx as LineClient).line(), 'ok send 3');
  (carol as LineClient).write('pending g');
  t.same(await (carol as LineClient).until('ok pending'), ['pending 3 jobs.three - 0 0', 'ok pending g 1'], 'with bob alone it waits, held by nobody');
  t.same(await (bob as LineClient).sync(), [], 'bob was handed nothing');
  started.server.acl = open;
  (tx as LineClient).write('send jobs.four 4');
  t.equal(await (tx as LineClient).line(), 'ok send 4');
  t.same(await (bob as LineClient).lines(1), ['job jobs.three 3 tx 3'], 'allowed again: the job that waited comes first');
  for (const c of [bob, carol, tx] as LineClient[]) c.close();
});

t.test('who alone under an access file: an operator sees everyone, the others themselves', async (t) => {
  const started = await startServer(t, { acl: Acl.parse(RULES) });
  const [alice, bob, carol] = await Promise.all(['alice', 'bob', 'carol'].map((user) => LineClient.login(started.port, user)));
  const users = async (c: LineClient): Promise<string[]> => {
    c.write('who');
    return (await c.until('ok who')).map((line) => line.split(' ').slice(0, 3).join(' '));
  };
  t.same(await users(alice as LineClient), ['conn 1 alice', 'conn 2 bob', 'conn 3 carol', 'ok who 3'], 'alice may read every topic');
  t.same(await users(bob as LineClient), ['conn 2 bob', 'ok who 1'], 'bob may not: only his own');
  for (const c of [alice, bob, carol] as LineClient[]) c.close();
});
