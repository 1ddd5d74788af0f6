/**
 * How web responses end, over real sockets against a real daemon: a long
 * answer reaches a reader that reads slowly but steadily whole, however
 * long that takes, and a stopping daemon tells every stream so before it
 * closes it.
 */
import t from 'tap';
import { connect } from 'node:net';
import { LineClient } from './helpers.js';
import { web } from './web-helpers.js';

/** A request over a raw socket whose answer is read `bytes` at a time, one read every `everyMs`: slow, but steady. */
function slowRead(port: number, request: string, bytes: number, everyMs: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    socket.pause();
    const timer = setInterval(() => {
      const chunk = (socket.read(bytes) ?? socket.read()) as Buffer | null;
      if (chunk !== null) chunks.push(chunk);
    }, everyMs);
    socket.on('end', () => {
      clearInterval(timer);
      for (let chunk = socket.read() as Buffer | null; chunk !== null; chunk = socket.read() as Buffer | null) chunks.push(chunk);
      resolve(Buffer.concat(chunks).toString('latin1'));
    });
    socket.on('close', () => {
      clearInterval(timer);
      resolve(Buffer.concat(chunks).toString('latin1'));
    });
    socket.write(request);
  });
}

/** The body of a chunked HTTP/1.1 answer; '' plus what came if it was cut short. */
function unchunk(answer: string): { complete: boolean; body: string } {
  let rest = answer.slice(answer.indexOf('\r\n\r\n') + 4);
  let body = '';
  for (;;) {
    const eol = rest.indexOf('\r\n');
    if (eol < 0) return { complete: false, body };
    const size = parseInt(rest.slice(0, eol), 16);
    if (size === 0) return { complete: true, body };
    if (rest.length < eol + 2 + size) return { complete: false, body: body + rest.slice(eol + 2) };
    body += rest.slice(eol + 2, eol + 2 + size);
    rest = rest.slice(eol + 4 + size);
  }
}

t.test('a long poll reaches a slow, steady reader whole, and ok replay ends it', { timeout: 60000 }, async (t) => {
  const { port, httpPort } = await web(t);
  const tcp = await LineClient.login(port, 'bob');
  const count = 30_000;
  const text = 'z'.repeat(100);
  tcp.write(...Array.from({ length: count }, () => `send bulk ${text}`));
  await tcp.lines(count);
  const answer = await slowRead(httpPort, 'GET /t/bulk?poll=1&since=0 HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n', 64 * 1024, 40);
  t.match(answer, /^HTTP\/1\.1 200 OK\r\n/);
  const { complete, body } = unchunk(answer);
  const lines = body.split('\n');
  t.equal(lines.filter((line) => line.startsWith('msg bulk ')).length, count, 'every message');
  t.equal(lines.at(-2), `ok replay bulk ${count}`, 'then ok replay');
  t.ok(complete, 'then the last chunk');
  tcp.close();
});

t.test("a big POST's answer reaches a slow, steady reader whole", { timeout: 60000 }, async (t) => {
  const { httpPort } = await web(t);
  const count = 60_000;
  const body = 'p\n'.repeat(count);
  const answer = await slowRead(httpPort, `POST /t/many HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Length: ${body.length}\r\n\r\n${body}`, 16 * 1024, 40);
  t.match(answer, /^HTTP\/1\.1 200 OK\r\n/);
  const { complete, body: text } = unchunk(answer);
  const lines = text.split('\n');
  t.equal(lines.length, count + 1, 'an ok send a line');
  t.equal(lines.at(-2), `ok send ${count}`, 'up to the last id');
  t.ok(complete, 'then the last chunk');
});

t.test('a stopping daemon tells every server-sent event stream so before it closes it', { timeout: 20000 }, async (t) => {
  const { server, base } = await web(t);
  const streams = await Promise.all(Array.from({ length: 30 }, () => fetch(`${base}/t/news`, { headers: { Accept: 'text/event-stream' } })));
  const stopped = server.stop();
  const texts = await Promise.all(streams.map((response) => response.text().catch((error: unknown) => `cut: ${(error as Error).message}`)));
  await stopped;
  t.equal(texts.filter((text) => text === 'event: shutdown\ndata: the server is stopping; reconnect later\n\n').length, 30, 'each got event: shutdown, then the end');
});
