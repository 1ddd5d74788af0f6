/**
 * Access control (PROTOCOL.md, "Access control"; CLI.md, "Access file"):
 * pattern relations and the file's rules as tables, then a daemon over
 * real TCP that sends, delivers, replays, counts and lists only what each
 * user's rules allow, and `serve --acl` refusing a broken file.
 */
import t from 'tap';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Acl } from '../src/bus/acl.js';
import { covers, overlaps } from '../src/protocol/patterns.js';
import { LineClient, startServer, tempDir } from './helpers.js';
import { run, serve } from './cli-helpers.js';

const RULES = `# the shop
user alice
topic readwrite orders.>      # her own
topic read alerts.*
topic deny orders.audit.>
user ci
topic write deploys
pattern readwrite users.%u.>
`;

t.test('overlaps and covers', async (t) => {
  const rows: [string, string, boolean, boolean][] = [
    // a, b, some topic matches both, every topic of b matches a
    ['orders.>', 'orders.eu', true, true],
    ['orders.>', 'orders', false, false],
    ['orders.*', 'orders.eu.x', false, false],
    ['orders.*', 'orders.>', true, false],
    ['>', 'a.b.c', true, true],
    ['*.eu', 'orders.*', true, false],
    ['a.b', 'a.b', true, true],
    ['a.b', 'a.c', false, false],
    ['a.*.c', 'a.b.*', true, false],
    ['a.>', 'a.*.>', true, true],
    ['a.*.>', 'a.>', true, false],
    ['*', 'a.b', false, false],
    ['a.b', 'a.*', true, false],
  ];
  for (const [a, b, overlap, cover] of rows) {
    t.equal(overlaps(a, b), overlap, `${a} overlaps ${b}`);
    t.equal(overlaps(b, a), overlap, `${b} overlaps ${a}`);
    t.equal(covers(a, b), cover, `${a} covers ${b}`);
  }
});

t.test('the rules: deny wins, no rule is nothing, %u is the login', async (t) => {
  const acl = Acl.parse(RULES);
  const rows: [string, string, boolean, boolean][] = [
    ['alice', 'orders.eu', true, true],
    ['alice', 'orders.audit.x', false, false],
    ['alice', 'alerts.disk', true, false],
    ['alice', 'alerts.disk.sda', false, false],
    ['alice', 'deploys', false, false],
    ['alice', 'users.alice.inbox', true, true],
    ['alice', 'users.bob.inbox', false, false],
    ['ci', 'deploys', false, true],
    ['bob', 'users.bob.inbox', true, true],
    ['bob', 'orders.eu', false, false],
    ['a.b', 'users.a.b.inbox', false, false],
  ];
  for (const [user, topic, read, write] of rows) {
    t.equal(acl.mayRead(user, topic), read, `${user} reads ${topic}`);
    t.equal(acl.mayWrite(user, topic), write, `${user} writes ${topic}`);
  }
  t.same(
    ['orders.>', 'orders.eu', 'orders.audit.>', '>', 'alerts.>', 'deploys'].map((pattern) => acl.reach('alice', pattern)),
    ['some', 'all', 'none', 'some', 'some', 'none'],
  );
  t.equal(acl.reach('bob', '>'), 'some');
  // The caches are bounded: past them they start again, and decide the same.
  for (let i = 0; i < 5000; i++) acl.mayRead('alice', `orders.${i}`);
  for (let i = 0; i < 1100; i++) acl.mayRead(`user${i}`, `users.user${i}.x`);
  t.same([acl.mayRead('alice', 'orders.1'), acl.mayRead('alice', 'alerts.disk'), acl.mayRead('user7', 'users.user7.x'), acl.mayRead('user7', 'users.user8.x')], [true, true, true, false]);
});

t.test('a broken file: the line and what is wrong with it', async (t) => {
  const rows: [string, number, RegExp][] = [
    ['user alice\ntopic read\n', 2, /'topic' takes an access/],
    ['user alice\ntopic read orders.>\nallow all\n', 3, /unknown keyword 'allow'/],
    ['topic read orders.>\n', 1, /before any 'user' line/],
    ['user alice\ntopic read orders..x\n', 2, /empty segment/],
    ['user\n', 1, /'user' takes one name/],
    ['user alice\ntopic sometimes orders\n', 2, /read, write, readwrite or deny/],
  ];
  for (const [text, line, message] of rows) {
    t.throws(() => Acl.parse(text), { line, message }, JSON.stringify(text));
  }
  t.equal(Acl.parse('user alice\ntopic orders.>\n').mayWrite('alice', 'orders.eu'), true, 'no access word: readwrite, as in Mosquitto');
});

t.test('over TCP: sends, deliveries, replays, lags and lists follow the rules', { timeout: 15000 }, async (t) => {
  const { server, port } = await startServer(t, { acl: Acl.parse(RULES) });
  const alice = await LineClient.login(port, 'alice');
  const ci = await LineClient.login(port, 'ci');
  const bob = await LineClient.login(port, 'bob');
  alice.write('recv >', 'recv deploys', 'send deploys x', 'recv orders.audit.>', 'take orders.> as g', 'take orders.eu as g');
  t.same(await alice.lines(6), [
    'ok recv >',
    "err denied you may read no topic of deploys (the access file's rules); ask the operator",
    "err denied you may not send to deploys (the access file's rules); ask the operator",
    "err denied you may read no topic of orders.audit.> (the access file's rules); ask the operator",
    "err denied you may not read every topic of orders.> (the access file's rules); take a pattern your rules allow whole",
    'ok take orders.eu as g',
  ]);
  bob.write('recv >', 'send orders.eu x', 'send users.bob.inbox hi', 'recv orders.>');
  t.same(await bob.lines(4), [
    'ok recv >',
    "err denied you may not send to orders.eu (the access file's rules); ask the operator",
    'ok send 1',
    "err denied you may read no topic of orders.> (the access file's rules); ask the operator",
  ]);
  ci.write('send deploys web-3', 'send orders.audit.q x', 'recv deploys');
  t.same(await ci.lines(3), [
    'ok send 2',
    "err denied you may not send to orders.audit.q (the access file's rules); ask the operator",
    "err denied you may read no topic of deploys (the access file's rules); ask the operator",
  ]);
  const shop = await LineClient.login(port, 'shop');
  server.acl = Acl.parse(`${RULES}user shop\ntopic write >\n`);
  shop.write('send orders.eu paid', 'send orders.audit.x secret', 'send alerts.disk full', 'send deploys web-4');
  t.same(await shop.lines(4), ['ok send 3', 'ok send 4', 'ok send 5', 'ok send 6'], 'a reload applies at once');
  t.same((await alice.sync()).sort(), ['job orders.eu 3 shop paid', 'msg alerts.disk 5 shop full', 'msg orders.eu 3 shop paid'], "only what alice may read: not bob's inbox, not deploys, not the audit");
  alice.write('replay orders.eu since 0');
  t.same(await alice.lines(2), ['msg orders.eu 3 shop paid', 'ok replay orders.eu 1']);
  bob.write('replay orders.> since 0', 'pending g');
  t.same(await bob.lines(2), [
    "err denied you may read no topic of orders.> (the access file's rules); ask the operator",
    "err denied you may not read every topic of orders.eu (the access file's rules); take a pattern your rules allow whole",
  ]);
  alice.write('replay > since 0', 'topics');
  const listed = await alice.until('ok topics');
  t.same(listed.slice(0, 3), ['msg orders.eu 3 shop paid', 'msg alerts.disk 5 shop full', 'ok replay > 2'], 'replay counts what she may read');
  t.same(listed.slice(3).map((line) => line.split(' ')[1]), ['>', 'alerts.disk', 'orders.eu', 'topics'], 'topics lists what she may read');
  t.equal(listed.at(-1), 'ok topics 3');
  alice.write('replay > last 1', 'replay > last 2');
  t.same(await alice.lines(5), ['msg alerts.disk 5 shop full', 'ok replay > 1', 'msg orders.eu 3 shop paid', 'msg alerts.disk 5 shop full', 'ok replay > 2'], 'the last n are the last n she may read (the newest, 6, is not hers)');
  bob.write('recv > as c since 0', 'cursors', 'who orders.eu');
  t.same((await bob.until('ok who')).filter((line) => !line.startsWith('msg ')), ['ok recv > as c after 0', 'cursor c > 0 1', 'ok cursors 1', 'ok who orders.eu 0'], "bob's lag counts his one readable message; who hides what he may not read");
  // A lag over more rows than one read: counted a page at a time.
  shop.write(...Array.from({ length: 2500 }, (_, i) => `send ${i % 2 === 0 ? 'users.bob.x' : 'noise'} ${i}`));
  await shop.lines(2500);
  bob.write('cursors');
  const seen = await bob.until('ok cursors');
  t.equal(seen.filter((line) => line.startsWith('msg users.bob.x ')).length, 1250, 'live, only his');
  t.same(seen.filter((line) => !line.startsWith('msg ')), ['cursor c > 0 1251', 'ok cursors 1']);
  alice.close();
  ci.close();
  bob.close();
  shop.close();
});

t.test('serve --acl: a broken file stops serve with one line; on SIGHUP it is logged and the old rules kept', { timeout: 30000 }, async (t) => {
  const dir = tempDir(t);
  const acl = join(dir, 'acl');
  writeFileSync(acl, 'user alice\ntopic read orders.>\ntopic sometimes x\n');
  const missing = await run(['serve', '--db', join(dir, 'bus.db'), '--port', '0', '--acl', join(dir, 'nope')]);
  t.match(missing, { code: 1, stderr: /^linebus: .*nope: cannot read the access file: ENOENT/ });
  const refused = await run(['serve', '--db', join(dir, 'bus.db'), '--port', '0', '--acl', acl]);
  t.not(refused.code, 0);
  t.equal(refused.stderr.trim().split('\n').length, 1);
  t.match(refused.stderr, `${acl}:3: 'topic' takes an access`);
  writeFileSync(acl, 'user alice\ntopic readwrite orders.>\n');
  const { child, port, logged } = await serve(['--db', join(dir, 'bus.db'), '--acl', acl]);
  // A clean stop: the daemon's coverage is written at exit.
  t.teardown(async () => {
    child.kill('SIGTERM');
    await new Promise((resolve) => child.on('close', resolve));
  });
  const alice = await LineClient.login(port, 'alice');
  alice.write('send orders.eu 1', 'send alerts.x 1');
  t.same(await alice.lines(2), ['ok send 1', "err denied you may not send to alerts.x (the access file's rules); ask the operator"]);
  writeFileSync(acl, 'user alice\ntopic readwrite >\nnonsense\n');
  child.kill('SIGHUP');
  await logged(/SIGHUP: kept the old access rules: .*acl:3: unknown keyword 'nonsense'/);
  alice.write('send alerts.x 1');
  t.equal(await alice.line(), "err denied you may not send to alerts.x (the access file's rules); ask the operator", 'the old rules hold');
  writeFileSync(acl, 'user alice\ntopic readwrite >\n');
  child.kill('SIGHUP');
  await logged(/SIGHUP: access rules reloaded from /);
  alice.write('send alerts.x 1');
  t.equal(await alice.line(), 'ok send 2', 'the new ones apply to the next command');
  alice.close();
});
