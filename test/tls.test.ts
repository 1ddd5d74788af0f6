/**
 * The TLS listener (CLI.md, "Listeners, TLS and the web") with real
 * certificates made by openssl: the same protocol over TLS, TLS 1.2 at
 * least, client certificates with --tls-verify, and certificates re-read on
 * SIGHUP (a bad one logged, the old kept).
 */
import t from 'tap';
import { readFileSync, writeFileSync, copyFileSync } from 'node:fs';
import { get as httpsGet } from 'node:https';
import { connect as connectTls } from 'node:tls';
import type { TLSSocket } from 'node:tls';
import { once } from 'node:events';
import { join } from 'node:path';
import { LineClient, startServer, tempDir } from './helpers.js';
import { run, serve } from './cli-helpers.js';
import { makeCerts } from './certs.js';

/** One CA and its certificates for every test here. */
const certs = makeCerts(tempDir(t));

t.test('the protocol over TLS, beside plain TCP; old TLS versions refused', { timeout: 30000 }, async (t) => {
  const { server, port } = await startServer(t, { tls: { port: 0, ...certs.server } });
  const tlsPort = (server.tlsAddress() as { port: number }).port;
  const plain = await LineClient.login(port, 'bob');
  plain.write('recv t');
  t.equal(await plain.line(), 'ok recv t');
  const secure = await LineClient.tls(tlsPort, { ca: readFileSync(certs.ca) });
  t.equal(await secure.line(), 'hello linebus 1.0.0');
  secure.write('login alice pw', 'send t over tls');
  t.same(await secure.lines(2), ['ok login alice', 'ok send 1']);
  t.equal(await plain.line(), 'msg t 1 alice over tls');
  await t.rejects(LineClient.tls(tlsPort, { ca: readFileSync(certs.ca), maxVersion: 'TLSv1.1', minVersion: 'TLSv1' }), 'TLS 1.1 is refused');
  await t.rejects(LineClient.tls(tlsPort, {}), { code: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' }, 'a client that does not trust the CA refuses the server');
  const telnet = await LineClient.connect(tlsPort);
  telnet.write('login alice pw');
  t.same(await telnet.rest(), [], 'plain text on the TLS port: dropped without a word');
  await t.rejects(startServer(t, { tls: { port: tlsPort, ...certs.server } }), { message: `127.0.0.1:${tlsPort} is in use (EADDRINUSE); is a linebus serve running already? Stop it, or give another --tls-port` });
  secure.close();
  plain.close();
});

t.test("a client's TLS 1.2 renegotiation closes its connection: the line port and HTTPS alike", { timeout: 20000 }, async (t) => {
  // No timeout of the daemon's closes these connections meanwhile.
  const { server } = await startServer(t, { loginTimeout: 60, tls: { port: 0, ...certs.server }, http: { port: 0, tls: certs.server } });
  const doors = [
    { port: (server.tlsAddress() as { port: number }).port, ask: '' },
    { port: (server.httpAddress() as { port: number }).port, ask: 'GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n' },
  ];
  for (const { port, ask } of doors) {
    const socket = connectTls({ port, host: '127.0.0.1', ca: readFileSync(certs.ca), maxVersion: 'TLSv1.2' });
    socket.on('error', () => {});
    await once(socket, 'secureConnect');
    // Once the server has written (the greeting; an answer), it is past its own handshake.
    if (ask !== '') socket.write(ask);
    await once(socket, 'data');
    const closed = once(socket, 'close');
    socket.renegotiate({}, () => {});
    await closed;
    t.pass(`closed by the server on port ${port}`);
  }
});

t.test('--tls-verify: only clients with a certificate from --tls-ca get in', { timeout: 30000 }, async (t) => {
  const { server } = await startServer(t, { tls: { port: 0, ...certs.server, ca: certs.ca, verify: true } });
  const tlsPort = (server.tlsAddress() as { port: number }).port;
  const ca = readFileSync(certs.ca);
  const stranger = await LineClient.tls(tlsPort, { ca }).catch(() => undefined);
  t.equal(await stranger?.line(), undefined, 'no certificate: closed before the greeting');
  const member = await LineClient.tls(tlsPort, { ca, cert: readFileSync(certs.client.cert), key: readFileSync(certs.client.key) });
  t.equal(await member.line(), 'hello linebus 1.0.0');
  member.close();
});

t.test('serve: TLS options checked at start; certificates re-read on SIGHUP, a bad one logged and the old kept', { timeout: 60000 }, async (t) => {
  const dir = tempDir(t);
  const db = join(dir, 'bus.db');
  const missing = await run(['serve', '--db', db, '--port', '0', '--tls-port', '0', '--tls-cert', certs.server.cert]);
  t.match(missing, { code: 1, stderr: /^linebus: --tls-port needs --tls-cert and --tls-key\n$/ });
  const portless = await run(['serve', '--db', db, '--port', '0', '--tls-cert', certs.server.cert]);
  t.match(portless, { code: 1, stderr: /^linebus: --tls-cert, --tls-key, --tls-ca and --tls-verify need --tls-port, --http-port or --mqtt-tls-port\n$/ });
  const caless = await run(['serve', '--db', db, '--port', '0', '--tls-port', '0', '--tls-cert', certs.server.cert, '--tls-key', certs.server.key, '--tls-verify']);
  t.match(caless, { code: 1, stderr: /^linebus: --tls-verify needs --tls-ca, the CA that signs client certificates\n$/ });
  const badCa = await run(['serve', '--db', db, '--port', '0', '--tls-port', '0', '--tls-cert', certs.server.cert, '--tls-key', certs.server.key, '--tls-ca', join(dir, 'nope.pem')]);
  t.match(badCa, { code: 1, stderr: /\(CA .*nope\.pem\): ENOENT/ });
  const unreadable = await run(['serve', '--db', db, '--port', '0', '--tls-port', '0', '--tls-cert', certs.server.cert, '--tls-key', join(dir, 'nope.key')]);
  t.match(unreadable, { code: 1, stderr: /^linebus: TLS: cannot use .*server\.pem and .*nope\.key: ENOENT/ });
  const cert = join(dir, 'live.pem');
  const key = join(dir, 'live.key');
  copyFileSync(certs.server.cert, cert);
  copyFileSync(certs.server.key, key);
  const { child, stderr, logged } = await serve(['--db', db, '--tls-port', '0', '--tls-cert', cert, '--tls-key', key]);
  // A clean stop: the daemon's coverage is written at exit.
  t.teardown(async () => {
    child.kill('SIGTERM');
    await new Promise((resolve) => child.on('close', resolve));
  });
  const tlsPort = Number(/TLS on [^\s]+:(\d+)/.exec(stderr())?.[1]);
  const subject = async (): Promise<string> => {
    const client = await LineClient.tls(tlsPort, { ca: readFileSync(certs.ca) });
    const name = (client.socket as TLSSocket).getPeerCertificate().subject.CN as string;
    client.close();
    return name;
  };
  t.equal(await subject(), 'server');
  writeFileSync(key, 'not a key\n');
  child.kill('SIGHUP');
  await logged(/SIGHUP: kept the old TLS certificate and key/);
  t.equal(await subject(), 'server', 'a bad key: the old pair stays');
  copyFileSync(certs.other.cert, cert);
  copyFileSync(certs.other.key, key);
  child.kill('SIGHUP');
  await logged(/SIGHUP: TLS certificate and key re-read/);
  t.equal(await subject(), 'other', 'new connections get the new certificate');
});

t.test('HTTPS: the web listener with the same certificate; re-read on reload', { timeout: 30000 }, async (t) => {
  const dir = tempDir(t);
  const cert = join(dir, 'live.pem');
  const key = join(dir, 'live.key');
  copyFileSync(certs.server.cert, cert);
  copyFileSync(certs.server.key, key);
  const { server } = await startServer(t, { http: { port: 0, tls: { cert, key } } });
  const port = (server.httpAddress() as { port: number }).port;
  const get = (path: string): Promise<{ status: number; body: string; subject: string }> =>
    new Promise((resolve, reject) => {
      const req = httpsGet({ host: '127.0.0.1', port, path, ca: readFileSync(certs.ca), agent: false }, (res) => {
        const subject = (res.socket as TLSSocket).getPeerCertificate().subject.CN as string;
        let body = '';
        res.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
        res.on('end', () => resolve({ status: res.statusCode as number, body, subject }));
      });
      req.on('error', reject);
    });
  t.same(await get('/healthz'), { status: 200, body: 'ok\n', subject: 'server' });
  writeFileSync(key, 'not a key\n');
  t.throws(() => server.reloadTls(), 'a bad key is refused');
  copyFileSync(certs.other.cert, cert);
  copyFileSync(certs.other.key, key);
  server.reloadTls();
  t.equal((await get('/healthz')).subject, 'other', 'new connections get the new pair');
  await t.rejects(startServer(t, { http: { port: 0, tls: { cert, key: join(dir, 'nope') } } }), { message: /^HTTPS: cannot use .*live\.pem and .*nope: ENOENT/ });
  const half = await run(['serve', '--db', join(dir, 'bus.db'), '--port', '0', '--http-port', '0', '--tls-cert', cert]);
  t.match(half, { code: 1, stderr: /^linebus: HTTPS needs both --tls-cert and --tls-key\n$/ });
  const stray = await run(['serve', '--db', join(dir, 'bus.db'), '--port', '0', '--http-origin', 'https://a.example']);
  t.match(stray, { code: 1, stderr: /^linebus: --http-host, --http-origin, --http-host-name and --metrics-open need --http-port\n$/ });
});
