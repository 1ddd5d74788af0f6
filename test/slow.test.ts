/** A client that stops reading is cut off; nobody else notices. */
import t from 'tap';
import { LineClient, startServer, stat } from './helpers.js';

t.test('a receiver that stops reading gets err slow with its last id; others are unaffected', { timeout: 60000 }, async (t) => {
  const maxPending = 256 * 1024;
  const { server, port, logs } = await startServer(t, { maxPending });
  const slow = await LineClient.login(port, 'slow');
  const fine = await LineClient.login(port, 'fine');
  const tx = await LineClient.login(port, 'tx');
  slow.write('recv t');
  fine.write('recv t');
  t.equal(await slow.line(), 'ok recv t');
  t.equal(await fine.line(), 'ok recv t');
  slow.socket.pause();

  const body = 'x'.repeat(1000);
  let sent = 0;
  // Bounded: the kernel's socket buffers take a few MB before the server
  // itself has to hold anything; 64 MB is far past that.
  for (let batch = 0; batch < 1000 && server.stats().find(([k]) => k === 'slow_disconnects')?.[1] === 0; batch++) {
    const lines = Array.from({ length: 64 }, () => `send t ${body}`);
    tx.write(...lines);
    const acks = await tx.lines(64);
    const expected = lines.map(() => `ok send ${++sent}`);
    if (acks.join() !== expected.join()) t.same(acks, expected, 'acks in order');
    const delivered = await fine.lines(64);
    if (delivered.some((line) => !line?.startsWith('msg t '))) t.fail('fine receiver got something else');
  }
  t.same(server.stats().find(([k]) => k === 'slow_disconnects'), ['slow_disconnects', 1], 'the slow client was cut off');
  const warning = logs.find((l) => l.startsWith('warn slow consumer cut off'));
  t.ok(warning, 'and it is logged');
  t.ok(server.stats().find(([k]) => k === 'connections')?.[1] as number <= 3);

  slow.socket.resume();
  const got = await slow.rest();
  const last = got.pop() as string;
  const match = /^err slow you fell over 262144 bytes behind; last id sent (\d+); reconnect and recv <pattern> since (\d+)$/.exec(last);
  t.ok(match, `last line is err slow: ${last.slice(0, 80)}`);
  const ids = got.map((line) => Number(line.split(' ')[2]));
  t.same(ids, ids.map((_, i) => i + 1), 'every msg before it, in order, none skipped');
  t.equal(Number(match?.[1]), ids[ids.length - 1], 'the id in err slow is the last msg written');
  t.ok(ids.length < sent, 'the slow client did not get everything');

  tx.write('send t after');
  t.equal(await tx.line(), `ok send ${sent + 1}`);
  t.equal(await fine.line(), `msg t ${sent + 1} tx after`, 'the others go on');
  fine.close();
  tx.close();
});

t.test('a client that never reads its replies is cut off too', { timeout: 60000 }, async (t) => {
  const { server, port } = await startServer(t, { maxPending: 64 * 1024 });
  const c = await LineClient.login(port, 'noreader');
  c.socket.pause();
  const ping = `ping ${'p'.repeat(1000)}\n`.repeat(64);
  for (let i = 0; i < 4000 && !c.socket.destroyed; i++) {
    if (server.stats().find(([k]) => k === 'slow_disconnects')?.[1] === 1) break;
    await new Promise<void>((resolve) => c.socket.write(ping, () => resolve()));
  }
  t.same(server.stats().find(([k]) => k === 'slow_disconnects'), ['slow_disconnects', 1]);
  c.close();
});

t.test('a client that pipelines sends and never reads their acknowledgements is cut off', { timeout: 60000 }, async (t) => {
  const { server, port } = await startServer(t, { maxPending: 64 * 1024 });
  const c = await LineClient.login(port, 'noreader');
  c.socket.pause();
  const slow = (): unknown => server.stats().find(([k]) => k === 'slow_disconnects')?.[1];
  const batch = 'send t x\n'.repeat(10000);
  let batches = 0;
  for (; batches < 300 && slow() === 0 && !c.socket.destroyed; batches++) {
    await new Promise<void>((resolve) => c.socket.write(batch, () => resolve()));
  }
  t.equal(slow(), 1, `cut off after at most ${batches * 10000} sends`);
  c.close();
});

t.test('a receiver that reads is not cut off by one commit bigger than --max-pending', { timeout: 60000 }, async (t) => {
  const maxPending = 64 * 1024;
  const { server, port } = await startServer(t, { maxPending });
  const reader = await LineClient.login(port, 'reader');
  reader.write('recv burst.>');
  t.equal(await reader.line(), 'ok recv burst.>');
  const tx = await LineClient.login(port, 'tx');
  const body = 'b'.repeat(1000);
  tx.write(...Array.from({ length: 200 }, (_, i) => `send burst.x ${i} ${body}`));
  const acks = await tx.lines(200);
  t.same(acks, Array.from({ length: 200 }, (_, i) => `ok send ${i + 1}`));
  const largest = server.stats().find(([k]) => k === 'journal_largest_commit')?.[1] as number;
  t.ok(largest * 1000 > maxPending, `a commit brought the reader ${largest} messages, over --max-pending`);
  const got = await reader.lines(200);
  t.same(got, Array.from({ length: 200 }, (_, i) => `msg burst.x ${i + 1} tx ${i} ${body}`), 'every message, in order');
  t.same(server.stats().find(([k]) => k === 'slow_disconnects'), ['slow_disconnects', 0]);
  reader.close();
  tx.close();
});

t.test('a client that pipelines commands with long answers and reads none is cut off in that turn', { timeout: 30000 }, async (t) => {
  const { server, port } = await startServer(t, { maxPending: 64 * 1024 });
  const tx = await LineClient.login(port, 'tx');
  const topics = Array.from({ length: 200 }, (_, i) => `t${i}.${'n'.repeat(200)}`);
  tx.write(...topics.map((topic) => `send ${topic} x`));
  await tx.lines(200);
  const hog = await LineClient.login(port, 'hog');
  hog.socket.pause();
  // 1000 answers of some 45 kB each from one read: 45 MB if nothing stopped them.
  hog.write(...Array.from({ length: 1000 }, () => 'topics'));
  while (stat(server.stats(), 'slow_disconnects') === 0) await tx.sync();
  t.pass('cut off, not left holding what it asked for');
  tx.close();
});
