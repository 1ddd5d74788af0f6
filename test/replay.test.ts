/** Catch-up subscriptions and replay over real TCP and a real journal. */
import t from 'tap';
import { join } from 'node:path';
import { Store } from '../src/store/store.js';
import { LineClient, startServer, tempDir } from './helpers.js';

/** Fills a journal before the daemon starts: `count` messages on `topic(i)`. */
function fill(db: string, count: number, topic: (i: number) => string, body: (i: number) => string = (i) => `m${i + 1}`): void {
  const journal = Store.open(db);
  for (let start = 0; start < count; start += 10000) {
    const batch = [];
    for (let i = start; i < Math.min(count, start + 10000); i++) batch.push({ topic: topic(i), sender: 'seed', body: body(i) });
    // One ts per batch is what the daemon does too.
    journal.journal.append(batch, Date.now());
  }
  journal.close();
}

t.test('replay since id, last n, time and duration; exact and wildcard', { timeout: 20000 }, async (t) => {
  const db = join(tempDir(t), 'bus.db');
  const hour = 3600_000;
  const base = Date.now() - 10 * hour;
  // ids 1..10; one batch each, an hour apart: id i was stamped base + (i-1)h.
  const journal = Store.open(db);
  for (let i = 0; i < 10; i++) journal.journal.append([{ topic: i % 2 ? 'odd.x' : 'even.x', sender: 'seed', body: `m${i + 1}` }], base + i * hour);
  journal.close();
  const { port } = await startServer(t, { db });
  const c = await LineClient.login(port, 'rx');

  c.write('replay even.x since 6');
  t.same(await c.lines(3), ['msg even.x 7 seed m7', 'msg even.x 9 seed m9', 'ok replay even.x 2']);
  c.write('replay *.x last 3');
  t.same(await c.lines(4), ['msg odd.x 8 seed m8', 'msg even.x 9 seed m9', 'msg odd.x 10 seed m10', 'ok replay *.x 3']);
  c.write('replay odd.x last 2');
  t.same(await c.lines(3), ['msg odd.x 8 seed m8', 'msg odd.x 10 seed m10', 'ok replay odd.x 2']);
  c.write('replay odd.x last 100');
  t.equal((await c.lines(6))[5], 'ok replay odd.x 5', 'fewer than n: all of them');
  c.write('replay > last 0', 'replay nothing.here since 0', 'replay > since 10');
  t.same(await c.lines(3), ['ok replay > 0', 'ok replay nothing.here 0', 'ok replay > 0']);
  c.write(`replay even.x since ${new Date(base + 5.5 * hour).toISOString()}`);
  t.same(await c.lines(3), ['msg even.x 7 seed m7', 'msg even.x 9 seed m9', 'ok replay even.x 2']);
  // Now is base + 10h, so 150 minutes ago is base + 7.5h: ids 9 and 10.
  c.write('replay > since 150m');
  t.same(await c.lines(3), ['msg even.x 9 seed m9', 'msg odd.x 10 seed m10', 'ok replay > 2']);
  c.write('replay > since 2000-01-01');
  t.equal((await c.lines(11))[10], 'ok replay > 10', 'a time before everything replays everything');
  c.write('replay > since 1d', 'ping');
  t.equal((await c.lines(11))[10], 'ok replay > 10');
  t.equal(await c.line(), 'pong');
  c.close();
});

t.test('replay makes no subscription; replay counts its own sends', { timeout: 20000 }, async (t) => {
  const { port } = await startServer(t);
  const c = await LineClient.login(port, 'a');
  c.write('recv t since 0', 'replay > last 5');
  t.same(await c.lines(2), ['ok recv t', 'ok replay > 0'], 'an empty journal');
  c.write('leave t');
  await c.line();
  const other = await LineClient.login(port, 'b');
  c.write('send t one', 'replay t since 0');
  t.same(await c.lines(3), ['ok send 1', 'msg t 1 a one', 'ok replay t 1']);
  other.write('send t two');
  t.equal(await other.line(), 'ok send 2');
  t.same(await c.sync(), [], 'nothing live after replay');
  c.close();
  other.close();
});

t.test('recv since: journaled, then live, no gap and no duplicate', { timeout: 20000 }, async (t) => {
  const { port } = await startServer(t);
  const tx = await LineClient.login(port, 'tx');
  for (let i = 1; i <= 5; i++) tx.write(`send orders.eu o${i}`);
  await tx.lines(5);

  // The bot: saw up to id 2, went away, comes back.
  const bot = await LineClient.login(port, 'bot');
  bot.write('recv orders.> since 2');
  t.equal(await bot.line(), 'ok recv orders.>');
  t.same(await bot.lines(3), ['msg orders.eu 3 tx o3', 'msg orders.eu 4 tx o4', 'msg orders.eu 5 tx o5']);
  tx.write('send orders.us o6');
  t.equal(await bot.line(), 'msg orders.us 6 tx o6', 'then live');
  t.same(await bot.sync(), []);

  const late = await LineClient.login(port, 'late');
  late.write('recv orders.eu last 2', 'recv orders.us since 0');
  t.same(await late.lines(5), ['ok recv orders.eu', 'msg orders.eu 4 tx o4', 'msg orders.eu 5 tx o5', 'ok recv orders.us', 'msg orders.us 6 tx o6']);
  tx.write('send orders.eu o7');
  t.equal(await late.line(), 'msg orders.eu 7 tx o7');
  t.same(await late.sync(), [], 'once, though orders.eu was already live during the second catch-up');
  for (const c of [tx, bot, late]) c.close();
});

t.test('a live pattern keeps its messages in order across a replay', { timeout: 20000 }, async (t) => {
  const { port } = await startServer(t);
  const tx = await LineClient.login(port, 'tx');
  const rx = await LineClient.login(port, 'rx');
  rx.write('recv live');
  await rx.line();
  tx.write('send old a', 'send old b');
  await tx.lines(2);
  // Sent in the same write as the replay: delivered live before it starts.
  tx.write('send live 3');
  rx.write('replay old since 0');
  const lines = await rx.lines(4);
  t.same(lines.slice(-3), ['msg old 1 tx a', 'msg old 2 tx b', 'ok replay old 2']);
  t.ok(lines[0] === 'msg live 3 tx 3', 'the live message came before or after as a whole line');
  tx.write('send live 4');
  t.equal(await rx.line(), 'msg live 4 tx 4');
  tx.close();
  rx.close();
});

t.test('100,000 journaled messages: a catch-up streams them while others send and ping', { timeout: 120000 }, async (t) => {
  const db = join(tempDir(t), 'big.db');
  const N = 100_000;
  fill(db, N, () => 'big');
  const { port, waitForLog } = await startServer(t, { db });
  const rx = await LineClient.login(port, 'rx');
  const tx = await LineClient.login(port, 'tx');
  const pinger = await LineClient.login(port, 'pinger');

  let caughtUp = false;
  let pongsDuringCatchUp = 0;
  const pinging = (async () => {
    for (let i = 0; i < 100000 && !caughtUp; i++) {
      pinger.write(`ping ${i}`);
      if ((await pinger.line()) !== `pong ${i}`) throw new Error('bad pong');
      if (!caughtUp) pongsDuringCatchUp++;
    }
  })();
  let sent = 0;
  const sending = (async () => {
    // Bounded: at most 500 batches of 10, stopping once rx is live.
    for (let batch = 0; batch < 500 && !caughtUp; batch++) {
      tx.write(...Array.from({ length: 10 }, () => `send big live${++sent}`));
      const acks = await tx.lines(10);
      if (!acks.every((a) => a?.startsWith('ok send '))) throw new Error(`bad ack ${acks[0]}`);
    }
  })();

  rx.write('recv big since 0');
  t.equal(await rx.line(), 'ok recv big');
  const bad = (await rx.lines(N)).filter((line, i) => line !== `msg big ${i + 1} seed m${i + 1}`).length;
  t.equal(bad, 0, 'every journaled message, once, in order');
  caughtUp = true;
  await sending;
  await pinging;
  t.ok(sent > 0, `another client sent ${sent} messages meanwhile`);
  t.ok(pongsDuringCatchUp > 0, `a third got ${pongsDuringCatchUp} pongs during the catch-up`);
  t.same(await rx.lines(sent), Array.from({ length: sent }, (_, i) => `msg big ${N + i + 1} tx live${i + 1}`), 'then the live ones, no gap, no duplicate');
  tx.write('send big last');
  t.equal(await rx.line(), `msg big ${N + sent + 1} tx last`);
  t.same(await rx.sync(), []);

  // A client that gives up in the middle of a long `last n` scan: the scan
  // stops, the server goes on.
  const quitter = await LineClient.login(port, 'quitter');
  quitter.write('recv > last 100000');
  t.equal(await quitter.line(), 'ok recv >', 'written before the scan for the start');
  quitter.socket.resetAndDestroy();
  t.match(await waitForLog(/^debug closed .*"user":"quitter"/), /"reason":"(client closed|socket error E[A-Z]+)"/);
  pinger.write('ping after');
  t.equal(await pinger.line(), 'pong after');
  for (const c of [rx, tx, pinger]) c.close();
});

t.test('a catch-up waits for a client that does not read, without cutting it off', { timeout: 120000 }, async (t) => {
  const db = join(tempDir(t), 'big.db');
  // 20 MB: more than the kernel's socket buffers can hide.
  const N = 20_000;
  const pad = 'p'.repeat(1000);
  fill(db, N, (i) => (i % 2 ? 'odd' : 'even'), (i) => `m${i + 1} ${pad}`);
  // A small --max-pending: without backpressure the replay would overflow it.
  const { server, port } = await startServer(t, { db, maxPending: 256 * 1024 });
  const waiting = (): unknown => server.stats().find(([k]) => k === 'catch_ups_waiting')?.[1];
  const reader = await LineClient.login(port, 'reader');
  const watcher = await LineClient.login(port, 'watcher');
  reader.socket.pause();
  // Commands behind a replay wait; past 1024 of them the server stops
  // reading this socket until the replay is done.
  const pings = Array.from({ length: 2000 }, (_, i) => `ping ${i}`);
  reader.write('replay > last 15000', ...pings);
  for (let i = 0; i < 100000 && waiting() === 0; i++) await watcher.sync(`${i}`);
  t.equal(waiting(), 1, 'the replay waits for the reader');
  reader.socket.resume();
  const lines = await reader.until('ok replay');
  t.equal(lines.length, 15001);
  t.equal(lines[0], `msg even 5001 seed m5001 ${pad}`);
  t.equal(lines[15000], 'ok replay > 15000', 'not err slow');
  t.same(await reader.lines(2000), pings.map((_, i) => `pong ${i}`), 'then every command queued behind it, in order');
  t.equal(waiting(), 0);

  const quitter = await LineClient.login(port, 'quitter');
  quitter.socket.pause();
  quitter.write('recv odd since 0');
  for (let i = 0; i < 100000 && waiting() === 0; i++) await watcher.sync(`q${i}`);
  t.equal(waiting(), 1);
  quitter.close();
  for (let i = 0; i < 100000 && waiting() === 1; i++) await watcher.sync(`c${i}`);
  t.equal(waiting(), 0, 'a client that goes away ends its catch-up');
  watcher.write('send odd still here');
  t.equal(await watcher.line(), `ok send ${N + 1}`);
  reader.close();
  watcher.close();
});

t.test('after err slow, recv since the id it names loses nothing', { timeout: 60000 }, async (t) => {
  const { server, port } = await startServer(t, { maxPending: 128 * 1024 });
  const slow = await LineClient.login(port, 'slow');
  const tx = await LineClient.login(port, 'tx');
  slow.write('recv t');
  await slow.line();
  slow.socket.pause();
  const body = 'x'.repeat(1000);
  let sent = 0;
  const slowCount = (): unknown => server.stats().find(([k]) => k === 'slow_disconnects')?.[1];
  for (let batch = 0; batch < 1000 && slowCount() === 0; batch++) {
    tx.write(...Array.from({ length: 64 }, () => `send t ${body}`));
    await tx.lines(64);
    sent += 64;
  }
  slow.socket.resume();
  const got = await slow.rest();
  const last = /last id sent (\d+)/.exec(got[got.length - 1] as string);
  t.ok(last, 'err slow names the last id');
  const back = await LineClient.login(port, 'slow');
  back.write(`recv t since ${last?.[1]}`);
  t.equal(await back.line(), 'ok recv t');
  const rest = await back.lines(sent - Number(last?.[1]));
  t.equal(rest[0], `msg t ${Number(last?.[1]) + 1} tx ${body}`);
  t.equal(rest[rest.length - 1], `msg t ${sent} tx ${body}`);
  t.equal(got.length - 1 + rest.length, sent, 'received before plus after = everything sent');
  back.close();
  tx.close();
});

t.test('recv last n of a rare topic reaches back across block summaries', { timeout: 30000 }, async (t) => {
  const db = join(tempDir(t), 'blocks.db');
  // Every 5,000th message is 'rare.x': in blocks 0, 1, 2 and the last one.
  fill(db, 60000, (i) => (i % 5000 === 4999 ? 'rare.x' : 'busy'));
  const { port } = await startServer(t, { db });
  for (const pattern of ['rare.x', 'rare.*']) {
    const c = await LineClient.login(port, 'rx');
    c.write(`recv ${pattern} last 11`, 'ping done');
    const lines = await c.until('pong done');
    t.equal(lines[0], `ok recv ${pattern}`);
    t.same(lines.slice(1, -1), Array.from({ length: 11 }, (_, i) => `msg rare.x ${(i + 2) * 5000} seed m${(i + 2) * 5000}`), pattern);
    c.close();
  }
});
