/**
 * Request and reply (PROTOCOL.md, "Request and reply") over real TCP: the
 * first reply answers, both sides are journaled, the request holds the
 * replies after it while messages keep arriving, and every way it can go
 * wrong is one clear line.
 */
import t from 'tap';
import { LineClient, startServer } from './helpers.js';
import { version } from '../src/version.js';

t.test('a question, its answer, and both in the journal', { timeout: 10000 }, async (t) => {
  const { port } = await startServer(t);
  const bot = await LineClient.login(port, 'bot');
  bot.write('recv ask.>');
  await bot.line();
  const asker = await LineClient.login(port, 'asker');
  asker.write('request ask.time what time is it?');
  t.equal(await bot.line(), 'msg ask.time 1 asker what time is it?');
  bot.write('reply 1 noon, or so', 'reply 1 again');
  t.same(await bot.lines(2), ['ok reply 1', 'err notfound no one waits for an answer to 1: answered already, timed out, or the asker left']);
  t.equal(await asker.line(), 'ok request 1 bot noon, or so');
  asker.write('replay > since 0');
  t.same(await asker.lines(3), ['msg ask.time 1 asker what time is it?', 'msg $reply.1 2 bot noon, or so', 'ok replay > 2']);
  bot.close();
  asker.close();
});

t.test('a request holds the replies after it; messages keep arriving meanwhile', { timeout: 10000 }, async (t) => {
  const { port } = await startServer(t);
  const bot = await LineClient.login(port, 'bot');
  bot.write('recv ask');
  await bot.line();
  const asker = await LineClient.login(port, 'asker');
  asker.write('recv news');
  t.equal(await asker.line(), 'ok recv news');
  asker.write('request ask ready?', 'ping after');
  t.equal(await bot.line(), 'msg ask 1 asker ready?');
  const tx = await LineClient.login(port, 'tx');
  tx.write('send news meanwhile');
  t.equal(await tx.line(), 'ok send 2');
  t.equal(await asker.line(), 'msg news 2 tx meanwhile', 'delivered while the request waits');
  bot.write('reply 1 yes');
  t.equal(await bot.line(), 'ok reply 1');
  t.same(await asker.lines(2), ['ok request 1 bot yes', 'pong after'], 'the ping waited for the answer');
  for (const c of [bot, asker, tx]) c.close();
});

t.test('no answer in time, a late or unknown reply, an asker gone, a server topic', { timeout: 10000 }, async (t) => {
  const { port, waitForLog } = await startServer(t);
  const bot = await LineClient.login(port, 'bot');
  bot.write('recv ask');
  await bot.line();
  const asker = await LineClient.login(port, 'asker');
  asker.write('request ask within 200ms anyone?', 'request $reply.1 x', 'request ask within 5x hi');
  t.equal(await bot.line(), 'msg ask 1 asker anyone?');
  t.same(await asker.lines(3), [
    'err timeout no reply to request 1 within 200ms; it stays in the journal as 1',
    "err denied topics starting with '$' belong to the server; clients may recv them but not send to them",
    "err syntax '5x' is not a duration; use a number and a unit: 500ms, 30s, 5m, 2h, 1d; usage: request <topic> [within <duration>] <message>",
  ]);
  bot.write('reply 1 late', 'reply 99 never asked');
  t.same(await bot.lines(2), [
    'err notfound no one waits for an answer to 1: answered already, timed out, or the asker left',
    'err notfound no one waits for an answer to 99: answered already, timed out, or the asker left',
  ]);
  asker.write('request ask still there?');
  t.equal(await bot.line(), 'msg ask 2 asker still there?');
  // A reset, not a half-close: after a half-close the asker still waits for its answer.
  asker.socket.resetAndDestroy();
  await waitForLog(/^debug closed .*"user":"asker"/);
  bot.write('reply 2 yes');
  t.equal(await bot.line(), 'err notfound no one waits for an answer to 2: answered already, timed out, or the asker left');
  bot.write('stats');
  t.ok((await bot.until('ok stats')).includes('stat requests_waiting 0'));
  bot.close();
});

t.test('printf ... | nc -N: a half-closed asker still gets its answer, then the server closes', { timeout: 10000 }, async (t) => {
  const { port } = await startServer(t);
  const bot = await LineClient.login(port, 'bot');
  bot.write('recv ask');
  await bot.line();
  const asker = await LineClient.connect(port);
  asker.socket.end('login asker x\nrequest ask deploy?\n');
  t.equal(await bot.line(), 'msg ask 1 asker deploy?');
  bot.write('reply 1 go');
  t.equal(await bot.line(), 'ok reply 1');
  t.same(await asker.rest(), [`hello linebus ${version()}`, 'ok login asker', 'ok request 1 bot go']);
  bot.close();
});

t.test('within longer than a Node timer can wait (25d, 30d) waits: the answer comes, no timeout at once', { timeout: 10000 }, async (t) => {
  const { port } = await startServer(t);
  const bot = await LineClient.login(port, 'bot');
  bot.write('recv ask');
  await bot.line();
  const asker = await LineClient.login(port, 'asker');
  for (const [id, within] of [[1, '25d'], [3, '30d']] as const) {
    asker.write(`request ask within ${within} long one`);
    t.equal(await bot.line(), `msg ask ${id} asker long one`);
    // The asker's connection still waits: a timeout would already be its reply.
    await bot.sync();
    bot.write(`reply ${id} here`);
    t.equal(await bot.line(), `ok reply ${id}`);
    t.equal(await asker.line(), `ok request ${id} bot here`, `within ${within}`);
  }
  asker.write('request ask within 31d too long');
  t.equal(await asker.line(), 'err syntax within is from 1ms to 30d; usage: request <topic> [within <duration>] <message>');
  bot.close();
  asker.close();
});
