/**
 * `/metrics` as Prometheus scrapes it (WEB.md): linebus's own figures, the
 * process and Node.js figures every exporter has, and the build.
 */
import t from 'tap';
import { LineClient, startServer } from './helpers.js';
import type { Teardown } from './helpers.js';
import { version } from '../src/version.js';
import { Acl } from '../src/bus/acl.js';
import { quickHash } from './quick-hash.js';
import { basic, call, web as webOf } from './web-helpers.js';

async function web(t: Teardown): Promise<string> {
  const started = await startServer(t, { http: { port: 0, host: '127.0.0.1', origins: [] } });
  return `http://127.0.0.1:${(started.server.httpAddress() as { port: number }).port}`;
}

t.test('/metrics has the process and Node.js collectors and linebus_build_info, scrape after scrape', async (t) => {
  const base = await web(t);
  for (const scrape of [1, 2]) {
    const response = await fetch(`${base}/metrics`);
    t.equal(response.status, 200, `scrape ${scrape}`);
    const lines = (await response.text()).split('\n');
    t.ok(lines.includes(`linebus_build_info{version="${version()}",node="${process.version}"} 1`), `scrape ${scrape}: build info`);
    for (const name of ['process_cpu_seconds_total', 'process_resident_memory_bytes', 'process_open_fds', 'process_start_time_seconds', 'nodejs_eventloop_lag_seconds', 'nodejs_heap_size_used_bytes', 'nodejs_version_info']) {
      t.ok(lines.some((line) => line.startsWith(`${name} `) || line.startsWith(`${name}{`)), `scrape ${scrape}: ${name}`);
    }
    t.ok(lines.includes('linebus_messages_in_total 0'), `scrape ${scrape}: linebus's own figures too`);
  }
});

t.test('/metrics needs credentials once there are users, unless --metrics-open', { timeout: 15000 }, async (t) => {
  const guarded = await webOf(t);
  guarded.server.store.users.put('alice', quickHash('pw'));
  let answer = await call(guarded.httpPort, '/metrics');
  t.same([answer.status, answer.headers['www-authenticate'], answer.text], [401, 'Basic realm="linebus"', 'log in: Basic, Bearer user:password, or ?auth=<base64 of user:password>\n']);
  answer = await call(guarded.httpPort, '/metrics', { headers: { Authorization: basic('alice', 'wrong') } });
  t.equal(answer.status, 401);
  answer = await call(guarded.httpPort, '/metrics', { headers: { Authorization: basic('alice', 'pw') } });
  t.equal(answer.status, 200, "any user's credentials");
  t.match(answer.text, /^linebus_messages_in_total 0$/m);
  t.equal((await call(guarded.httpPort, '/healthz')).status, 200, '/healthz needs none');
  const open = await webOf(t, { http: { port: 0, metricsOpen: true } });
  open.server.store.users.put('alice', quickHash('pw'));
  answer = await call(open.httpPort, '/metrics');
  t.equal(answer.status, 200, '--metrics-open: none needed');
});

t.test("a cursor's lag counts only what its user may read, as cursors does", { timeout: 15000 }, async (t) => {
  const { port, httpPort } = await webOf(t, { acl: Acl.parse('user bob\ntopic readwrite >\ntopic deny secret.>\nuser alice\ntopic readwrite >\n') });
  const bob = await LineClient.login(port, 'bob');
  bob.write('recv > as all', 'leave >');
  await bob.until('ok leave');
  const alice = await LineClient.login(port, 'alice');
  for (let i = 0; i < 5; i++) alice.write(`send news.${i} open`);
  for (let i = 0; i < 8; i++) alice.write(`send secret.${i} hidden`);
  await alice.lines(13);
  bob.write('cursors');
  t.same(await bob.until('ok cursors'), ['cursor all > 0 5', 'ok cursors 1']);
  const text = (await call(httpPort, '/metrics')).text;
  t.ok(text.split('\n').includes('linebus_cursor_lag{user="bob",cursor="all"} 5'), 'the same 5 in /metrics');
  bob.close();
  alice.close();
});

t.test('a scrape counts cursor lags in steps, off the hot path, and shares its count with the scrapes that follow', { timeout: 60000 }, async (t) => {
  const { port, httpPort, waitForLog, logs } = await webOf(t);
  const maker = await LineClient.login(port, 'bob');
  const cursors = 100;
  maker.write(...Array.from({ length: cursors }, (_, i) => `recv t.* as c${i}`));
  await maker.lines(cursors);
  maker.close();
  const sender = await LineClient.login(port, 'alice');
  const messages = 40_000;
  for (let sent = 0; sent < messages; sent += 10_000) {
    sender.write(...Array.from({ length: 10_000 }, (_, i) => `send t.${(sent + i) % 50} m`));
    await sender.lines(10_000);
  }
  const scrape = call(httpPort, '/metrics');
  let scraped = false;
  void scrape.then(() => (scraped = true));
  await waitForLog(/^debug cursor lags: counting \{"cursors":100\}/);
  sender.write('ping during the count');
  t.equal(await sender.line(), 'pong during the count');
  t.equal(scraped, false, 'the ping was answered while the scrape was still counting');
  const text = (await scrape).text.split('\n');
  for (const i of [0, 57, 99]) t.ok(text.includes(`linebus_cursor_lag{user="bob",cursor="c${i}"} ${messages}`), `c${i}: ${messages}`);
  const again = (await call(httpPort, '/metrics')).text.split('\n');
  t.ok(again.includes(`linebus_cursor_lag{user="bob",cursor="c0"} ${messages}`));
  t.equal(logs.filter((line) => line.startsWith('debug cursor lags: counted ')).length, 1, 'the next scrape, right after, took the same count');
  sender.close();
});
