/**
 * What the web listener lets a browser do (WEB.md, "Rules"), over real
 * HTTP against a real daemon: only the listener's own names as Host (DNS
 * rebinding), only its own origins on any request that reads or writes the
 * bus (cross-site POSTs included), no framing of the console, and client
 * certificates over HTTPS with --tls-verify.
 */
import t from 'tap';
import { connect } from 'node:net';
import { readFileSync } from 'node:fs';
import { WebSocket } from 'ws';
import { hashPassword } from '../src/store/passwords.js';
import { hostName } from '../src/transport/http-guard.js';
import { LineClient, tempDir } from './helpers.js';
import { makeCerts } from './certs.js';
import { basic, call, web } from './web-helpers.js';

/** The status line and headers a raw WebSocket upgrade gets, with these headers. */
function upgrade(port: number, headers: string): Promise<string> {
  return new Promise((resolve) => {
    const raw = connect(port, '127.0.0.1');
    let received = '';
    raw.on('data', (chunk: Buffer) => {
      received += chunk.toString('latin1');
      if (received.includes('\r\n\r\n')) {
        raw.destroy();
        resolve(received.slice(0, received.indexOf('\r\n')));
      }
    });
    raw.on('close', () => resolve(received));
    raw.write(`GET /ws HTTP/1.1\r\n${headers}Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n`);
  });
}

t.test('DNS rebinding: a Host that is not one of the listener\'s names reads and writes nothing', { timeout: 20000 }, async (t) => {
  const { port, httpPort } = await web(t, { http: { port: 0, hostNames: ['bus.example'] } });
  const tcp = await LineClient.login(port, 'alice');
  tcp.write('send secret TOPSECRET');
  t.equal(await tcp.line(), 'ok send 1');
  const evil = `rebind.evil.example:${httpPort}`;
  const foreign = { Host: evil, Origin: `http://${evil}` };
  for (const [path, method] of [['/t/secret?poll=1&since=0', 'GET'], ['/t/secret', 'POST'], ['/metrics', 'GET'], ['/', 'GET']] as const) {
    const answer = await call(httpPort, path, { method, headers: foreign, body: method === 'POST' ? 'planted' : undefined });
    t.equal(answer.status, 421, `${method} ${path}`);
    t.equal(answer.text, `the Host header names ${evil.replace(/:\d+$/, '')}, which is not a name of this listener; use its address, or the operator may add the name with --http-host-name\n`, `${method} ${path}: says what to do`);
  }
  t.equal(await upgrade(httpPort, `Host: ${evil}\r\nOrigin: http://${evil}\r\n`), 'HTTP/1.1 421 Misdirected Request', '/ws too');
  t.equal((await call(httpPort, '/healthz', { headers: foreign })).status, 200, '/healthz, which says nothing, answers any name');
  for (const host of [`127.0.0.1:${httpPort}`, `localhost:${httpPort}`, `LocalHost:${httpPort}`, 'bus.example', `bus.example:${httpPort}`]) {
    const answer = await call(httpPort, '/t/secret?poll=1&since=0', { headers: { Host: host, Origin: `http://${host}` } });
    t.same([answer.status, answer.text], [200, 'msg secret 1 alice TOPSECRET\nok replay secret 1\n'], `Host ${host}`);
  }
  t.equal(await upgrade(httpPort, `Host: localhost:${httpPort}\r\nOrigin: http://localhost:${httpPort}\r\n`), 'HTTP/1.1 101 Switching Protocols', "/ws by the listener's own name");
  tcp.write('replay > since 0');
  t.same(await tcp.until('ok replay'), ['msg secret 1 alice TOPSECRET', 'ok replay > 1'], 'nothing was planted');
  tcp.close();
});

t.test('the name in a Host header', async (t) => {
  const cases: [string, string][] = [
    ['Bus.Example:7668', 'bus.example'],
    ['bus.example', 'bus.example'],
    ['127.0.0.1:80', '127.0.0.1'],
    ['[::1]:7668', '::1'],
    ['[::1]', '::1'],
    ['[::1', '::1'],
    ['a:b', 'a:b'],
  ];
  for (const [host, name] of cases) t.equal(hostName(host), name, host);
});

t.test('cross-site requests: a foreign Origin is refused on POST, streams and /ws, with or without credentials', { timeout: 20000 }, async (t) => {
  const open = await web(t, { http: { port: 0, origins: ['https://app.example'] } });
  const evil = { Origin: 'http://evil.example' };
  let answer = await call(open.httpPort, '/t/orders', { method: 'POST', headers: evil, body: 'forged' });
  t.same([answer.status, answer.text], [403, 'origin http://evil.example is not allowed; the operator may add it with --http-origin\n'], 'open mode: a forged POST');
  answer = await call(open.httpPort, '/t/orders', { method: 'POST', headers: { Origin: 'null' }, body: 'forged' });
  t.equal(answer.status, 403, 'an opaque origin (a sandboxed frame) too');
  answer = await call(open.httpPort, '/metrics', { headers: evil });
  t.equal(answer.status, 403, '/metrics read from another site');
  answer = await call(open.httpPort, '/t/orders', { method: 'POST', headers: { Origin: 'https://app.example' }, body: 'allowed' });
  t.same([answer.status, answer.text], [200, 'ok send 1\n'], 'an origin of --http-origin may');
  answer = await call(open.httpPort, '/t/orders', { method: 'POST', headers: { Origin: `http://127.0.0.1:${open.httpPort}` }, body: 'own' });
  t.same([answer.status, answer.text], [200, 'ok send 2\n'], "the listener's own origin may");
  answer = await call(open.httpPort, '/t/orders', { method: 'POST', headers: { Origin: 'http://127.0.0.1:1' }, body: 'other port' });
  t.equal(answer.status, 403, 'another port of the same host is another origin');

  const guarded = await web(t);
  guarded.server.store.users.put('alice', await hashPassword('pw'));
  answer = await call(guarded.httpPort, '/t/orders', { method: 'POST', headers: { ...evil, Authorization: basic('alice', 'pw') }, body: 'forged' });
  t.equal(answer.status, 403, "with users: the browser's cached Basic credentials do not help a forged POST");
  answer = await call(guarded.httpPort, '/t/orders?poll=1&since=0', { headers: { Authorization: basic('alice', 'pw') } });
  t.same([answer.status, answer.text], [200, 'ok replay orders 0\n'], 'nothing was journaled');
  await t.rejects(
    new Promise((resolve, reject) => {
      const ws = new WebSocket(`ws://127.0.0.1:${guarded.httpPort}/ws`, { headers: { ...evil, Authorization: basic('alice', 'pw') } });
      ws.once('open', resolve);
      ws.once('error', reject);
    }),
    /403/,
  );
});

t.test('the console cannot be framed, and loads nothing from elsewhere', async (t) => {
  const { httpPort } = await web(t);
  const answer = await call(httpPort, '/');
  t.equal(answer.status, 200);
  t.equal(answer.headers['x-frame-options'], 'DENY');
  const csp = String(answer.headers['content-security-policy']);
  t.match(csp, /(^|; )frame-ancestors 'none'(;|$)/);
  t.match(csp, /(^|; )default-src 'none'(;|$)/);
  t.match(csp, /(^|; )connect-src 'self'(;|$)/, 'its WebSocket goes to its own listener only');
  const page = answer.text;
  const script = /<script>([\s\S]*?)<\/script>/.exec(page)?.[1] as string;
  const style = /<style>([\s\S]*?)<\/style>/.exec(page)?.[1] as string;
  const { createHash } = await import('node:crypto');
  const hash = (text: string): string => `'sha256-${createHash('sha256').update(text).digest('base64')}'`;
  t.match(csp, new RegExp(`(^|; )script-src ${hash(script).replace(/[+/]/g, '\\$&')}(;|$)`), 'its one script, by hash');
  t.match(csp, new RegExp(`(^|; )style-src ${hash(style).replace(/[+/]/g, '\\$&')}(;|$)`), 'its one style sheet, by hash');
  for (const path of ['/t/a?poll=1', '/metrics', '/nope']) {
    t.equal((await call(httpPort, path)).headers['x-frame-options'], 'DENY', `${path} too`);
  }
});

const certs = makeCerts(tempDir(t));

t.test('HTTPS with --tls-verify: every route and /ws need a client certificate from --tls-ca', { timeout: 30000 }, async (t) => {
  const { httpPort } = await web(t, { http: { port: 0, tls: { ...certs.server, ca: certs.ca, verify: true } } });
  const ca = readFileSync(certs.ca);
  const client = { cert: readFileSync(certs.client.cert), key: readFileSync(certs.client.key) };
  for (const path of ['/healthz', '/t/a?poll=1', '/']) {
    await t.rejects(call(httpPort, path, { tls: true, ca } as never), `${path}: no certificate, no answer`);
  }
  await t.rejects(
    new Promise((resolve, reject) => {
      const ws = new WebSocket(`wss://127.0.0.1:${httpPort}/ws`, { ca });
      ws.once('open', resolve);
      ws.once('error', reject);
    }),
    '/ws: no certificate, no upgrade',
  );
  const answer = await call(httpPort, '/t/a?poll=1', { tls: true, ca, ...client } as never);
  t.same([answer.status, answer.text], [200, 'ok replay a 0\n'], 'with one, as on the TLS port');
  const member = await new Promise<WebSocket>((resolve, reject) => {
    const ws = new WebSocket(`wss://127.0.0.1:${httpPort}/ws`, { ca, ...client });
    ws.once('message', () => resolve(ws));
    ws.once('error', reject);
  });
  member.close();
});
