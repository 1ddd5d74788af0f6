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

class Fake implements Watched {
  readonly remote = '127.0.0.1:1';
  user: string | undefined;
  linesIn = 0;
  subscriptionCount = 0;
  busy = false;
  closed: string | undefined;
  constructor(readonly id: number) {}
  expire(_reason: string, last: Refusal): void {
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

t.test('the throttle: free failures, doubling waits up to a cap, forgotten after quiet or a success', async (t) => {
  const throttle = new LoginThrottle();
  const waits: number[] = [];
  for (let i = 0; i < 9; i++) {
    waits.push(throttle.delayFor('a', i));
    throttle.failed('a', i);
  }
  t.same(waits, [0, 0, 0, 1000, 2000, 4000, 8000, 16000, 16000]);
  t.equal(throttle.delayFor(undefined, 0), 0, 'an unknown address is one more address');
  t.equal(throttle.delayFor('a', 10 * 60_000 + 8), 0, 'ten quiet minutes: forgotten');
  t.equal(throttle.delayFor('a', 10 * 60_000 + 9), 0);
  for (let i = 0; i < 4; i++) throttle.failed('b', 0);
  throttle.succeeded('b');
  t.equal(throttle.delayFor('b', 1), 0, 'a success: forgotten');
  t.equal(throttle.delayed, 6);
  for (let i = 0; i < 3; i++) throttle.failed('early', 0);
  t.equal(throttle.delayFor('early', 1), 1000);
  for (let i = 0; i < 10_000; i++) throttle.failed(`x${i}`, 0);
  t.equal(throttle.delayFor('early', 1), 0, 'the least recent of too many addresses is dropped');
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
  users.users.put('alice', await hashPassword('right'));
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
