/**
 * A web page can make the browser send an HTTP request to any port
 * (`fetch(..., {mode: 'no-cors'})`): the line-protocol listeners must not
 * run the lines of its body. As Redis does, a connection whose line looks
 * like HTTP (a request line, a `Host:` header) is closed at once, logged
 * and counted; nothing after that line is handled.
 */
import t from 'tap';
import { readFileSync } from 'node:fs';
import { LineClient, startServer, stat, tempDir } from './helpers.js';
import { makeCerts } from './certs.js';

/** What Chromium sends for `fetch('http://127.0.0.1:<port>/', {method: 'POST', mode: 'no-cors', body})`. */
function browserPost(port: number, body: string): string {
  const head = [
    'POST / HTTP/1.1',
    `Host: 127.0.0.1:${port}`,
    'Connection: keep-alive',
    `Content-Length: ${Buffer.byteLength(body)}`,
    'Content-Type: text/plain;charset=UTF-8',
    'Origin: http://evil.example',
    'Accept: */*',
  ];
  return `${head.join('\r\n')}\r\n\r\n${body}`;
}

const INJECTION = 'x\nlogin evil x\nsend deploys injected\n';
const REFUSAL = 'err syntax this port speaks the linebus line protocol, not HTTP; the web listener is --http-port';

t.test('an HTTP request on the TCP port is closed at its first line: nothing of its body runs', async (t) => {
  const { server, port, waitForLog } = await startServer(t);
  const watcher = await LineClient.login(port, 'ops');
  watcher.write('recv deploys');
  t.equal(await watcher.line(), 'ok recv deploys');
  const page = await LineClient.connect(port);
  page.writeRaw(browserPost(port, INJECTION));
  t.same(await page.rest(), ['hello linebus 1.0.0', REFUSAL], 'one line saying where HTTP goes, then closed');
  t.match(await waitForLog(/http request on a line-protocol listener/), /"remote":"127\.0\.0\.1:\d+".*"listener":"tcp"/);
  watcher.write('replay deploys since 0');
  t.same(await watcher.lines(1), ['ok replay deploys 0'], 'nothing was journaled, nothing delivered');
  t.equal(stat(server.stats(), 'closed.http_request'), 1, 'counted by its reason');
  watcher.close();
});

t.test('the signs of HTTP, after a login too; look-alikes that are not HTTP are plain unknown commands', async (t) => {
  const { server, port } = await startServer(t);
  const closedBy = async (lines: string[]): Promise<string[]> => {
    const c = await LineClient.login(port, 'someone');
    c.write(...lines);
    return c.rest();
  };
  t.same(await closedBy(['GET /metrics HTTP/1.0', 'send deploys x']), [REFUSAL]);
  t.same(await closedBy(['host: 127.0.0.1', 'send deploys x']), [REFUSAL], 'a Host header alone, any case');
  t.same(await closedBy(['OPTIONS * HTTP/1.1']), [REFUSAL]);
  const c = await LineClient.login(port, 'typist');
  c.write('get me a coffee', 'post office', 'hosting: no');
  t.same(await c.lines(3), ["err syntax unknown command 'get'; try help", "err syntax unknown command 'post'; try help", "err syntax unknown command 'hosting:'; try help"]);
  c.write('send deploys still here');
  t.equal(await c.line(), 'ok send 1', 'the connection goes on');
  t.equal(stat(server.stats(), 'closed.http_request'), 3);
  c.close();
});

t.test('the TLS listener closes HTTP too', async (t) => {
  const certs = makeCerts(tempDir(t));
  const { server, waitForLog } = await startServer(t, { tls: { port: 0, ...certs.server } });
  const tlsPort = (server.tlsAddress() as { port: number }).port;
  const page = await LineClient.tls(tlsPort, { ca: readFileSync(certs.ca) });
  page.writeRaw(browserPost(tlsPort, INJECTION));
  t.same(await page.rest(), ['hello linebus 1.0.0', REFUSAL]);
  await waitForLog(/^debug closed .*"reason":"http request"/);
  t.equal(stat(server.stats(), 'closed.http_request'), 1);
});
