/** linebus tail: reading the journal as an operator does. */
import t from 'tap';
import { spawn } from 'node:child_process';
import { getEventListeners } from 'node:events';
import { openSync } from 'node:fs';
import { join } from 'node:path';
import { Store } from '../src/store/store.js';
import { formatter, tail } from '../src/cli/tail.js';
import { sinceOption } from '../src/cli/options.js';
import { escapeControls, useColour } from '../src/cli/display.js';
import type { TailOptions } from '../src/cli/tail.js';
import { BIN, finish, linebus, nodeCommand, run } from './cli-helpers.js';
import { LineClient, startServer, tempDir } from './helpers.js';

const TS = Date.UTC(2026, 10, 22, 12, 0, 0);

function seed(db: string, topics: string[]): void {
  const journal = Store.open(db);
  journal.journal.append(topics.map((topic, i) => ({ topic, sender: 'seed', body: `body ${i + 1}` })), TS);
  journal.close();
}

function options(db: string, extra: Partial<TailOptions> = {}): TailOptions {
  return { db, follow: false, lines: undefined, topic: '>', since: undefined, json: false, pollMs: 20, ...extra };
}

async function collect(opts: TailOptions): Promise<string[]> {
  let out = '';
  await tail(opts, (text) => ((out += text), true), new AbortController().signal);
  return out.split('\n').filter((l) => l !== '');
}

t.test('-n, --since, --topic, --json', { timeout: 20000 }, async (t) => {
  const db = join(tempDir(t), 'bus.db');
  seed(db, Array.from({ length: 15 }, (_, i) => (i % 3 === 0 ? 'orders.eu' : i % 3 === 1 ? 'orders.us.west' : 'news')));
  const line = (id: number, topic: string): string => `${id} 2026-11-22T12:00:00.000Z ${topic} seed body ${id}`;
  const all = await collect(options(db));
  t.equal(all.length, 10, 'the last 10 by default');
  t.equal(all[0], line(6, 'news'));
  t.equal(all[9], line(15, 'news'));
  t.same(await collect(options(db, { lines: 2 })), [line(14, 'orders.us.west'), line(15, 'news')]);
  t.same(await collect(options(db, { lines: 0 })), []);
  t.equal((await collect(options(db, { since: { kind: 'id', id: 0 } }))).length, 15, '--since has no cap');
  t.same(await collect(options(db, { since: { kind: 'id', id: 12 }, lines: 5 })), [line(13, 'orders.eu'), line(14, 'orders.us.west'), line(15, 'news')]);
  t.same(await collect(options(db, { since: { kind: 'id', id: 3 }, lines: 2 })), [line(14, 'orders.us.west'), line(15, 'news')], 'with -n: the last n after the id');
  t.same(await collect(options(db, { topic: 'orders.>', lines: 3 })), [line(11, 'orders.us.west'), line(13, 'orders.eu'), line(14, 'orders.us.west')]);
  t.same(await collect(options(db, { topic: 'orders.*', lines: 2 })), [line(10, 'orders.eu'), line(13, 'orders.eu')]);
  t.same((await collect(options(db, { json: true, lines: 1 }))).map((l) => JSON.parse(l) as unknown), [
    { id: 15, ts: TS, topic: 'news', sender: 'seed', body: 'body 15' },
  ]);
  await t.rejects(collect(options(db, { topic: 'a.>.b' })), { message: "--topic: '>' may only be the last segment of a pattern" });
});

t.test('-f shows new messages as the daemon appends them, until stopped', { timeout: 20000 }, async (t) => {
  const { port, db } = await startServer(t);
  const c = await LineClient.login(port, 'tx');
  c.write('send orders.eu first', 'send other x');
  await c.lines(2);
  const stop = new AbortController();
  const seen: string[] = [];
  let notify: (() => void) | undefined;
  const following = tail(options(db, { follow: true, topic: 'orders.>' }), (text) => {
    seen.push(...text.split('\n').filter((l) => l !== ''));
    notify?.();
    return true;
  }, stop.signal);
  const waitFor = (count: number): Promise<void> =>
    new Promise((resolve) => {
      notify = () => seen.length >= count && resolve();
      notify();
    });
  await waitFor(1);
  t.match(seen[0], /^1 \S+ orders\.eu tx first$/);
  c.write('send orders.us second', 'send other y', 'send orders.eu.x third');
  await c.lines(3);
  await waitFor(3);
  t.match(seen.slice(1), [/^3 \S+ orders\.us tx second$/, /^5 \S+ orders\.eu\.x tx third$/]);
  stop.abort();
  await following;
  c.close();
});

t.test('an empty journal prints nothing', { timeout: 20000 }, async (t) => {
  const db = join(tempDir(t), 'empty.db');
  Store.open(db).close();
  t.same(await collect(options(db)), []);
  t.same(await collect(options(db, { since: { kind: 'id', id: 0 }, topic: 'a.>' })), []);
});

t.test('colour only on a terminal without NO_COLOR', async (t) => {
  t.equal(useColour({ isTTY: true }, {}), true);
  t.equal(useColour({ isTTY: true }, { NO_COLOR: '' }), false);
  t.equal(useColour({ isTTY: false }, {}), false);
  t.equal(useColour({}, {}), false);
  const row = { id: 7, ts: TS, topic: 't', sender: 's', body: 'b' };
  t.match(formatter(false, true, true)(row), /\u001b\[/);
  t.equal(formatter(false, false, false)(row), '7 2026-11-22T12:00:00.000Z t s b');
});

t.test('the CLI: | head -1 exits 0 without a stack trace; SIGTERM stops -f', { timeout: 30000 }, async (t) => {
  const db = join(tempDir(t), 'bus.db');
  seed(db, Array.from({ length: 30000 }, () => 'bulk'));
  const child = linebus(['tail', '--db', db, '--since', '0']);
  const done = finish(child);
  child.stdout.once('data', () => child.stdout.destroy());
  const result = await done;
  t.equal(result.code, 0);
  t.equal(result.stderr, '');

  const follower = linebus(['tail', '-f', '-n', '1', '--db', db]);
  const followed = finish(follower);
  await new Promise((resolve) => follower.stdout.once('data', resolve));
  follower.kill('SIGTERM');
  const end = await followed;
  t.equal(end.code, 0);
  t.equal(end.stderr, '');

  const [node, ...nodeArgs] = nodeCommand() as [string, ...string[]];
  const full = spawn(node, [...nodeArgs, BIN, 'tail', '--db', db, '--since', '0'], { stdio: ['ignore', openSync('/dev/full', 'w'), 'pipe'] });
  let fullErr = '';
  full.stderr?.setEncoding('utf8').on('data', (text: string) => (fullErr += text));
  t.equal(await new Promise((resolve) => full.on('close', resolve)), 1, 'a full disk is exit 1');
  t.equal(fullErr, 'linebus: cannot write to standard output: ENOSPC: no space left on device, write\n');

  const missing = await run(['tail', '--db', join(tempDir(t), 'none.db')]);
  t.equal(missing.code, 1);
  t.match(missing.stderr, /^linebus: .*none\.db: no such database; give --db \(or LINEBUS_DB\) the daemon's journal/);
  const bad = await run(['tail', '--db', db, '-n', 'x']);
  t.equal(bad.code, 1);
  t.match(bad.stderr, /expected a whole number/);
  const recent = await run(['tail', '--db', db, '--since', '2000-01-01', '-n', '2']);
  t.equal(recent.code, 0, '--since takes a time (and a duration), as the protocol does');
  t.equal(recent.stdout.split('\n').length, 3);
  const badSince = await run(['tail', '--db', db, '--since', 'yesterday']);
  t.equal(badSince.code, 1);
  t.match(badSince.stderr, /'yesterday' is not an id, a duration \(90s, 15m, 2h, 7d\) or an ISO-8601 time\./);
});

t.test('--since a duration or a time; on a terminal, control characters are made visible', { timeout: 20000 }, async (t) => {
  const db = join(tempDir(t), 'bus.db');
  const hour = 3600_000;
  const store = Store.open(db);
  store.journal.append([{ topic: 'old', sender: 's', body: 'old' }], Date.now() - 3 * hour);
  store.journal.append([{ topic: 'new', sender: 's', body: 'red \u001b[31mx\u001b[0m\rforged\u0007\ttab' }], Date.now());
  store.close();
  const lines = async (extra: Partial<TailOptions>): Promise<string[]> => (await collect(options(db, extra))).map((l) => l.split(' ')[2] as string);
  t.same(await lines({ since: sinceOption('2h') }), ['new']);
  t.same(await lines({ since: sinceOption(new Date(Date.now() - 4 * hour).toISOString()) }), ['old', 'new']);
  const row = { id: 2, ts: TS, topic: 'new', sender: 's', body: 'red \u001b[31mx\u001b[0m\rforged\u0007\ttab' };
  t.equal(formatter(false, true, false)(row), '2 2026-11-22T12:00:00.000Z new s red \\x1b[31mx\\x1b[0m\\rforged\\x07\ttab');
  t.equal(formatter(false, false, false)(row), `2 2026-11-22T12:00:00.000Z new s ${row.body}`, 'into a pipe, as journaled');
  t.equal(escapeControls('\u0085\u009b'), '\\x85\\x9b', 'C1 too');
});

t.test('-f waits without piling up listeners on the stop signal', { timeout: 20000 }, async (t) => {
  const { port, db } = await startServer(t);
  const c = await LineClient.login(port, 'tx');
  const stop = new AbortController();
  const listeners: number[] = [];
  let wrote: () => void = () => {};
  const following = tail(options(db, { follow: true, pollMs: 5 }), () => {
    listeners.push(getEventListeners(stop.signal, 'abort').length);
    wrote();
    return true;
  }, stop.signal);
  // One message at a time, each written before the next is sent: twenty
  // waits, however slow the machine.
  for (let i = 0; i < 20; i++) {
    const written = new Promise<void>((resolve) => (wrote = resolve));
    c.write(`send t ${i}`);
    await c.line();
    await written;
  }
  stop.abort();
  await following;
  t.equal(listeners.length, 20, 'twenty writes while following');
  t.ok(listeners.every((n) => n <= 1), 'never more than the one of the wait under way');
  c.close();
});
