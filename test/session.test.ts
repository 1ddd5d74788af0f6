/** Sessions and handlers over an in-memory link: ordering and failures. */
import t from 'tap';
import { bench } from './memory-link.js';

t.test('a message committed before a reply it waited behind comes after that reply', async (t) => {
  const b = bench(t);
  const a = b.session();
  const z = b.session();
  a.link.send('login a pw\nrecv t\n');
  z.link.send('login z pw\n');
  await b.lines(a.link, 3);
  await b.lines(z.link, 2);
  // In one turn: z's send first, then a's. z's message (id 1) reaches a
  // while a's own send still waits for its commit: it waits behind it.
  z.link.send('send t from z\n');
  a.link.send('send t2 from a\n');
  t.same(await b.lines(a.link, 5), ['hello linebus test', 'ok login a', 'ok recv t', 'ok send 2', 'msg t 1 z from z']);
  t.same(await b.lines(z.link, 3), ['hello linebus test', 'ok login z', 'ok send 1']);
});

t.test('a command that fails answers err internal, and the session goes on', async (t) => {
  const b = bench(t);
  const { link } = b.session();
  link.send('login a pw\n');
  await b.lines(link, 2);
  // The reader fails: its database is gone.
  b.store.close();
  link.send('replay > since 0\nping still here\n');
  t.same((await b.lines(link, 4)).slice(2), ['err internal the server could not finish that command; try again', 'pong still here']);
});

t.test("a telnet timing mark waits behind a reply that is not known yet", async (t) => {
  const b = bench(t);
  const { link } = b.session();
  link.send('login a pw\n');
  await b.lines(link, 2);
  link.send(Buffer.concat([Buffer.from('send t one\n'), Buffer.from([0xff, 0xfd, 0x06]), Buffer.from('ping\n')]));
  t.same((await b.lines(link, 5)).slice(2), ['ok send 1', '\u00ff\u00fb\u0006pong'], 'the answer after the ok it waited for');
});

t.test('a client that goes away in the middle of a replay, a last-n scan or a lag count ends it', async (t) => {
  const b = bench(t);
  // 40,000 rows; 'rare.x' one in 10,000, so a last-n scan goes far back.
  b.store.journal.append(Array.from({ length: 40000 }, (_, i) => ({ topic: i % 10000 === 5 ? 'rare.x' : 'busy', sender: 's', body: `${i}` })), 1);
  // A cursor more than a block behind: `cursors` counts its lag in steps.
  const owner = b.session();
  owner.link.send('login a pw\nrecv rare.* as far since 0\n');
  t.equal((await b.lines(owner.link, 7))[2], 'ok recv rare.* as far after 0');
  for (const command of ['replay > since 0', 'recv rare.* last 3', 'recv > since 0', 'cursors']) {
    const { link } = b.session();
    link.send('login a pw\n');
    await b.lines(link, 2);
    // The client reads nothing: its link holds more than a page (and less
    // than --max-pending).
    link.writableLength = 4 << 20;
    const waiting = link.waited();
    link.send(`${command}\nping after\n`);
    await waiting;
    t.equal(b.stats.catchUpsWaiting, 1, `${command}: waiting for the client`);
    link.close();
    await b.turn.ended();
    t.equal(b.stats.catchUpsWaiting, 0, `${command}: the wait ends with the link`);
    t.notOk(link.lines().some((line) => /^ok (replay|cursors)/.test(line) || line === 'pong after'), `${command}: nothing after it is answered`);
  }
});
