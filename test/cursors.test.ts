/**
 * Durable cursors (PROTOCOL.md, "Durable cursors") over real TCP and a
 * real SQLite file: a cursor's start, marks that never move back and are
 * written with the journal's commit, per-user names, restarts and kill -9,
 * retention past a mark, lag, limits and bad input.
 */
import t from 'tap';
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { BLOCK_SIZE } from '../src/store/schema.js';
import { Store } from '../src/store/store.js';
import { LineClient, startServer, stat, tempDir } from './helpers.js';
import { serve } from './cli-helpers.js';

t.test('a cursor starts at the end, resumes after its mark, and belongs to its user', { timeout: 15000 }, async (t) => {
  const { port } = await startServer(t);
  const bob = await LineClient.login(port, 'bob');
  bob.write('send news zero');
  t.equal(await bob.line(), 'ok send 1');
  let alice = await LineClient.login(port, 'alice');
  alice.write('recv news as c1');
  t.equal(await alice.line(), 'ok recv news as c1 after 1', 'a new cursor: only new messages');
  bob.write('send news one', 'send news two', 'send news three');
  t.same(await bob.lines(3), ['ok send 2', 'ok send 3', 'ok send 4']);
  t.same(await alice.lines(3), ['msg news 2 bob one', 'msg news 3 bob two', 'msg news 4 bob three']);
  alice.write('mark c1 3', 'mark c1 2');
  t.same(await alice.lines(2), ['ok mark c1 3', 'ok mark c1 3'], 'a mark never moves back');
  alice.close();

  bob.write('send news four');
  t.equal(await bob.line(), 'ok send 5');
  alice = await LineClient.login(port, 'alice');
  alice.write('recv news as c1');
  t.same(await alice.lines(3), ['ok recv news as c1 after 3', 'msg news 4 bob three', 'msg news 5 bob four'], 'what was not marked comes again');
  alice.write('cursors');
  t.same(await alice.lines(2), ['cursor c1 news 3 2', 'ok cursors 1']);
  bob.write('send news five');
  t.equal(await alice.line(), 'msg news 6 bob five', 'then live');

  const carol = await LineClient.login(port, 'carol');
  carol.write('cursors', 'recv news as c1', 'mark c1 6', 'cursors');
  t.same(await carol.lines(5), ['ok cursors 0', 'ok recv news as c1 after 6', 'ok mark c1 6', 'cursor c1 news 6 0', 'ok cursors 1'], "carol's c1 is her own");
  alice.write('cursors', 'forget c1', 'forget c1', 'cursors');
  t.same(await alice.lines(5), [
    'cursor c1 news 3 3',
    'ok cursors 1',
    'ok forget c1',
    'err notfound you have no cursor c1; recv <pattern> as c1 makes one',
    'ok cursors 0',
  ]);
  for (const c of [alice, bob, carol]) c.close();
});

t.test("a new cursor's since and last; an existing one keeps its mark and its pattern", { timeout: 15000 }, async (t) => {
  const { port } = await startServer(t);
  const tx = await LineClient.login(port, 'tx');
  tx.write('send a.x 1', 'send a.y 2', 'send b 3', 'send a.x 4', 'send a.y 5');
  await tx.lines(5);
  const rx = await LineClient.login(port, 'rx');
  rx.write('recv a.* as w last 2');
  t.same(await rx.lines(3), ['ok recv a.* as w after 3', 'msg a.x 4 tx 4', 'msg a.y 5 tx 5'], 'last 2: the mark is just before them');
  rx.write('leave a.*', 'recv a.* as w since 0');
  t.same(await rx.lines(4), ['ok leave a.*', 'ok recv a.* as w after 3', 'msg a.x 4 tx 4', 'msg a.y 5 tx 5'], 'since of an existing cursor is ignored');
  rx.write('recv b as w');
  t.equal(await rx.line(), 'err syntax cursor w follows a.*; recv a.* as w, or forget w first');
  rx.write('recv a.> as s since 1', 'recv > as later since 99');
  t.same(await rx.lines(5), ['ok recv a.> as s after 1', 'msg a.y 2 tx 2', 'msg a.x 4 tx 4', 'msg a.y 5 tx 5', 'ok recv > as later after 5'], 'a start past the end is now');
  rx.write('cursors');
  t.same(await rx.lines(4), ['cursor later > 5 0', 'cursor s a.> 1 3', 'cursor w a.* 3 2', 'ok cursors 3'], 'by name, with their lag');
  tx.close();
  rx.close();
});

t.test("marks are written with the journal's commit: one per turn, however many marks", { timeout: 15000 }, async (t) => {
  const { server, port, db } = await startServer(t);
  const c = await LineClient.login(port, 'alice');
  c.write('recv t as c');
  t.equal(await c.line(), 'ok recv t as c after 0');
  c.write(...Array.from({ length: 20 }, (_, i) => `send t ${i + 1}`));
  await c.lines(20);
  const commits = stat(server.stats(), 'journal_commits');
  c.write(...Array.from({ length: 20 }, (_, i) => `mark c ${i + 1}`), 'send t last');
  const replies = await c.lines(21);
  t.same(replies.slice(0, 20), Array(20).fill('ok mark c 20'), 'every mark of the turn answered with the mark stored');
  t.equal(replies[20], 'ok send 21');
  t.equal(stat(server.stats(), 'journal_commits') - commits, 1, 'twenty marks and a send: one transaction');
  const raw = new Database(db, { readonly: true });
  t.teardown(() => raw.close());
  t.same(raw.prepare('SELECT user, name, pattern, mark FROM cursors').all(), [{ user: 'alice', name: 'c', pattern: 't', mark: 20 }]);
  c.close();
});

t.test('marks survive kill -9 of the daemon', { timeout: 30000 }, async (t) => {
  const db = join(tempDir(t), 'bus.db');
  const first = await serve(['--db', db]);
  let c = await LineClient.login(first.port, 'alice');
  c.write('recv t as c', 'send t 1', 'send t 2', 'send t 3', 'mark c 2');
  t.same(await c.lines(5), ['ok recv t as c after 0', 'ok send 1', 'ok send 2', 'ok send 3', 'ok mark c 2']);
  first.child.kill('SIGKILL');
  await new Promise((resolve) => first.child.on('close', resolve));
  c.close();
  const again = await serve(['--db', db]);
  // A clean stop: the daemon's coverage is written at exit.
  t.teardown(async () => {
    again.child.kill('SIGTERM');
    await new Promise((resolve) => again.child.on('close', resolve));
  });
  c = await LineClient.login(again.port, 'alice');
  c.write('recv t as c');
  t.same(await c.lines(2), ['ok recv t as c after 2', 'msg t 3 alice 3']);
  c.close();
});

t.test('retention never skips past a mark silently', { timeout: 15000 }, async (t) => {
  const { server, port } = await startServer(t, { retainMessages: 2, retentionIntervalMs: 3600_000 });
  let c = await LineClient.login(port, 'alice');
  c.write('recv t as c');
  t.equal(await c.line(), 'ok recv t as c after 0');
  c.close();
  const tx = await LineClient.login(port, 'tx');
  // One commit, one page, each: retention deletes whole pages.
  for (let i = 1; i <= 5; i++) {
    tx.write(`send t ${i}`);
    t.equal(await tx.line(), `ok send ${i}`);
  }
  t.equal(await server.runRetention(), 3);
  c = await LineClient.login(port, 'alice');
  c.write('cursors', 'recv t as c');
  t.same(await c.lines(5), ['cursor c t 0 2', 'ok cursors 1', 'ok recv t as c after 0 journal starts at 4', 'msg t 4 tx 4', 'msg t 5 tx 5']);
  c.close();
  tx.close();
});

t.test('the lag of a cursor blocks behind is counted in steps, and exactly', { timeout: 30000 }, async (t) => {
  const db = join(tempDir(t), 'bus.db');
  const rows = 3 * BLOCK_SIZE;
  const store = Store.open(db);
  const batch = Array.from({ length: 256 }, (_, i) => ({ topic: i === 7 ? 'rare' : 'busy', sender: 's', body: 'x' }));
  for (let i = 0; i < rows; i += batch.length) store.journal.append(batch, 1);
  store.close();
  const { port } = await startServer(t, { db });
  const c = await LineClient.login(port, 'alice');
  c.write('recv rare as far since 0', 'cursors');
  const lines = await c.until('ok cursors');
  const rare = rows / batch.length;
  t.equal(lines[0], 'ok recv rare as far after 0');
  t.equal(lines.filter((line) => line.startsWith('msg rare ')).length, rare);
  t.same(lines.slice(-2), [`cursor far rare 0 ${rare}`, 'ok cursors 1'], 'three blocks behind: every one of them counted');
  c.write('mark far 8', 'cursors');
  t.same(await c.lines(3), ['ok mark far 8', `cursor far rare 8 ${rare - 1}`, 'ok cursors 1']);
  c.close();
});

t.test('limits and bad input: one clear err line each, nothing changed', { timeout: 15000 }, async (t) => {
  const { server, port } = await startServer(t, { maxCursors: 2 });
  const c = await LineClient.login(port, 'alice');
  c.write('send t 1', 'recv t as a', 'recv t as b', 'recv t as c');
  t.same(await c.lines(4), [
    'ok send 1',
    'ok recv t as a after 1',
    'ok recv t as b after 1',
    'err busy you have 2 cursors, the most one user may (--max-cursors); forget one first',
  ]);
  c.write('mark nope 1', 'mark a 2', 'mark a x', 'recv t as bad name', 'recv t as bad/name', 'forget nope');
  t.same(await c.lines(6), [
    'err notfound you have no cursor nope; recv <pattern> as nope makes one',
    "err notfound no message has id 2 yet (the journal's last is 1); mark the id of a message you received",
    "err syntax 'x' is not a message id (a whole number); usage: mark <cursor> <id>",
    "err syntax 'name' after the cursor name: a cursor name has no spaces; usage: recv <pattern> [as <cursor>] [since <id|duration|time> | last <n>]",
    "err syntax a cursor name is 1 to 64 letters, digits, '-', '_' or '.'; usage: recv <pattern> [as <cursor>] [since <id|duration|time> | last <n>]",
    'err notfound you have no cursor nope; recv <pattern> as nope makes one',
  ]);
  c.write('cursors');
  t.same(await c.lines(3), ['cursor a t 1 0', 'cursor b t 1 0', 'ok cursors 2'], 'the cursors are as they were');
  t.equal(stat(server.stats(), 'cursors'), 2);
  t.equal(stat(server.stats(), 'max_cursors'), 2);
  c.close();
});
