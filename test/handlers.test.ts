/**
 * Every handler family (handlers/*.ts) through the in-memory Link: real
 * services over a real journal file, no sockets, exact lines.
 */
import t from 'tap';
import { hashPassword } from '../src/store/passwords.js';
import { answer } from '../src/handlers/answers.js';
import { bench } from './memory-link.js';
import type { Bench, MemoryLink } from './memory-link.js';

const LIMITS = { maxLine: 65536, maxPending: 8 << 20, maxSubscriptions: 1000, maxAckPending: 1000, maxCursors: 100, maxGroups: 100, maxInput: 65536 };

interface Client {
  link: MemoryLink;
  /** Sends `lines` and resolves with the lines written, once there are `count` of them. */
  ask(lines: string[], count: number): Promise<string[]>;
  /** Lines written since the last ask, once `count` of them are there. */
  next(count: number): Promise<string[]>;
}

function client(b: Bench): Client {
  const { link } = b.session();
  let seen = 0;
  const next = async (count: number): Promise<string[]> => {
    for (;;) {
      const writes = link.written.length;
      const lines = await b.lines(link, seen + count);
      if (lines.length >= seen + count) {
        const fresh = lines.slice(seen);
        seen = lines.length;
        return fresh;
      }
      // Something outside the turns is under way (a password hash, a
      // timer); the daemon's timers are unref'd: keep the process up.
      const alive = setInterval(() => {}, 60_000);
      await link.grown(writes).finally(() => clearInterval(alive));
    }
  };
  return {
    link,
    next,
    ask(lines, count) {
      link.send(lines.map((line) => `${line}\n`).join(''));
      return next(count);
    },
  };
}

/** A client logged in (open mode) as `user`, its greeting and login read. */
async function loggedIn(b: Bench, user: string): Promise<Client> {
  const c = client(b);
  const greeting = await c.ask([`login ${user} pw`], 2);
  if (greeting[1] !== `ok login ${user}`) throw new Error(`login ${user}: ${greeting.join(' | ')}`);
  return c;
}

t.test('basic: ping, help, logoff; before a login only the verbs that need none', async (t) => {
  const b = bench(t);
  const c = client(b);
  t.same(await c.ask(['ping', 'ping are you there', 'send t too early', 'help'], 5), [
    'hello linebus test',
    'pong',
    'pong are you there',
    'err auth log in first: login <user> <password>',
    'ok help login recv replay leave send request reply mark cursors forget take ack nack touch pending ping tags topics who stats help logoff quit',
  ]);
  t.same(await c.ask(['help send', 'help quit', 'help nosuch'], 3), [
    'ok help send <topic> <message> -- publish a message; ok send <id> once it is journaled',
    'ok help logoff -- end the session; the server closes the connection',
    "err notfound no verb 'nosuch'; help lists them",
  ]);
  t.same(await c.ask(['logoff', 'ping after'], 1), ['ok logoff']);
  await b.turn.ended();
  t.equal(c.link.lines().at(-1), 'ok logoff', 'nothing after logoff is answered');
  t.equal(c.link.ended, true, 'the link is ended once ok logoff is written');
});

t.test('login: open mode, once per connection; with users, the password counts', async (t) => {
  const b = bench(t);
  const c = client(b);
  t.same(await c.ask(['login alice anything', 'login bob pw'], 3), [
    'hello linebus test',
    'ok login alice',
    'err auth already logged in as alice; log off and reconnect to change user',
  ]);
  b.store.users.put('carol', await hashPassword('right'));
  const d = client(b);
  t.same(await d.ask(['login carol wrong', 'login alice anything', 'login carol right', 'ping'], 5), [
    'hello linebus test',
    'err auth bad user or password',
    'err auth bad user or password',
    'ok login carol',
    'pong',
  ]);
});

t.test('subscribe: recv and leave, once per pattern, within --max-subscriptions', async (t) => {
  const b = bench(t, { ...LIMITS, maxSubscriptions: 2 });
  const rx = await loggedIn(b, 'rx');
  const tx = await loggedIn(b, 'tx');
  t.same(await rx.ask(['recv chat.*', 'recv chat.*', 'recv news', 'recv more'], 4), [
    'ok recv chat.*',
    'ok recv chat.*',
    'ok recv news',
    'err busy this connection receives or takes 2 patterns, the most one may (--max-subscriptions); leave one first',
  ]);
  t.same(await tx.ask(['send chat.x hi', 'send news extra', 'send other nobody'], 3), ['ok send 1', 'ok send 2', 'ok send 3']);
  t.same(await rx.next(2), ['msg chat.x 1 tx hi', 'msg news 2 tx extra']);
  t.same(await rx.ask(['leave chat.*', 'leave chat.*', 'leave never'], 3), [
    'ok leave chat.*',
    'err notfound not receiving or taking chat.*; recv it first, or check the spelling',
    'err notfound not receiving or taking never; recv it first, or check the spelling',
  ]);
  t.same(await tx.ask(['send chat.x gone'], 1), ['ok send 4']);
  t.same(await rx.ask(['recv $reply.1', 'ping'], 2), ['ok recv $reply.1', 'pong'], 'nothing of chat.* after leave; a $ topic may be received');
});

t.test('subscribe: recv with since and last replays the journal first, then live', async (t) => {
  const b = bench(t);
  const tx = await loggedIn(b, 'tx');
  t.same(await tx.ask(['send t one', 'send u two', 'send t three'], 3), ['ok send 1', 'ok send 2', 'ok send 3']);
  const rx = await loggedIn(b, 'rx');
  t.same(await rx.ask(['recv t since 1', 'recv u last 5'], 4), ['ok recv t', 'msg t 3 tx three', 'ok recv u', 'msg u 2 tx two']);
  t.same(await tx.ask(['send t four'], 1), ['ok send 4']);
  t.same(await rx.next(1), ['msg t 4 tx four']);
});

t.test('send: acknowledged with the id, delivered to every other receiver, never to $ topics', async (t) => {
  const b = bench(t);
  const alice = await loggedIn(b, 'alice');
  const bob = await loggedIn(b, 'bob');
  t.same(await bob.ask(['recv >'], 1), ['ok recv >']);
  t.same(await alice.ask(['recv >', 'send a.b hello there', 'send $x no', 'send a.b  two spaces'], 4), [
    'ok recv >',
    'ok send 1',
    "err denied topics starting with '$' belong to the server; clients may recv them but not send to them",
    'ok send 2',
  ]);
  t.same(await bob.next(2), ['msg a.b 1 alice hello there', 'msg a.b 2 alice  two spaces']);
  t.same(await alice.ask(['ping'], 1), ['pong'], 'the sender does not get its own messages');
});

t.test('replay: journaled messages only, then the count; no subscription', async (t) => {
  const b = bench(t);
  const c = await loggedIn(b, 'alice');
  t.same(await c.ask(['send a one', 'send b two', 'send a three'], 3), ['ok send 1', 'ok send 2', 'ok send 3']);
  t.same(await c.ask(['replay a since 0', 'replay > last 2', 'replay nothing since 0', 'replay a since 3'], 8), [
    'msg a 1 alice one',
    'msg a 3 alice three',
    'ok replay a 2',
    'msg b 2 alice two',
    'msg a 3 alice three',
    'ok replay > 2',
    'ok replay nothing 0',
    'ok replay a 0',
  ]);
  const other = await loggedIn(b, 'bob');
  t.same(await other.ask(['send a four'], 1), ['ok send 4']);
  t.same(await c.ask(['ping'], 1), ['pong'], 'nothing live after a replay');
});

t.test('cursor: recv as, mark, cursors with their lag, forget', async (t) => {
  const b = bench(t);
  const c = await loggedIn(b, 'alice');
  t.same(await c.ask(['send jobs.a one', 'send jobs.b two', 'send other x'], 3), ['ok send 1', 'ok send 2', 'ok send 3']);
  t.same(await c.ask(['recv jobs.* as bot since 0'], 3), ['ok recv jobs.* as bot after 0', 'msg jobs.a 1 alice one', 'msg jobs.b 2 alice two']);
  t.same(await c.ask(['mark bot 1', 'cursors'], 3), ['ok mark bot 1', 'cursor bot jobs.* 1 1', 'ok cursors 1']);
  t.same(await c.ask(['mark bot 9', 'mark nobody 1', 'forget nobody'], 3), [
    "err notfound no message has id 9 yet (the journal's last is 3); mark the id of a message you received",
    'err notfound you have no cursor nobody; recv <pattern> as nobody makes one',
    'err notfound you have no cursor nobody; recv <pattern> as nobody makes one',
  ]);
  const again = await loggedIn(b, 'alice');
  t.same(await again.ask(['recv jobs.* as bot'], 2), ['ok recv jobs.* as bot after 1', 'msg jobs.b 2 alice two'], 'resumed after the mark, on another connection');
  const stranger = await loggedIn(b, 'bob');
  t.same(await stranger.ask(['cursors', 'mark bot 1'], 2), ['ok cursors 0', 'err notfound you have no cursor bot; recv <pattern> as bot makes one'], "cursors are their user's");
  t.same(await again.ask(['forget bot', 'cursors'], 2), ['ok forget bot', 'ok cursors 0']);
});

t.test('queue: take, job, touch, pending, nack, ack; the limits of a group', async (t) => {
  const b = bench(t, { ...LIMITS, maxAckPending: 5, maxGroups: 1 });
  const worker = await loggedIn(b, 'worker');
  const boss = await loggedIn(b, 'boss');
  t.same(await worker.ask(['take work.* as crew max 6', 'take work.* as crew max 2', 'take other as crew', 'take x as second'], 4), [
    'err syntax max 6 is over the 5 un-acked jobs a group may have (--max-ack-pending); ask for fewer',
    'ok take work.* as crew',
    'err syntax group crew takes work.*; take work.* as crew, or choose another group name',
    'err busy you made 1 groups, the most one user may (--max-groups); take one of them',
  ]);
  t.same(await boss.ask(['send work.a wash', 'send work.b dry'], 2), ['ok send 1', 'ok send 2']);
  t.same(await worker.next(2), ['job work.a 1 boss wash', 'job work.b 2 boss dry']);
  t.same(await worker.ask(['touch 1', 'pending crew'], 4), ['ok touch 1 30', 'pending 1 work.a worker 0 1', 'pending 2 work.b worker 0 1', 'ok pending crew 2']);
  t.same(await worker.ask(['nack 1'], 2), ['ok nack 1', 'job work.a 1 boss wash'], 'given back: it comes again');
  t.same(await worker.ask(['ack 1', 'ack 2', 'ack 1', 'nack 7', 'touch 7'], 5), [
    'ok ack 1',
    'ok ack 2',
    'err notfound you hold no job 1: never had it, acked it already, or its wait ran out and it went to another worker',
    'err notfound you hold no job 7: never had it, acked it already, or its wait ran out and it went to another worker',
    'err notfound you hold no job 7: never had it, acked it already, or its wait ran out and it went to another worker',
  ]);
  t.same(await boss.ask(['pending crew', 'pending nosuch'], 2), ['ok pending crew 0', 'err notfound no group nosuch; take <pattern> as nosuch makes it']);
});

t.test('tags ts: msg and job lines start with their commit time, live, caught up, replayed and taken; tags none ends it', async (t) => {
  const b = bench(t);
  const tx = await loggedIn(b, 'tx');
  t.same(await tx.ask(['send t one', 'send t two'], 2), ['ok send 1', 'ok send 2']);
  const ts = (id: number): number => b.store.reader.message(id)?.ts as number;
  const rx = await loggedIn(b, 'rx');
  t.same(await rx.ask(['tags ts', 'recv t since 1', 'replay t since 0'], 6), [
    'ok tags ts',
    'ok recv t',
    `@ts=${ts(2)} msg t 2 tx two`,
    `@ts=${ts(1)} msg t 1 tx one`,
    `@ts=${ts(2)} msg t 2 tx two`,
    'ok replay t 2',
  ]);
  t.same(await tx.ask(['send t three'], 1), ['ok send 3']);
  t.same(await rx.next(1), [`@ts=${ts(3)} msg t 3 tx three`], 'live');
  t.same(await rx.ask(['take jobs as crew since 0'], 1), ['ok take jobs as crew']);
  t.same(await tx.ask(['send jobs wash'], 1), ['ok send 4']);
  t.same(await rx.next(1), [`@ts=${ts(4)} job jobs 4 tx wash`], 'a job');
  t.same(await rx.ask(['tags none', 'ack 4'], 2), ['ok tags none', 'ok ack 4']);
  t.same(await tx.ask(['send t four'], 1), ['ok send 5']);
  t.same(await rx.next(1), ['msg t 5 tx four'], 'no tags: as before');
  t.same(await rx.ask(['replay t last 1'], 2), ['msg t 5 tx four', 'ok replay t 1']);
});

t.test('request: answered by the first reply; err timeout when none comes in time', async (t) => {
  const b = bench(t);
  const asker = await loggedIn(b, 'asker');
  const helper = await loggedIn(b, 'helper');
  t.same(await helper.ask(['recv ask.*'], 1), ['ok recv ask.*']);
  asker.link.send('request ask.time within 5s what time is it?\nping after the answer\n');
  t.same(await helper.next(1), ['msg ask.time 1 asker what time is it?']);
  t.same(await helper.ask(['reply 1 noon', 'reply 1 too late', 'reply 9 nobody asked'], 3), [
    'ok reply 1',
    'err notfound no one waits for an answer to 1: answered already, timed out, or the asker left',
    'err notfound no one waits for an answer to 9: answered already, timed out, or the asker left',
  ]);
  t.same(await asker.next(2), ['ok request 1 helper noon', 'pong after the answer'], 'the lines after a request wait for its answer');
  t.same(await helper.ask(['ping'], 1), ['pong'], 'the reply ($reply.1, id 2) is not delivered to receivers of the question');
  t.same(await asker.ask(['request ask.time within 20ms anyone?'], 1), ["err timeout no reply to request 3 within 20ms; it stays in the journal as 3"]);
});

t.test('introspect: topics, who <topic>, stats', async (t) => {
  const b = bench(t);
  const alice = await loggedIn(b, 'alice');
  const bob = await loggedIn(b, 'bob');
  t.same(await bob.ask(['recv news.*', 'recv weather'], 2), ['ok recv news.*', 'ok recv weather']);
  t.same(await alice.ask(['send news.eu one', 'send news.eu two', 'send sports x'], 3), ['ok send 1', 'ok send 2', 'ok send 3']);
  t.same(await alice.ask(['topics'], 5), ['topic news.* 1 -', 'topic news.eu 1 2', 'topic sports 0 3', 'topic weather 1 0', 'ok topics 4']);
  t.same(await alice.ask(['who news.eu', 'who sports'], 3), ['user bob 1', 'ok who news.eu 1', 'ok who sports 0']);
  t.same(await alice.ask(['topics all', 'who news.eu all'], 7), ['topic news.* 1 -', 'topic news.eu 1 2', 'topic sports 0 3', 'topic weather 1 0', 'ok topics 4', 'user bob 1', 'ok who news.eu 1'], 'without a cluster, all is this daemon');
  const names = b.services.stats().map(([name]) => name);
  const stats = await alice.ask(['stats'], names.length + 1);
  t.same(stats.map((line) => line.split(' ').slice(0, 2).join(' ')), [...names.map((name) => `stat ${name}`), `ok stats`]);
  t.equal(stats.at(-1), `ok stats ${names.length}`);
  t.ok(stats.includes('stat messages_in 3'), 'three messages in');
});

t.test("another daemon's claim of a reply waits for the questions being published here to know their ids", async (t) => {
  const b = bench(t);
  const { services } = b;
  const { requests } = services;
  const asker = await loggedIn(b, 'alice');
  asker.link.send('request ask.time within 1m now?\n');
  await requests.numbered();
  t.equal(requests.size, 1, 'a request being published counts as on its way until it waits');
  const numbered = requests.asking();
  const claim = answer(services, { op: 'claim', id: 50, responder: 'bob' });
  let settled = false;
  void claim.then(() => (settled = true));
  await new Promise((resolve) => setImmediate(resolve));
  t.notOk(settled, 'id 50 may be the question on its way');
  requests.wait(50, { answered: () => undefined, timedOut: () => undefined }, 60_000, 'ask');
  numbered();
  t.same(await claim, ['granted']);
  t.same(await answer(services, { op: 'claim', id: 50, responder: 'carol' }), ['taken']);
  t.same(await answer(services, { op: 'release', id: 50, responder: 'bob' }), []);
  t.same(await answer(services, { op: 'claim', id: 50, responder: 'carol' }), ['granted'], 'given back, it is free again');
  t.same(await answer(services, { op: 'claim', id: 51, responder: 'carol' }), ['none'], 'nothing on its way: at once');
  requests.stop();
});
