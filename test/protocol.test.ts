/**
 * The wire protocol over real TCP against a real daemon and SQLite file:
 * every rule of PROTOCOL.md but replay and catch-up (replay.test.ts).
 */
import t from 'tap';
import { LineClient, startServer } from './helpers.js';
import { version } from '../src/version.js';

t.test('greeting, login, help, ping, logoff', { timeout: 10000 }, async (t) => {
  const { port } = await startServer(t);
  const c = await LineClient.connect(port);
  t.equal(await c.line(), `hello linebus ${version()}`);
  c.write('help', 'ping', 'PING  two  spaces ', 'login alice secret', 'Help', 'logoff', 'ping after logoff');
  t.same(await c.rest(), [
    'ok help login recv replay leave send request reply mark cursors forget take ack nack touch pending ping tags topics who stats help logoff quit',
    'pong',
    'pong  two  spaces ',
    'ok login alice',
    'ok help login recv replay leave send request reply mark cursors forget take ack nack touch pending ping tags topics who stats help logoff quit',
    'ok logoff',
  ]);
});

t.test('before login only login, help, ping and logoff are accepted', { timeout: 10000 }, async (t) => {
  const { port } = await startServer(t);
  const c = await LineClient.connect(port);
  await c.line();
  c.write('recv a', 'replay a last 1', 'leave a', 'send a hi', 'topics', 'who a', 'stats', 'bogus', 'quit');
  const lines = await c.rest();
  t.same(lines.map((l) => l.split(' ').slice(0, 2).join(' ')), [
    'err auth', 'err auth', 'err auth', 'err auth', 'err auth', 'err auth', 'err auth', 'err syntax', 'ok logoff',
  ]);
  t.equal(lines[0], 'err auth log in first: login <user> <password>');
  t.equal(lines[7], "err syntax unknown command 'bogus'; try help");
});

t.test('send, recv, leave, no echo, one delivery per connection', { timeout: 10000 }, async (t) => {
  const { port } = await startServer(t);
  const alice = await LineClient.login(port, 'alice');
  const alice2 = await LineClient.login(port, 'alice');
  const bob = await LineClient.login(port, 'bob');
  alice.write('recv syslib', 'recv sys*', 'recv >');
  t.same(await alice.lines(3), ['ok recv syslib', 'ok recv sys*', 'ok recv >']);
  alice2.write('recv syslib');
  t.equal(await alice2.line(), 'ok recv syslib');
  bob.write('recv syslib');
  t.equal(await bob.line(), 'ok recv syslib');

  bob.write('send syslib disconnect  room1 room2 ');
  t.equal(await bob.line(), 'ok send 1');
  t.equal(await alice.line(), 'msg syslib 1 bob disconnect  room1 room2 ', 'once, though two patterns match');
  t.equal(await alice2.line(), 'msg syslib 1 bob disconnect  room1 room2 ');

  alice.write('send syslib connect room1 room2');
  t.equal(await alice.line(), 'ok send 2');
  t.equal(await alice2.line(), 'msg syslib 2 alice connect room1 room2', 'other connections of the same user get it');
  t.equal(await bob.line(), 'msg syslib 2 alice connect room1 room2');
  t.same(await alice.sync(), [], 'no echo to the sending connection');

  alice.write('leave syslib', 'leave syslib', 'leave >');
  t.same(await alice.lines(3), ['ok leave syslib', 'err notfound not receiving or taking syslib; recv it first, or check the spelling', 'ok leave >']);
  bob.write('send syslib three');
  t.equal(await bob.line(), 'ok send 3');
  t.equal(await alice2.line(), 'msg syslib 3 bob three');
  t.same(await alice.sync(), [], 'nothing after leave');
  alice.write('recv syslib', 'recv syslib');
  t.same(await alice.lines(2), ['ok recv syslib', 'ok recv syslib'], 'recv twice is fine');
  bob.write('send syslib four');
  t.equal(await alice.line(), 'msg syslib 4 bob four');
  t.same(await alice.sync(), [], 'and still delivered once');
  for (const c of [alice, alice2, bob]) c.close();
});

t.test('wildcard patterns', { timeout: 10000 }, async (t) => {
  const { port } = await startServer(t);
  const rx = await LineClient.login(port, 'rx');
  const tx = await LineClient.login(port, 'tx');
  rx.write('recv news.*.sport', 'recv weather.>');
  await rx.lines(2);
  const topics = ['news.europe.sport', 'news.sport', 'news.europe.x.sport', 'weather', 'weather.eu', 'weather.eu.rain', 'other'];
  for (const topic of topics) tx.write(`send ${topic} m`);
  t.same(await tx.lines(topics.length), topics.map((_, i) => `ok send ${i + 1}`));
  t.same(await rx.sync(), ['msg news.europe.sport 1 tx m', 'msg weather.eu 5 tx m', 'msg weather.eu.rain 6 tx m']);
  rx.close();
  tx.close();
});

t.test('pipelined commands are answered in order, across more than one commit', { timeout: 10000 }, async (t) => {
  const { port } = await startServer(t);
  const rx = await LineClient.login(port, 'rx');
  rx.write('recv t');
  await rx.line();
  const c = await LineClient.connect(port);
  await c.line();
  // More than the 256 sends one transaction takes.
  const sends = Array.from({ length: 600 }, (_, i) => `send t ${i}`);
  c.writeRaw(['login bob pw', ...sends, 'ping done', 'bogus', 'logoff', 'ping ignored'].join('\n') + '\n');
  const lines = await c.rest();
  t.same(lines, ['ok login bob', ...sends.map((_, i) => `ok send ${i + 1}`), 'pong done', "err syntax unknown command 'bogus'; try help", 'ok logoff']);
  const got = await rx.lines(600);
  t.same(got, sends.map((s, i) => `msg t ${i + 1} bob ${i}`), 'in id order');
  rx.close();
});

t.test('a half-closed client gets every reply, then the server closes', { timeout: 10000 }, async (t) => {
  const { port } = await startServer(t);
  const c = await LineClient.connect(port);
  c.socket.end('login ci token\nsend deploys web-3 done\nping\nsend deploys no newline at end');
  t.same(await c.rest(), [`hello linebus ${version()}`, 'ok login ci', 'ok send 1', 'pong', 'ok send 2']);
});

t.test('a half-closed receiver keeps receiving until it closes', { timeout: 10000 }, async (t) => {
  const { port } = await startServer(t);
  const rx = await LineClient.connect(port);
  rx.socket.end('login rx pw\nrecv alerts\n');
  t.same(await rx.lines(3), [`hello linebus ${version()}`, 'ok login rx', 'ok recv alerts']);
  const tx = await LineClient.login(port, 'tx');
  tx.write('send alerts one', 'send alerts two');
  t.same(await tx.lines(2), ['ok send 1', 'ok send 2']);
  t.same(await rx.lines(2), ['msg alerts 1 tx one', 'msg alerts 2 tx two']);
  rx.close();
  await rx.closed;
  tx.write('send alerts three');
  t.equal(await tx.line(), 'ok send 3');
  tx.close();
});

t.test('bad input gets a clear err and the connection stays usable', { timeout: 10000 }, async (t) => {
  const { port } = await startServer(t, { maxLine: 64 });
  const rx = await LineClient.login(port, 'rx');
  rx.write('recv t');
  await rx.line();
  const c = await LineClient.login(port, 'bob');
  c.writeRaw(Buffer.concat([
    Buffer.from('send t before\r\n'),
    Buffer.from(`send t ${'x'.repeat(100)}\n`),
    Buffer.from('send t caf\xe9\n', 'latin1'),
    Buffer.from([0xff, 0xfb, 0x01]),
    Buffer.from('send t after IAC\n  \n\t\n\n'),
    Buffer.from(`send t ${'y'.repeat(57)}\n`),
    Buffer.from(`send t ${'y'.repeat(58)}\n`),
    Buffer.from('SeNd t café ✓\n'),
  ]));
  t.same(await c.lines(7), [
    'ok send 1',
    'err toolong line is over the 64-byte limit and was dropped; send shorter lines',
    'err encoding line is not valid UTF-8 and was dropped; send UTF-8 text',
    'ok send 2',
    'ok send 3',
    'err toolong line is over the 64-byte limit and was dropped; send shorter lines',
    'ok send 4',
  ]);
  t.same(await rx.lines(4), ['msg t 1 bob before', 'msg t 2 bob after IAC', `msg t 3 bob ${'y'.repeat(57)}`, 'msg t 4 bob café ✓']);
  c.write('send $sys.x no', 'recv $sys.>');
  t.same(await c.lines(2), ["err denied topics starting with '$' belong to the server; clients may recv them but not send to them", 'ok recv $sys.>']);
  c.write('login again pw');
  t.equal(await c.line(), 'err auth already logged in as bob; log off and reconnect to change user');
  rx.close();
  c.close();
});

t.test('an endless line costs bounded memory and one err', { timeout: 20000 }, async (t) => {
  const { port } = await startServer(t, { maxLine: 1024 });
  const c = await LineClient.login(port, 'bob');
  const block = Buffer.alloc(64 * 1024, 0x61);
  for (let i = 0; i < 64; i++) c.writeRaw(block);
  c.write('', 'ping ok');
  t.same(await c.lines(2), ['err toolong line is over the 1024-byte limit and was dropped; send shorter lines', 'pong ok']);
  c.close();
});
