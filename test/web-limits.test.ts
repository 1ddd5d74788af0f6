/**
 * The web door's limits, over real sockets against a real daemon: every
 * socket counts against --max-connections from its accept (HTTP, TLS in
 * its handshake), --login-timeout and --http-body-timeout close the ones
 * that do not finish a request, one request at a time per connection, and
 * a POST is bounded (--max-post-bytes, --max-post-lines), journaled all or
 * nothing, in turns that leave the event loop to everyone else.
 */
import t from 'tap';
import { connect } from 'node:net';
import type { Socket } from 'node:net';
import { readFileSync } from 'node:fs';
import { WebSocket } from 'ws';
import { LineClient, stat, tempDir } from './helpers.js';
import type { LineClient as Client } from './helpers.js';
import { makeCerts } from './certs.js';
import { call, web } from './web-helpers.js';
import { unreadableAnswer } from '../src/transport/http-sockets.js';
import type { Web } from './web-helpers.js';

/** Ping round trips until the daemon counts `count` connections. */
async function counted(started: Web, tcp: Client, count: number): Promise<void> {
  while (stat(started.server.stats(), 'connections') !== count) await tcp.sync();
}

/** A raw socket that keeps what it receives; `closed` resolves with it. */
function raw(port: number, data = ''): { socket: Socket; closed: Promise<string> } {
  const socket = connect(port, '127.0.0.1');
  let received = '';
  socket.on('data', (chunk: Buffer) => (received += chunk.toString('latin1')));
  socket.on('error', () => {});
  if (data !== '') socket.write(data);
  return { socket, closed: new Promise((resolve) => socket.on('close', () => resolve(received))) };
}

const BUSY = 'err busy the server is full (3 connections); try again later';

t.test('a web socket holds a place from its accept; --login-timeout closes one that sends no request', { timeout: 20000 }, async (t) => {
  const started = await web(t, { maxConnections: 3, loginTimeout: 1 });
  const { port, httpPort } = started;
  const tcp = await LineClient.login(port, 'bob');
  const ws = new WebSocket(`ws://127.0.0.1:${httpPort}/ws`);
  const frames: string[] = [];
  ws.on('message', (data: Buffer) => frames.push(data.toString()));
  await new Promise((resolve) => ws.once('open', resolve));
  ws.send('login carol x');
  const idle = raw(httpPort);
  await counted(started, tcp, 3);
  const refused = await LineClient.connect(port);
  t.same(await refused.rest(), [BUSY], 'an idle web socket took the last place: TCP is refused');
  const answer = await call(httpPort, '/t/a?poll=1');
  t.same([answer.status, answer.headers.connection, answer.text], [503, 'close', `${BUSY}\n`], 'and so is HTTP');
  t.match(await idle.closed, /^HTTP\/1\.1 408 Request Timeout\r\n/, 'no request within --login-timeout: closed');
  const after = await LineClient.login(port, 'dave');
  after.write('ping in');
  t.equal(await after.line(), 'pong in', 'its place is free again');
  ws.send('ping still');
  await new Promise<void>((resolve) => ws.on('message', () => frames.includes('pong still') && resolve()));
  t.same(frames, ['hello linebus 1.0.0', 'ok login carol', 'pong still'], 'a WebSocket is a session: the HTTP timeouts do not touch it');
  ws.close();
  after.close();
  tcp.close();
});

t.test('a request must arrive whole: headers within --login-timeout, the body within --http-body-timeout', { timeout: 20000 }, async (t) => {
  const { port, httpPort } = await web(t, { loginTimeout: 1, httpBodyTimeout: 2 });
  const headers = raw(httpPort, 'GET /t/a HTTP/1.1\r\nHost: 127.0.0.1\r\n');
  const body = raw(httpPort, 'POST /t/a HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100\r\n\r\nnever finished\n');
  const late = 'the request did not arrive whole in time (its headers within 1 s, all of it within 2 s): send it at once\n';
  t.match(await headers.closed, /^HTTP\/1\.1 408 Request Timeout\r\n/, 'headers that never end');
  t.ok((await headers.closed).endsWith(`\r\n\r\n${late}`), 'with one line saying what to do');
  t.match(await body.closed, /^HTTP\/1\.1 408 Request Timeout\r\n/, 'a body that never ends');
  t.ok((await body.closed).endsWith(`\r\n\r\n${late}`));
  const tcp = await LineClient.login(port, 'bob');
  tcp.write('replay a since 0');
  t.equal(await tcp.line(), 'ok replay a 0', 'nothing of it was sent');
  tcp.close();
});

t.test('the answers to requests Node cannot read, by its error code', async (t) => {
  const limits = { loginTimeout: 10, httpBodyTimeout: 60 };
  t.same(unreadableAnswer('HPE_CHUNK_EXTENSIONS_OVERFLOW', limits), [413, 'the chunk extensions of the body are too long: send the body without them']);
  t.same(unreadableAnswer('ERR_HTTP_REQUEST_TIMEOUT', limits)[1], 'the request did not arrive whole in time (its headers within 10 s, all of it within 60 s): send it at once');
  t.same(unreadableAnswer(undefined, limits), [400, 'not an HTTP/1.1 request this server can read (malformed): check the request line, the headers and how the body is framed']);
});

t.test("a request Node cannot read gets its status and one line, and is closed; an answer under way goes out whole first", { timeout: 20000 }, async (t) => {
  const { port, httpPort } = await web(t);
  const start = 'POST /t/a HTTP/1.1\r\nHost: 127.0.0.1\r\n';
  const answers = await Promise.all(
    [
      `GET /t/a HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: ${'x'.repeat(20_000)}\r\n\r\n`,
      `${start}Transfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n`,
      `${start}Content-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`,
    ].map((request) => raw(httpPort, request).closed),
  );
  const [big, chunk, both] = answers.map((answer) => [answer.split('\r\n', 1)[0], answer.slice(answer.indexOf('\r\n\r\n') + 4)]);
  t.same(big, ['HTTP/1.1 431 Request Header Fields Too Large', "the request's headers are over 16384 bytes: send fewer or shorter ones\n"]);
  t.same(chunk, ['HTTP/1.1 400 Bad Request', 'not an HTTP/1.1 request this server can read (HPE_INVALID_CHUNK_SIZE): check the request line, the headers and how the body is framed\n']);
  t.match(both, ['HTTP/1.1 400 Bad Request', /^not an HTTP\/1\.1 request this server can read \(HPE_[A-Z_]+\): /], 'Content-Length with Transfer-Encoding');
  const tcp = await LineClient.login(port, 'bob');
  tcp.write('replay a since 0');
  t.equal(await tcp.line(), 'ok replay a 0', 'nothing of them was sent');
  // Behind a request being answered, nothing is written: its answer (what
  // was journaled) goes out whole, then the connection closes.
  const posted = await raw(httpPort, 'POST /t/a HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 6\r\n\r\nhello\n\x16\x03garbage\r\n\r\n').closed;
  t.match(posted, /^HTTP\/1\.1 200 OK\r\n[\s\S]*\r\nok send 1\n\r\n0\r\n\r\n$/);
  t.equal(posted.split('HTTP/1.1').length, 2, 'its answer alone');
  const stream = raw(httpPort, 'GET /t/a HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n');
  let received = '';
  stream.socket.on('data', (chunk: Buffer) => (received += chunk.toString()));
  await new Promise<void>((resolve) => stream.socket.once('data', () => resolve()));
  stream.socket.write('\x16\x03\x01 not http\r\n\r\n');
  tcp.write('send a two');
  t.equal(await tcp.line(), 'ok send 2');
  while (!received.includes('two')) await new Promise<void>((resolve) => stream.socket.once('data', () => resolve()));
  t.equal(received.split('HTTP/1.1').length, 2, 'an event stream goes on, with nothing written into it');
  stream.socket.destroy();
  tcp.close();
});

t.test('one request at a time on a connection: pipelined ones are refused, not served', { timeout: 20000 }, async (t) => {
  const started = await web(t, { maxConnections: 5 });
  const get = 'GET /t/a HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n';
  const pipelined = raw(started.httpPort, get.repeat(200));
  const tcp = await LineClient.login(started.port, 'bob');
  tcp.write('who');
  while ((await tcp.until('ok who')).at(-1) !== 'ok who 2') tcp.write('who');
  t.pass('one stream, not 200: the others hold no place in who');
  tcp.write('send a one');
  t.equal(await tcp.line(), 'ok send 1');
  pipelined.socket.end();
  const text = await pipelined.closed;
  t.match(text, /^HTTP\/1\.1 200 OK\r\n/, 'the first is served');
  t.match(text, /msg a 1 bob one\n/);
  tcp.close();
});

const certs = makeCerts(tempDir(t));

t.test('a TLS connection holds its place from its accept, handshake or not', { timeout: 20000 }, async (t) => {
  const started = await web(t, { maxConnections: 3, tls: { port: 0, ...certs.server }, http: { port: 0, tls: certs.server } });
  const tlsPort = (started.server.tlsAddress() as { port: number }).port;
  const tcp = await LineClient.login(started.port, 'bob');
  const handshakes = [raw(tlsPort), raw(started.httpPort)];
  await counted(started, tcp, 3);
  const refused = await LineClient.connect(started.port);
  t.same(await refused.rest(), [BUSY], 'two handshakes that never start hold two places');
  await t.rejects(LineClient.tls(tlsPort, { ca: readFileSync(certs.ca) }), 'a TLS client over the limit is closed before its handshake');
  await t.rejects(call(started.httpPort, '/healthz', { tls: true, ca: readFileSync(certs.ca) } as never), 'an HTTPS one too');
  for (const { socket } of handshakes) socket.destroy();
  await counted(started, tcp, 1);
  const secure = await LineClient.tls(tlsPort, { ca: readFileSync(certs.ca) });
  t.equal(await secure.line(), 'hello linebus 1.0.0', 'their places are free again');
  secure.write('login carol x', 'ping half');
  secure.socket.end();
  t.same(await secure.rest(), ['ok login carol', 'pong half'], 'once secure, a half-closed client still gets its replies');
  tcp.close();
});

t.test('a TLS handshake that never finishes is closed and its place freed: the line port and HTTPS alike', { timeout: 20000 }, async (t) => {
  const started = await web(t, { maxConnections: 3, handshakeMs: 300, tls: { port: 0, ...certs.server }, http: { port: 0, tls: certs.server } });
  const tlsPort = (started.server.tlsAddress() as { port: number }).port;
  const silent = [raw(tlsPort), raw(started.httpPort)];
  t.same(await Promise.all(silent.map(({ closed }) => closed)), ['', ''], 'both closed, nothing said');
  const tcp = await LineClient.login(started.port, 'bob');
  await counted(started, tcp, 1);
  t.pass('their places are free');
  tcp.close();
});

t.test('a POST is bounded by --max-post-bytes and --max-post-lines; over either, nothing is sent', { timeout: 20000 }, async (t) => {
  const { port, httpPort } = await web(t, { maxPostBytes: 1000, maxPostLines: 10 });
  let answer = await call(httpPort, '/t/a', { method: 'POST', body: 'x\n'.repeat(11) });
  t.same([answer.status, answer.text], [413, 'err toolong a body holds at most 10 lines (--max-post-lines); nothing was sent; post fewer lines at a time\n']);
  answer = await call(httpPort, '/t/a', { method: 'POST', body: `${'y'.repeat(600)}\n${'z'.repeat(600)}\n` });
  t.same([answer.status, answer.text], [413, 'err toolong a body is at most 1000 bytes (--max-post-bytes); nothing was sent; post fewer lines at a time\n']);
  const chunked = raw(httpPort, `POST /t/a HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n${'400\r\n'}${'w'.repeat(1024)}\r\n`);
  t.match(await chunked.closed, /^HTTP\/1\.1 413 [\s\S]*--max-post-bytes/, 'a chunked body is cut off as it comes, and its connection closed');
  // A client that waits for 100 Continue is refused by its Content-Length before it sends the body.
  const expecting = raw(httpPort, 'POST /t/a HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 5000\r\nExpect: 100-continue\r\n\r\n');
  t.match(await expecting.closed, /^HTTP\/1\.1 413 [\s\S]*\r\n\r\n[0-9a-f]+\r\nerr toolong a body is at most 1000 bytes/, 'no 100 Continue: the body is never sent');
  const continued = raw(httpPort, 'POST /t/a HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 4\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n');
  await new Promise<void>((resolve) => continued.socket.once('data', () => resolve()));
  continued.socket.write('100\n');
  t.match(await continued.closed, /^HTTP\/1\.1 100 Continue\r\n\r\nHTTP\/1\.1 200 OK\r\n[\s\S]*ok send 1\n/, 'a body within the limit is asked for');
  answer = await call(httpPort, '/t/a', { method: 'POST', body: '\n\nx\n'.repeat(10) });
  t.same([answer.status, answer.text.split('\n').length, answer.text.split('\n')[0]], [200, 11, 'ok send 2'], 'empty lines are not lines');
  const tcp = await LineClient.login(port, 'bob');
  tcp.write('replay a since 0');
  t.equal((await tcp.until('ok replay')).at(-1), 'ok replay a 11', 'the refused bodies sent nothing');
  tcp.close();
});

t.test('a POST refused for one line sends none of its lines', { timeout: 20000 }, async (t) => {
  const { port, httpPort } = await web(t, { maxLine: 64 });
  let answer = await call(httpPort, '/t/a', { method: 'POST', body: `one\n${'x'.repeat(60)}\ntwo\n` });
  t.same([answer.status, answer.text], [413, "err toolong line 2 of the body is over the 64-byte limit (--max-line, counted with 'send a ' before it); nothing was sent; send shorter lines\n"]);
  answer = await call(httpPort, '/t/a', { method: 'POST', body: Buffer.concat([Buffer.from('one\n\n'), Buffer.from([0xc3, 0x28, 0x0a]), Buffer.from('two\n')]) });
  t.same([answer.status, answer.text], [400, 'err encoding line 3 of the body is not valid UTF-8; nothing was sent; send UTF-8 text\n']);
  answer = await call(httpPort, '/t/a', { method: 'POST', body: 'três\r\nquatro' });
  t.same([answer.status, answer.text], [200, 'ok send 1\nok send 2\n'], 'a valid body goes through whole');
  const tcp = await LineClient.login(port, 'bob');
  tcp.write('replay a since 0');
  t.same(await tcp.until('ok replay'), ['msg a 1 anonymous três', 'msg a 2 anonymous quatro', 'ok replay a 2']);
  tcp.close();
});

t.test("a POST of many lines is journaled in turns: a TCP client's ping is answered while it runs", { timeout: 30000 }, async (t) => {
  const { port, httpPort } = await web(t);
  const lines = 100_000;
  // A receiver of the messages that pings once the first arrives, and
  // counts the messages that came before the pong (line by line, without
  // queueing 100,000 lines).
  const receiver = connect(port, '127.0.0.1');
  let partial = '';
  let messages = 0;
  let beforePong = -1;
  let subscribed: () => void = () => {};
  let all: () => void = () => {};
  const ready = new Promise<void>((resolve) => (subscribed = resolve));
  const received = new Promise<void>((resolve) => (all = resolve));
  receiver.setEncoding('utf8');
  receiver.on('data', (text: string) => {
    const parts = (partial + text).split('\n');
    partial = parts.pop() as string;
    for (const line of parts) {
      if (line === 'ok recv bulk') subscribed();
      else if (line === 'pong mid-post') beforePong = messages;
      else if (line.startsWith('msg bulk ') && ++messages === 1) receiver.write('ping mid-post\n');
    }
    if (messages === lines && beforePong >= 0) all();
  });
  receiver.write('login bob x\nrecv bulk\n');
  await ready;
  const body = `${'b'.repeat(80)}\n`.repeat(lines);
  t.ok(body.length > 8_000_000, 'an 8 MB body');
  const answer = await call(httpPort, '/t/bulk', { method: 'POST', body });
  t.equal(answer.status, 200);
  t.equal(answer.text.split('\n').length, lines + 1, 'every line has its ok send');
  await received;
  t.ok(beforePong >= 1 && beforePong < lines, `the pong came after ${beforePong} of the ${lines} messages, not after all of them`);
  receiver.destroy();
});
