/**
 * PROTOCOL.md, "Journal": a send is acknowledged only once committed. A
 * kill -9 of the daemon while one client pipelines sends and another
 * receives them: after the restart, every message whose `ok send` came is
 * in the journal, under its id, with its body, in a page of its commit
 * (the WAL, grown ahead of the commits with zeros, recovers with them);
 * ids go on after the last one journaled.
 */
import t from 'tap';
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { LineClient, tempDir } from './helpers.js';
import { serve } from './cli-helpers.js';

/** Sends in flight at once. */
const WINDOW = 400;

t.test('kill -9 under pipelined sends loses no acknowledged message', { timeout: 60000 }, async (t) => {
  const db = join(tempDir(t), 'bus.db');
  const first = await serve(['--db', db]);
  const rx = await LineClient.login(first.port, 'rx');
  rx.write('recv crash.>');
  t.equal(await rx.line(), 'ok recv crash.>');
  const tx = await LineClient.login(first.port, 'tx');
  /** Body of each message by id, as acknowledged. */
  const acked = new Map<number, string>();
  let sent = 0;
  let received = 0;
  const receiving = (async () => {
    for (let line = await rx.line(); line !== undefined; line = await rx.line()) received++;
  })();
  // Sends keep coming, a window at a time, until the daemon is killed
  // (after the receiver has seen a few thousand, mid-stream).
  const sending = (async () => {
    const bodies: string[] = [];
    for (;;) {
      while (bodies.length < WINDOW) {
        const body = `m${++sent} ${'x'.repeat(sent % 97)}`;
        bodies.push(body);
        tx.write(`send crash.${sent % 3} ${body}`);
      }
      const reply = await tx.line();
      if (reply === undefined) return;
      const body = bodies.shift() as string;
      const match = /^ok send (\d+)$/.exec(reply);
      if (!match) throw new Error(`unexpected reply ${reply}`);
      acked.set(Number(match[1]), body);
      if (acked.size === 5000) first.child.kill('SIGKILL');
    }
  })();
  await sending;
  await receiving;
  tx.close();
  rx.close();
  t.ok(acked.size >= 5000 && received > 0, `killed with ${acked.size} acknowledged, ${received} delivered, ${sent} sent`);

  const again = await serve(['--db', db]);
  t.teardown(() => again.child.kill('SIGTERM'));
  const check = await LineClient.login(again.port, 'check');
  check.write('replay crash.> since 0');
  const replayed = new Map<number, string>();
  for (let line = await check.line(); line !== undefined && !line.startsWith('ok replay'); line = await check.line()) {
    const [, , id, , ...body] = line.split(' ');
    replayed.set(Number(id), body.join(' '));
  }
  const lost = [...acked].filter(([id, body]) => replayed.get(id) !== body);
  t.same(lost, [], 'every acknowledged message, with its id and body');
  const ids = [...replayed.keys()];
  t.same(ids, Array.from({ length: ids.length }, (_, i) => i + 1), 'ids 1 to the last, none missing');
  check.write('send crash.after one more');
  t.equal(await check.line(), `ok send ${ids.length + 1}`, 'ids go on after the last journaled');
  check.close();

  const file = new Database(db, { readonly: true });
  t.teardown(() => file.close());
  t.equal(file.prepare('SELECT count(*) FROM messages').pluck().get(), ids.length + 1, 'the view agrees');
  t.equal(file.prepare('SELECT total(count) FROM pages').pluck().get(), ids.length + 1, 'and the pages');
});
