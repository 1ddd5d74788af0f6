/**
 * The web listener (WEB.md) over real HTTP and WebSocket against a real
 * daemon: POST, plain and JSON streams, polls, server-sent events that
 * resume through Last-Event-ID, /ws, /metrics, /healthz, credentials,
 * access rules, origins, slow readers and bad requests.
 */
import t from 'tap';
import { connect } from 'node:net';
import type { IncomingMessage } from 'node:http';
import { WebSocket } from 'ws';
import { WsLink } from '../src/transport/ws.js';
import { Acl } from '../src/bus/acl.js';
import { quickHash } from './quick-hash.js';
import { LineClient, startServer, stat } from './helpers.js';
import type { Teardown } from './helpers.js';

/** Lines of a streamed response, read as they come. */
class Stream {
  readonly #reader: ReadableStreamDefaultReader<Uint8Array>;
  readonly #decoder = new TextDecoder();
  #text = '';
  constructor(readonly response: Response) {
    this.#reader = (response.body as ReadableStream<Uint8Array>).getReader();
  }
  /** The next `count` lines (blank ones included). */
  async lines(count: number): Promise<string[]> {
    while (this.#text.split('\n').length <= count) {
      const { value, done } = await this.#reader.read();
      if (done) break;
      this.#text += this.#decoder.decode(value, { stream: true });
    }
    const parts = this.#text.split('\n');
    this.#text = parts.slice(count).join('\n');
    return parts.slice(0, count);
  }
  /** Everything until the server ends the response. */
  async rest(): Promise<string> {
    for (;;) {
      const { value, done } = await this.#reader.read();
      if (done) return this.#text;
      this.#text += this.#decoder.decode(value, { stream: true });
    }
  }
  close(): Promise<void> {
    return this.#reader.cancel();
  }
}

async function web(t: Teardown, options: Parameters<typeof startServer>[1] = {}): Promise<{ port: number; base: string; server: Awaited<ReturnType<typeof startServer>>['server']; waitForLog: (p: RegExp) => Promise<string> }> {
  const { server, port, waitForLog } = await startServer(t, { http: { port: 0 }, ...options });
  return { port, server, waitForLog, base: `http://127.0.0.1:${(server.httpAddress() as { port: number }).port}` };
}

const basic = (user: string, password: string): string => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

t.test('POST sends each line; GET streams, polls and answers JSON', { timeout: 15000 }, async (t) => {
  const { port, base } = await web(t);
  let response = await fetch(`${base}/t/news`, { method: 'POST', body: 'hello\r\n\nworld\n' });
  t.equal(response.status, 200);
  t.equal(await response.text(), 'ok send 1\nok send 2\n', 'one message a non-empty line');
  response = await fetch(`${base}/t/news`, { method: 'POST', body: 'third', headers: { Accept: 'application/json' } });
  t.same(await response.json(), [3]);
  const live = new Stream(await fetch(`${base}/t/news?since=1`));
  t.equal(live.response.headers.get('content-type'), 'text/plain; charset=utf-8');
  t.same(await live.lines(2), ['msg news 2 anonymous world', 'msg news 3 anonymous third'], 'catch-up first');
  const tcp = await LineClient.login(port, 'bob');
  tcp.write('send news over tcp', 'send other not this one');
  await tcp.lines(2);
  t.same(await live.lines(1), ['msg news 4 bob over tcp'], 'then live');
  await live.close();
  response = await fetch(`${base}/t/news?poll=1&since=0`);
  t.equal(await response.text(), 'msg news 1 anonymous hello\nmsg news 2 anonymous world\nmsg news 3 anonymous third\nmsg news 4 bob over tcp\nok replay news 4\n');
  response = await fetch(`${base}/t/%3E?poll=1&last=2&format=json`);
  const rows = (await response.text()).trim().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);
  t.match(rows, [{ id: 4, topic: 'news', sender: 'bob', body: 'over tcp', ts: Number }, { id: 5, topic: 'other', body: 'not this one' }]);
  t.ok((rows[0]?.ts as number) > Date.now() - 60_000, 'ts is the commit time');
  tcp.close();
});

t.test('server-sent events: ids are journal ids, and Last-Event-ID resumes without a gap', { timeout: 15000 }, async (t) => {
  const { port, base } = await web(t);
  const tcp = await LineClient.login(port, 'bob');
  tcp.write('send alerts.disk full');
  await tcp.line();
  const events = new Stream(await fetch(`${base}/t/alerts.%3E?since=0`, { headers: { Accept: 'text/event-stream' } }));
  t.equal(events.response.headers.get('content-type'), 'text/event-stream; charset=utf-8');
  t.same(await events.lines(4), ['id: 1', 'event: msg', 'data: alerts.disk bob full', '']);
  await events.close();
  tcp.write('send alerts.cpu hot\rline', 'send alerts.net down');
  await tcp.lines(2);
  const again = new Stream(await fetch(`${base}/t/alerts.%3E`, { headers: { Accept: 'text/event-stream', 'Last-Event-ID': '1' } }));
  t.same(await again.lines(8), ['id: 2', 'event: msg', 'data: alerts.cpu bob hot\\rline', '', 'id: 3', 'event: msg', 'data: alerts.net bob down', ''], 'what came while away, a CR escaped');
  await again.close();
  tcp.close();
});

t.test('credentials, access rules and origins', { timeout: 20000 }, async (t) => {
  const { server, base } = await web(t, { acl: Acl.parse('user alice\ntopic readwrite orders.>\n') });
  server.store.users.put('alice', quickHash('pw'));
  let response = await fetch(`${base}/t/orders.eu`, { method: 'POST', body: 'x' });
  t.equal(response.status, 401);
  t.equal(response.headers.get('www-authenticate'), 'Basic realm="linebus"');
  response = await fetch(`${base}/t/orders.eu`, { method: 'POST', body: 'x', headers: { Authorization: basic('alice', 'wrong') } });
  t.same([response.status, await response.text()], [401, 'bad user or password\n']);
  response = await fetch(`${base}/t/orders.eu`, { method: 'POST', body: 'one', headers: { Authorization: basic('alice', 'pw') } });
  t.same([response.status, await response.text()], [200, 'ok send 1\n'], 'Basic');
  response = await fetch(`${base}/t/orders.eu`, { method: 'POST', body: 'two', headers: { Authorization: 'Bearer alice:pw' } });
  t.same([response.status, await response.text()], [200, 'ok send 2\n'], 'Bearer');
  response = await fetch(`${base}/t/orders.eu?poll=1&since=0&auth=${Buffer.from('alice:pw').toString('base64')}`);
  t.equal(await response.text(), 'msg orders.eu 1 alice one\nmsg orders.eu 2 alice two\nok replay orders.eu 2\n', '?auth=, for EventSource');
  response = await fetch(`${base}/t/deploys`, { method: 'POST', body: 'x', headers: { Authorization: basic('alice', 'pw') } });
  t.same([response.status, await response.text()], [403, "err denied you may not send to deploys (the access file's rules); ask the operator\n"]);
  response = await fetch(`${base}/t/deploys`, { headers: { Authorization: basic('alice', 'pw') } });
  t.same([response.status, await response.text()], [403, "err denied you may read no topic of deploys (the access file's rules); ask the operator\n"]);
  response = await fetch(`${base}/t/orders.eu`, { headers: { Authorization: basic('alice', 'pw'), Origin: 'http://evil.example' } });
  t.same([response.status, await response.text()], [403, 'origin http://evil.example is not allowed; the operator may add it with --http-origin\n']);
  const own = new Stream(await fetch(`${base}/t/orders.eu?since=1`, { headers: { Authorization: basic('alice', 'pw'), Origin: base } }));
  t.same(await own.lines(1), ['msg orders.eu 2 alice two'], "the listener's own origin may");
  await own.close();
});

t.test('/ws carries the line protocol; credentials before the upgrade, origins checked', { timeout: 15000 }, async (t) => {
  const { port, base } = await web(t, { http: { port: 0, origins: ['https://app.example'] } });
  const url = `${base.replace('http', 'ws')}/ws`;
  const open = (headers: Record<string, string> = {}): Promise<{ ws: WebSocket; frames: string[]; next: () => Promise<string> }> =>
    new Promise((resolve, reject) => {
      const ws = new WebSocket(url, { headers });
      const frames: string[] = [];
      let waiting: ((frame: string) => void) | undefined;
      ws.on('message', (data: Buffer) => {
        const frame = data.toString();
        if (waiting) {
          waiting(frame);
          waiting = undefined;
        } else frames.push(frame);
      });
      ws.once('open', () => resolve({ ws, frames, next: () => (frames.length > 0 ? Promise.resolve(frames.shift() as string) : new Promise((r) => (waiting = r))) }));
      ws.once('error', reject);
    });
  const a = await open();
  t.equal(await a.next(), 'hello linebus 1.0.0');
  a.ws.send('login carol x\nrecv chat');
  t.same([await a.next(), await a.next()], ['ok login carol', 'ok recv chat'], 'one frame, two lines; a frame per line back');
  const b = await open({ Authorization: basic('dave', 'x'), Origin: 'https://app.example' });
  t.equal(await b.next(), 'hello linebus 1.0.0');
  b.ws.send('send chat hi from a browser');
  t.equal(await b.next(), 'ok send 1', 'logged in by its credentials; an origin of --http-origin');
  t.equal(await a.next(), 'msg chat 1 dave hi from a browser');
  const tcp = await LineClient.login(port, 'erin');
  tcp.write('who');
  t.match(await tcp.until('ok who'), [/^conn \d+ carol 127\.0\.0\.1:\d+ ws \d+ chat$/, /^conn \d+ dave /, /^conn \d+ erin /, 'ok who 3']);
  await t.rejects(open({ Origin: 'http://evil.example' }), /403/);
  await t.rejects(open({ Authorization: `Basic ${Buffer.from('no colon').toString('base64')}` }), /401/);
  a.ws.close();
  b.ws.close();
  tcp.close();
});

t.test('/metrics, /healthz, the console page, and bad requests', { timeout: 15000 }, async (t) => {
  const { port, base } = await web(t);
  const tcp = await LineClient.login(port, 'bob');
  tcp.write('send a 1', 'send a 2', 'recv a as c since 0', 'mark c 1');
  await tcp.until('ok mark');
  const metrics = await (await fetch(`${base}/metrics`)).text();
  for (const line of ['linebus_messages_in_total 2', 'linebus_journal_last_id 2', 'linebus_connections{listener="tcp"} 1', 'linebus_cursor_lag{user="bob",cursor="c"} 1', 'linebus_cursors 1']) {
    t.ok(metrics.split('\n').includes(line), line);
  }
  t.match(metrics, /# TYPE linebus_messages_in_total counter/);
  let response = await fetch(`${base}/healthz`);
  t.same([response.status, await response.text()], [200, 'ok\n']);
  response = await fetch(`${base}/`);
  t.equal(response.headers.get('content-type'), 'text/html; charset=utf-8');
  t.match(await response.text(), /<title>linebus console<\/title>/);
  const bad: [string, RequestInit, number, RegExp][] = [
    ['/nope', {}, 404, /^no such path; try \/t\/<topic>/],
    ['/t/a', { method: 'DELETE' }, 405, /takes GET \(receive\) and POST \(send\), not DELETE/],
    ['/metrics', { method: 'POST' }, 405, /answers GET only/],
    ['/t/%E0%A4%A', {}, 400, /not valid percent-encoding/],
    ['/t/a%20b', {}, 400, /no spaces or control characters/],
    ['/t/a%0Asend%20x%20y', { method: 'POST', body: 'x' }, 400, /no spaces or control characters/],
    ['/t/a?since=1%0Aleave', {}, 400, /since= takes an id/],
    ['/t/a?since=soon', {}, 400, /^err syntax/],
    ['/t/a', { method: 'POST', body: '\n\n' }, 400, /holds no line/],
    ['/t/a..b', { method: 'POST', body: 'x' }, 400, /^err syntax .*empty segment/],
    ['/t/a', { method: 'POST', body: 'x'.repeat(70_000) }, 413, /^err toolong/],
    ['/ws', {}, 426, /is a WebSocket/],
  ];
  for (const [path, init, status, body] of bad) {
    response = await fetch(`${base}${path}`, init);
    t.equal(response.status, status, path);
    t.match(await response.text(), body, path);
  }
  tcp.write('ping still here');
  t.equal(await tcp.line(), 'pong still here', 'none of it harmed the daemon');
  tcp.close();
});

t.test('a stream whose reader stops is cut off like a slow TCP client; it resumes from the id it got', { timeout: 20000 }, async (t) => {
  const { server, port, base, waitForLog } = await web(t, { maxPending: 262144 });
  const events = await fetch(`${base}/t/flood`, { headers: { Accept: 'text/event-stream' } });
  const reader = new Stream(events);
  const tcp = await LineClient.login(port, 'bob');
  await tcp.sync();
  // More than the socket buffers of loopback hold (the stream here was cut
  // off after some 31,000), in turns well under --max-pending each (a commit
  // of 1024 sends is some 160 kB of events); bounded.
  const body = 'x'.repeat(100);
  for (let batch = 0; batch < 12 && stat(server.stats(), 'slow_disconnects') === 0; batch++) {
    tcp.write(...Array.from({ length: 10_000 }, () => `send flood ${body}`));
    await tcp.lines(10_000);
  }
  await waitForLog(/^warn slow consumer cut off/);
  const text = await reader.rest();
  const last = /event: slow\ndata: you fell over 262144 bytes behind; last id sent (\d+);/.exec(text);
  t.ok(last, 'the stream ends with an event: slow naming the last id');
  const ids = [...text.matchAll(/^id: (\d+)$/gm)].map((m) => Number(m[1]));
  t.equal(ids.at(-1), Number(last?.[1]), 'which is the last id it got');
  const resumed = new Stream(await fetch(`${base}/t/flood`, { headers: { Accept: 'text/event-stream', 'Last-Event-ID': String(ids.at(-1)) } }));
  t.same((await resumed.lines(1))[0], `id: ${(ids.at(-1) as number) + 1}`, 'Last-Event-ID picks up right after it');
  await resumed.close();
  tcp.close();
});

t.test('long catch-ups wait for their reader, over HTTP and WebSocket alike; logoff closes a WebSocket', { timeout: 30000 }, async (t) => {
  const { port, base } = await web(t, { maxInput: 4096 });
  const tcp = await LineClient.login(port, 'bob');
  const body = 'y'.repeat(200);
  tcp.write(...Array.from({ length: 10_000 }, () => `send bulk ${body}`));
  await tcp.lines(10_000);
  const text = await (await fetch(`${base}/t/bulk?poll=1&since=0`)).text();
  const lines = text.split('\n');
  t.equal(lines.length, 10_002, 'every row, paged');
  t.equal(lines[10_000], 'ok replay bulk 10000');
  const ws = new WebSocket(`${base.replace('http', 'ws')}/ws`);
  let count = 0;
  const closed = new Promise<number>((resolve) => ws.on('close', (code: number) => resolve(code)));
  const done = new Promise<void>((resolve) =>
    ws.on('message', (data: Buffer) => {
      if (data.toString().startsWith('msg bulk ')) count++;
      if (data.toString() === 'ok logoff') resolve();
    }),
  );
  // Behind the catch-up, more input than --max-input: the socket is paused, then resumed.
  ws.on('open', () => ws.send(`login carol x\nrecv bulk since 0\n${'ping p\n'.repeat(5000)}logoff`));
  await done;
  t.equal(count, 10_000);
  t.equal(await closed, 1000, 'logoff: a normal close');
  tcp.close();
});

t.test('a full server refuses web clients as it refuses TCP ones', { timeout: 15000 }, async (t) => {
  const { server, port, base } = await web(t, { maxConnections: 1 });
  const tcp = await LineClient.login(port, 'bob');
  const response = await fetch(`${base}/t/a`);
  t.same([response.status, await response.text()], [503, 'err busy the server is full (1 connections); try again later\n']);
  // A WebSocket client: refused before the upgrade, the connection closed.
  const raw = connect((server.httpAddress() as { port: number }).port, '127.0.0.1');
  let received = '';
  raw.on('data', (chunk: Buffer) => (received += chunk.toString('latin1')));
  raw.write('GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n');
  await new Promise((resolve) => raw.once('close', resolve));
  t.match(received, /^HTTP\/1\.1 503 Service Unavailable\r\n[\s\S]*Connection: close\r\n\r\nerr busy the server is full \(1 connections\); try again later\n$/);
  tcp.close();
});

t.test('WsLink: drained waits for the sends in flight, or for the close', async (t) => {
  const callbacks: (() => void)[] = [];
  const handlers = new Map<string, (...args: unknown[]) => void>();
  const fake = { OPEN: 1, readyState: 1, send: (_data: string, done: () => void) => callbacks.push(done), on: (event: string, handler: (...args: unknown[]) => void) => handlers.set(event, handler) };
  const link = new WsLink(fake as unknown as WebSocket, { socket: { remoteAddress: '127.0.0.1', remotePort: 1 } } as unknown as IncomingMessage, undefined);
  link.open({ data: () => {}, end: () => {}, close: () => {} });
  link.write('one\ntwo\n');
  t.equal(link.writableLength, 6);
  let drained = false;
  const waiting = link.drained().then(() => (drained = true));
  callbacks.shift()?.();
  await Promise.resolve();
  t.equal(drained, false, 'one send still in flight');
  callbacks.shift()?.();
  await waiting;
  t.equal(link.writableLength, 0);
  link.write('three\n');
  const closing = link.drained();
  handlers.get('close')?.();
  await closing;
  t.pass('a close ends the wait');
});
