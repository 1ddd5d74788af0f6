/**
 * Limits on clients that hold a place and do nothing, or guess passwords:
 * --login-timeout, --idle-timeout (the watchdog, on a made-up clock, then
 * over real TCP) and the slowing of failed logins per address. Each shows
 * the limit holding and a well-behaved client untouched.
 */
import t from 'tap';
import { connect } from 'node:net';
import { Watchdog } from '../src/session/watchdog.js';
import type { Watched } from '../src/session/watchdog.js';
import type { Refusal } from '../src/protocol/events.js';
import { replyLine } from '../src/protocol/wire.js';
import { silentLogger } from '../src/log.js';
import { LoginThrottle } from '../src/util/throttle.js';
import { hashPassword } from '../src/store/passwords.js';
import { Store } from '../src/store/store.js';
import { LineClient, startServer, stat } from './helpers.js';
import { quickHash } from './quick-hash.js';

class Fake implements Watched {
  readonly remote = '127.0.0.1:1';
  user: string | undefined;
  linesIn = 0;
  subscriptionCount = 0;
  busy = false;
  closed: string | undefined;
  constructor(readonly id: number) {}
  close(_reason: string, last: Refusal): void {
    this.closed = replyLine(last);
  }
}

t.test('the watchdog: who is closed when', async (t) => {
  const conns = [1, 2, 3, 4, 5, 6].map((id) => new Fake(id));
  const [silent, chatty, idle, receiver, working, fresh] = conns as [Fake, Fake, Fake, Fake, Fake, Fake];
  for (const c of [idle, receiver, working]) c.user = 'u';
  receiver.subscriptionCount = 1;
  const dog = new Watchdog(() => conns, { loginTimeout: 10, idleTimeout: 60 }, silentLogger);
  dog.sweep(0);
  chatty.linesIn = 5;
  working.busy = true;
  dog.sweep(9_000);
  fresh.user = 'u';
  fresh.linesIn = 1;
  dog.sweep(10_000);
  t.match(silent.closed, /^err auth no login within 10s/);
  t.match(chatty.closed, /^err auth no login within 10s/, 'lines that are not a login do not count');
  t.same([idle, receiver, working, fresh].map((c) => c.closed), [undefined, undefined, undefined, undefined]);
  working.busy = false;
  dog.sweep(60_000);
  t.match(idle.closed, /^err timeout idle for 60s/);
  t.same([receiver.closed, working.closed, fresh.closed], [undefined, undefined, undefined], 'a receiver, and a command answered at 9 s and a login at 10 s, restart the clock');
  dog.sweep(70_000);
  t.same([receiver.closed, working.closed, fresh.closed], [undefined, 'err timeout idle for 60s, receiving nothing (--idle-timeout); reconnect when you need the bus', 'err timeout idle for 60s, receiving nothing (--idle-timeout); reconnect when you need the bus']);
});

t.test("the throttle: free failures, doubling waits up to a cap, forgotten after quiet or the user's own success", async (t) => {
  const throttle = new LoginThrottle();
  /** One login: its wait, and it ends failed. */
  const fail = (address: string | undefined, user: string, now: number): number | undefined => {
    const wait = throttle.begin(address, user, now);
    if (wait !== undefined) {
      throttle.end(address);
      throttle.failed(address, user, now);
    }
    return wait;
  };
  const waits: (number | undefined)[] = [];
  for (let i = 0; i < 9; i++) waits.push(fail('a', 'alice', i));
  t.same(waits, [0, 0, 0, 1000, 2000, 4000, 8000, 16000, 16000]);
  t.equal(throttle.begin(undefined, 'x', 0), 0, 'an unknown address is one more address');
  throttle.end(undefined);
  t.equal(throttle.begin('a', 'zed', 10 * 60_000 + 8), 0, 'ten quiet minutes: forgotten');
  throttle.end('a');
  for (let i = 0; i < 4; i++) fail('b', 'bob', 0);
  throttle.succeeded('b', 'bob', 1);
  t.equal(throttle.begin('b', 'bob', 1), 0, "the user's own success: forgotten (a typo)");
  throttle.end('b');
  for (let i = 0; i < 4; i++) fail('c', 'victim', 0);
  throttle.succeeded('c', 'mallory', 1);
  t.equal(throttle.begin('c', 'victim', 2), 2000, "a success of another account of the guesser's forgets nothing");
  throttle.end('c');
  t.equal(throttle.delayed, 9, 'six of a, one of b, two of c');
  for (let i = 0; i < 3; i++) fail('early', 'e', 0);
  t.equal(throttle.begin('early', 'e', 1), 1000);
  throttle.end('early');
  for (let i = 0; i < 10_000; i++) fail(`x${i}`, `u${i}`, 0);
  t.equal(throttle.begin('early', 'e', 1), 0, 'the least recent of too many addresses is dropped');
  throttle.end('early');
});

t.test('the throttle: one user guessed at from many addresses; the real user from a known address is not slowed', async (t) => {
  const throttle = new LoginThrottle();
  const begin = (address: string, user: string, now: number): number | undefined => {
    const wait = throttle.begin(address, user, now);
    throttle.end(address);
    return wait;
  };
  throttle.succeeded('home', 'alice', 0);
  const waits: (number | undefined)[] = [];
  for (let i = 0; i < 12; i++) {
    waits.push(begin(`bot${i}`, 'alice', 1));
    throttle.failed(`bot${i}`, 'alice', 1);
  }
  t.same(waits, [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1000, 2000], 'ten free, then each guess at alice waits, whatever its address');
  t.equal(begin('bot99', 'alice', 2), 4000);
  t.equal(begin('bot99', 'bob', 2), 0, 'other users are not slowed');
  t.equal(begin('home', 'alice', 2), 0, 'alice from where she logged in lately is not slowed');
  throttle.succeeded('home', 'alice', 3);
  t.equal(begin('bot100', 'alice', 4), 0, "her success forgets the failures counted for her");
});

t.test('the throttle: logins checked at once from one address are bounded; more are refused unchecked', async (t) => {
  const throttle = new LoginThrottle();
  t.same([0, 1, 2, 3].map(() => throttle.begin('a', 'alice', 0)), [0, 0, 0, undefined], 'three at once while free');
  for (let i = 0; i < 3; i++) throttle.end('a');
  for (let i = 0; i < 3; i++) {
    throttle.begin('a', 'alice', 0);
    throttle.end('a');
    throttle.failed('a', 'alice', 0);
  }
  t.same([throttle.begin('a', 'alice', 1), throttle.begin('a', 'alice', 1)], [1000, undefined], 'one at a time once slowed');
  throttle.end('a');
  t.equal(throttle.begin('a', 'alice', 2), 1000, 'the next, once that one was answered');
  t.equal(throttle.refused, 2);
});

t.test('over TCP: no login in time closes; a logged-in receiver stays', { timeout: 15000 }, async (t) => {
  const { server, port } = await startServer(t, { loginTimeout: 1, idleTimeout: 1 });
  const receiver = await LineClient.login(port, 'bob');
  receiver.write('recv t');
  t.equal(await receiver.line(), 'ok recv t');
  const idle = await LineClient.login(port, 'carol');
  const lurker = await LineClient.connect(port);
  t.equal(await lurker.line(), 'hello linebus 1.0.0');
  lurker.write('help');
  t.match(await lurker.line(), /^ok help /);
  t.same(await lurker.rest(), ['err auth no login within 1s (--login-timeout); reconnect and log in']);
  t.same(await idle.rest(), ['err timeout idle for 1s, receiving nothing (--idle-timeout); reconnect when you need the bus']);
  receiver.write('ping still here');
  t.equal(await receiver.line(), 'pong still here', 'the receiver, as quiet as the others, is untouched');
  const stats = server.stats();
  t.equal(stat(stats, 'login_timeout_s'), 1);
  t.equal(stat(stats, 'idle_timeout_s'), 1);
  t.ok(stats.some(([name, value]) => name === 'closed.login_timeout' && value === 1));
  receiver.close();
});

t.test('failed logins slow down the next ones from that address, not from others', { timeout: 20000 }, async (t) => {
  const { server, port, db, logs } = await startServer(t);
  const users = Store.open(db);
  t.teardown(() => users.close());
  users.users.put('alice', quickHash('right'));
  const guesser = await LineClient.connect(port);
  await guesser.line();
  guesser.write('login alice a', 'login alice b', 'login alice c');
  t.same(await guesser.lines(3), ['err auth bad user or password', 'err auth bad user or password', 'err auth bad user or password']);
  t.equal(stat(server.stats(), 'logins_delayed'), 0, 'three failures are free');
  // The real user, from another loopback address, is not slowed.
  const socket = connect({ port, host: '127.0.0.1', localAddress: '127.0.0.2' });
  await new Promise((resolve) => socket.once('connect', resolve));
  socket.setEncoding('utf8');
  socket.write('login alice right\n');
  let text = '';
  for await (const chunk of socket) {
    text += chunk as string;
    if (text.includes('ok login')) break;
  }
  t.match(text, /ok login alice\n/);
  t.equal(stat(server.stats(), 'logins_delayed'), 0);
  socket.destroy();
  guesser.write('login alice d', 'login alice right');
  t.same(await guesser.lines(2), ['err auth bad user or password', 'ok login alice']);
  t.equal(stat(server.stats(), 'logins_delayed'), 2, 'the fourth and fifth waited');
  t.ok(logs.some((line) => line.startsWith('warn login failed') && line.includes('"delayed_ms":1000')));
  guesser.close();
});

t.test('parallel guesses from one address: a few are checked at a time, the rest refused unchecked', { timeout: 20000 }, async (t) => {
  const { server, port, db } = await startServer(t);
  const users = Store.open(db);
  t.teardown(() => users.close());
  // A real hash (38 ms a check): the first guesses are still being checked
  // when the last are read, however the reads are spread over the loop.
  users.users.put('alice', await hashPassword('right'));
  const guess = async (count: number): Promise<string[]> => {
    const clients = await Promise.all(Array.from({ length: count }, () => LineClient.connect(port)));
    await Promise.all(clients.map((c) => c.line()));
    for (const [i, c] of clients.entries()) c.write(`login alice guess${i}`);
    const answers = await Promise.all(clients.map((c) => c.line()));
    for (const c of clients) c.close();
    return answers.map((line) => (line ?? '').split(' ').slice(0, 2).join(' ')).sort();
  };
  t.same(await guess(10), [...Array<string>(3).fill('err auth'), ...Array<string>(7).fill('err busy')], 'three checked at once, seven refused');
  t.same(await guess(5), ['err auth', ...Array<string>(4).fill('err busy')], 'once slowed, one at a time');
  t.equal(stat(server.stats(), 'logins_refused'), 11);
});
