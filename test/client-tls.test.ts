/**
 * `linebus send|recv` over TLS (CLI.md, "Client commands"): --tls-ca and
 * LINEBUS_TLS_CA with a linebuss:// URL, client certificates for a server
 * with --tls-verify, --tls-servername, no Node warning when connecting by
 * IP address, no password in any message, and a wrong port told at once
 * with what to try. Real certificates (openssl), real daemons.
 */
import t from 'tap';
import { LineClient, startServer, tempDir } from './helpers.js';
import type { Teardown } from './helpers.js';
import { run } from './cli-helpers.js';
import { makeCerts } from './certs.js';

const certs = makeCerts(tempDir(t));

/** A daemon in open mode with a TLS listener using `files`; one message on `t`. */
async function tlsDaemon(t: Teardown, files: { cert: string; key: string; ca?: string; verify?: boolean }): Promise<{ port: number; tlsPort: number; httpPort: number }> {
  const { server, port } = await startServer(t, { tls: { port: 0, ...files }, http: { port: 0 } });
  const tx = await LineClient.login(port, 'alice');
  tx.write('send t hi');
  const sent = await tx.line();
  if (sent !== 'ok send 1') throw new Error(`send: ${sent}`);
  tx.close();
  return { port, tlsPort: (server.tlsAddress() as { port: number }).port, httpPort: (server.httpAddress() as { port: number }).port };
}

t.test('linebuss:// with --tls-ca or LINEBUS_TLS_CA; by IP address without a warning; no password in any message', { timeout: 30000 }, async (t) => {
  if (!certs) return t.fail('openssl is missing and could not be installed');
  const { tlsPort } = await tlsDaemon(t, certs.server);
  const url = `linebuss://alice:s3cret@127.0.0.1:${tlsPort}`;
  const received = { code: 0, stdout: 't 1 alice hi\n', stderr: '' };
  t.same(await run(['recv', '--url', url, '--tls-ca', certs.ca, 't', '--since', '0', '-n', '1']), { ...received, signal: null }, '--tls-ca: trusted; stderr empty (no DEP0123 warning)');
  t.same(await run(['recv', '--url', url, 't', '--since', '0', '-n', '1'], undefined, { LINEBUS_TLS_CA: certs.ca }), { ...received, signal: null }, 'LINEBUS_TLS_CA');
  const untrusted = await run(['send', '--url', url, 't', 'x']);
  t.equal(untrusted.code, 1);
  t.equal(untrusted.stderr, `linebus: cannot reach 127.0.0.1:${tlsPort}: unable to verify the first certificate (UNABLE_TO_VERIFY_LEAF_SIGNATURE); trust its CA with --tls-ca FILE\n`);
  const badScheme = await run(['send', '--url', 'https://alice:s3cret@127.0.0.1:1', 't', 'x']);
  t.equal(badScheme.stderr, 'linebus: --url: a https:// URL; use linebus://user:password@host:port (linebuss:// for TLS)\n');
  const unparsable = await run(['send', '--url', 'linebus://alice:s3cret@[nonsense', 't', 'x']);
  t.equal(unparsable.stderr, 'linebus: --url: the URL is not one; use linebus://user:password@host:port (linebuss:// for TLS)\n');
  const missingCa = await run(['send', '--url', url, '--tls-ca', '/nonexistent/ca.pem', 't', 'x']);
  t.equal(missingCa.stderr, 'linebus: --tls-ca /nonexistent/ca.pem: ENOENT\n');
  for (const result of [untrusted, badScheme, unparsable, missingCa]) t.notMatch(result.stderr, 's3cret', 'the password is never printed');
});

t.test('--tls-cert and --tls-key for a server with --tls-verify', { timeout: 30000 }, async (t) => {
  if (!certs) return t.fail('openssl is missing and could not be installed');
  const { tlsPort } = await tlsDaemon(t, { ...certs.server, ca: certs.ca, verify: true });
  const at = ['--tls-ca', certs.ca, '--port', String(tlsPort)];
  t.match(await run(['recv', ...at, '--tls-cert', certs.client.cert, '--tls-key', certs.client.key, 't', '--since', '0', '-n', '1']), { code: 0, stdout: 't 1 alice hi\n', stderr: '' });
  t.match(await run(['recv', ...at, 't', '--since', '0', '-n', '1'], undefined, { LINEBUS_TLS_CERT: certs.client.cert, LINEBUS_TLS_KEY: certs.client.key }), { code: 0, stdout: 't 1 alice hi\n' }, 'from the environment too');
  t.match(await run(['send', ...at, 't', 'x']), { code: 1, stderr: new RegExp(`^linebus: cannot reach 127\\.0\\.0\\.1:${tlsPort}: .*\\(ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED\\); the server wants a client certificate: --tls-cert FILE --tls-key FILE\\n$`) });
  t.match(await run(['send', ...at, '--tls-cert', certs.client.cert, 't', 'x']), { code: 1, stderr: 'linebus: a client certificate needs both --tls-cert and --tls-key\n' });
});

t.test('--tls-servername: the name the certificate must hold when connecting by address', { timeout: 30000 }, async (t) => {
  if (!certs) return t.fail('openssl is missing and could not be installed');
  const { tlsPort } = await tlsDaemon(t, certs.named);
  const at = ['--tls-ca', certs.ca, '--port', String(tlsPort)];
  t.match(await run(['recv', ...at, '--tls-servername', 'bus.test', 't', '--since', '0', '-n', '1']), { code: 0, stdout: 't 1 alice hi\n', stderr: '' });
  t.match(await run(['send', ...at, 't', 'x']), { code: 1, stderr: /^linebus: cannot reach 127\.0\.0\.1:\d+: IP: 127\.0\.0\.1 is not in the cert's list: .*\(ERR_TLS_CERT_ALTNAME_INVALID\); connect by a name the certificate holds, or give it with --tls-servername NAME\n$/ });
});

t.test('a wrong port is told at once, with what to try', { timeout: 30000 }, async (t) => {
  if (!certs) return t.fail('openssl is missing and could not be installed');
  const { port, tlsPort, httpPort } = await tlsDaemon(t, certs.server);
  t.same(await run(['send', '--port', String(tlsPort), 't', 'x']), {
    code: 1,
    signal: null,
    stdout: '',
    stderr: `linebus: 127.0.0.1:${tlsPort} closed the connection without a greeting; is this a TLS port? connect with TLS (linebuss://, --tls)\n`,
  });
  t.match(await run(['send', '--tls', '--tls-ca', certs.ca, '--port', String(port), 't', 'x']), { code: 1, stderr: new RegExp(`^linebus: cannot reach 127\\.0\\.0\\.1:${port}: .*\\(ERR_SSL_(WRONG_VERSION_NUMBER|PACKET_LENGTH_TOO_LONG)\\); is this a plain port\\? connect without --tls\\n$`) });
  t.match(await run(['send', '--port', String(httpPort), 't', 'x']), { code: 1, stderr: `linebus: 127.0.0.1:${httpPort} is not a linebus server: it said 'HTTP/1.1 400 Bad Request'\n` });
});
