/**
 * The web door's connections in memory, over a stand-in for the HTTP
 * response and real services on a real journal: what they answer when
 * their work fails, when the watchdog or a stopping server ends them, how
 * a catch-up waits for a reader that does not read, and how a stream
 * whose reader stops is cut off.
 */
import t from 'tap';
import { EventEmitter } from 'node:events';
import type { ServerResponse } from 'node:http';
import { err } from '../src/protocol/events.js';
import type { Admission, Connection } from '../src/session/connection.js';
import type { PostRequest, ReceiveRequest } from '../src/transport/http.js';
import { WebPost } from '../src/web/post.js';
import type { PostParts } from '../src/web/post.js';
import { WebStream } from '../src/web/stream.js';
import type { StreamParts } from '../src/web/stream.js';
import { bench } from './memory-link.js';
import type { Teardown } from './helpers.js';

/** What the door writes, kept; `writableLength` is what the client has not read. */
class FakeResponse extends EventEmitter {
  headersSent = false;
  status = 0;
  headers: Record<string, string> = {};
  body = '';
  writableLength = 0;
  destroyed = false;
  /** Settles when the response ends. */
  readonly finished: Promise<void>;
  #finish: () => void = () => {};
  /** Bytes the client does not take (a reader that stops). */
  holding = false;

  constructor() {
    super();
    this.finished = new Promise((resolve) => (this.#finish = resolve));
  }

  writeHead(status: number, headers: Record<string, string>): this {
    this.status = status;
    this.headers = headers;
    this.headersSent = true;
    return this;
  }

  flushHeaders(): void {}

  write(data: string | Buffer): boolean {
    this.body += data.toString();
    if (this.holding) this.writableLength += Buffer.byteLength(data);
    return true;
  }

  cork(): void {}

  uncork(): void {}

  end(data?: string): void {
    if (data !== undefined) this.body += data;
    this.#finish();
  }

  /** Bytes still unread when it was destroyed. */
  unreadAtDestroy: number | undefined;

  destroy(): void {
    this.destroyed = true;
    this.unreadAtDestroy ??= this.writableLength;
  }

  /** The client reads `bytes` of what it was sent. */
  take(bytes: number): void {
    this.writableLength = Math.max(0, this.writableLength - bytes);
    if (this.writableLength === 0) this.emit('drain');
  }

  /** The client reads all it was sent. */
  read(): void {
    this.holding = false;
    this.writableLength = 0;
    this.emit('drain');
  }
}

function setup(t: Teardown, maxPending = 8 << 20): { b: ReturnType<typeof bench>; parts: StreamParts & PostParts; admission: Admission; closed: string[] } {
  const b = bench(t, { maxLine: 65536, maxPending, maxSubscriptions: 1000, maxAckPending: 1000, maxCursors: 100, maxGroups: 100, maxInput: 65536 });
  const parts = { ...b.services, limits: { maxLine: 65536, maxPending, maxPostBytes: 1 << 20, maxPostLines: 1000 } };
  const closed: string[] = [];
  const admission: Admission = {
    admit: <C extends Connection>(make: (id: number) => C): C => make(1),
    closed: (_connection, reason) => closed.push(reason),
  };
  return { b, parts, admission, closed };
}

const client = { user: 'web', remote: '127.0.0.1:1', remoteAddress: '127.0.0.1' };

/** A body that comes in one piece. */
async function* body(text: string): AsyncGenerator<Buffer> {
  yield Buffer.from(text);
}

t.test('a stream whose work fails answers err internal, with its status, and closes', async (t) => {
  const { b, parts, admission, closed } = setup(t);
  const res = new FakeResponse();
  const request: ReceiveRequest = { ...client, res: res as unknown as ServerResponse, format: 'plain', pattern: '>', start: ['since', '0'], poll: true };
  const stream = new WebStream(1, request, parts, admission);
  // The reader fails: its database is gone.
  b.store.close();
  stream.run(request);
  t.equal(stream.busy, true, 'busy while the feed works');
  await res.finished;
  t.same([res.status, res.body], [500, 'err internal the server could not finish that command; try again\n']);
  res.emit('close');
  t.same(closed, ['client closed']);
});

t.test('the watchdog or a stopping server ends a started stream with an event; a post answers what it knows', async (t) => {
  const { b, parts, admission, closed } = setup(t);
  const res = new FakeResponse();
  const request: ReceiveRequest = { ...client, res: res as unknown as ServerResponse, format: 'sse', pattern: 'a', start: undefined, poll: false };
  const stream = new WebStream(1, request, parts, admission);
  stream.run(request);
  t.same([res.status, stream.subscriptionCount], [200, 1], 'started and receiving');
  stream.close('idle', err('timeout', 'idle for 60s'));
  stream.shutdown();
  await res.finished;
  t.equal(res.body, 'event: timeout\ndata: idle for 60s\n\n', 'the first end only');
  res.emit('close');
  t.same(closed, ['idle']);

  const postRes = new FakeResponse();
  const post = new WebPost(2, { ...client, res: postRes as unknown as ServerResponse, topic: 'a', body: body('one\ntwo\n'), declaredBytes: undefined, json: false } satisfies PostRequest, parts, admission);
  post.run();
  for (let ticks = 0; ticks < 100 && b.services.broker.queued === 0; ticks++) await Promise.resolve();
  t.same([b.services.broker.queued, post.busy, post.pendingBytes()], [2, true, 0], 'its lines handed over, waiting for the commit');
  post.shutdown();
  t.equal(postRes.status, 0, 'the answer waits for the outcome of what was handed over');
  await b.turn.ended();
  t.same([postRes.status, postRes.body], [503, 'ok send 1\nok send 2\nerr shutdown the server is stopping; reconnect later\n'], 'which says they were journaled');
  post.close('idle', err('timeout', 'late'));
  t.equal(postRes.body, 'ok send 1\nok send 2\nerr shutdown the server is stopping; reconnect later\n', 'answered once');
  t.equal(b.store.reader.lastId(), 2);

  const readingRes = new FakeResponse();
  let more: () => void = () => {};
  const slowBody = (async function* () {
    yield Buffer.from('three\n');
    await new Promise<void>((resolve) => (more = resolve));
    yield Buffer.from('four\n');
  })();
  const reading = new WebPost(3, { ...client, res: readingRes as unknown as ServerResponse, topic: 'a', body: slowBody, declaredBytes: undefined, json: false }, parts, admission);
  reading.run();
  await Promise.resolve();
  reading.shutdown();
  t.same([readingRes.status, readingRes.headers.Connection, readingRes.body], [503, 'close', 'err shutdown the server is stopping; reconnect later\n'], 'stopped in the middle of its body: at once, and the rest is not read');
  more();
  await b.turn.ended();
  t.equal(b.store.reader.lastId(), 2, 'none of it was sent');

  const brokenRes = new FakeResponse();
  const broken = (async function* () {
    yield Buffer.from('five\n');
    throw new Error('the socket failed');
  })();
  new WebPost(4, { ...client, res: brokenRes as unknown as ServerResponse, topic: 'a', body: broken, declaredBytes: undefined, json: false }, parts, admission).run();
  await brokenRes.finished;
  t.same([brokenRes.status, brokenRes.body], [500, 'err internal the server could not read that body; nothing was sent, try again\n'], 'a body that fails to come: nothing sent');
  t.equal(b.store.reader.lastId(), 2);
});

t.test('a catch-up waits for a reader that does not read, then goes on', async (t) => {
  const { b, parts, admission } = setup(t, 65536);
  b.store.journal.append(Array.from({ length: 1000 }, (_, i) => ({ topic: 'bulk', sender: 's', body: `${i} ${'x'.repeat(100)}` })), 1);
  const res = new FakeResponse();
  res.holding = true;
  const request: ReceiveRequest = { ...client, res: res as unknown as ServerResponse, format: 'json', pattern: 'bulk', start: ['since', '0'], poll: true };
  new WebStream(1, request, parts, admission).run(request);
  for (let turns = 0; turns < 100 && b.stats.catchUpsWaiting === 0; turns++) await b.turn.ended();
  t.equal(b.stats.catchUpsWaiting, 1, 'waiting for the reader');
  const before = res.body.split('\n').length - 1;
  t.ok(before > 0 && before < 1000, `${before} messages written before the wait`);
  res.read();
  await res.finished;
  const rows = res.body.trim().split('\n');
  t.equal(rows.length, 1000, 'then the rest; a poll in JSON ends with no count');
  t.same(JSON.parse(rows[999] as string), { id: 1000, ts: 1, topic: 'bulk', sender: 's', body: `999 ${'x'.repeat(100)}` });
});

t.test('a plain stream whose reader stops is cut off with the err slow line, naming the last id it got', async (t) => {
  const { b, parts, admission, closed } = setup(t, 65536);
  const res = new FakeResponse();
  res.holding = true;
  const request: ReceiveRequest = { ...client, res: res as unknown as ServerResponse, format: 'plain', pattern: 'flood', start: undefined, poll: false };
  new WebStream(1, request, parts, admission).run(request);
  const body = 'x'.repeat(1000);
  // A turn at a time, each written before the next, until the reader is too far behind.
  for (let turn = 0; turn < 100 && !b.stats.slowDisconnects; turn++) {
    b.services.broker.publish({ origin: undefined, topic: 'flood', sender: 's', body, done: () => {} });
    await b.turn.ended();
  }
  await res.finished;
  const lines = res.body.trimEnd().split('\n');
  // 65 messages of 1017 bytes are over 65536 behind; the 66th finds it so.
  t.equal(lines.length, 66, 'every message until it was too far behind, then the last line');
  t.equal(lines.at(-2), `msg flood 65 s ${body}`);
  t.equal(lines.at(-1), 'err slow you fell over 65536 bytes behind; last id sent 65; reconnect and recv <pattern> since 65');
  res.emit('close');
  t.same(closed, ['slow']);
});


t.test('a poll that has ended reaches a reader that reads slowly, however long after the end that takes', { timeout: 20000 }, async (t) => {
  const { b, parts, admission } = setup(t, 65536);
  b.store.journal.append(Array.from({ length: 200 }, (_, i) => ({ topic: 'slow', sender: 's', body: `${i} ${'x'.repeat(100)}` })), 1);
  const res = new FakeResponse();
  res.holding = true;
  const request: ReceiveRequest = { ...client, res: res as unknown as ServerResponse, format: 'plain', pattern: 'slow', start: ['since', '0'], poll: true };
  new WebStream(1, request, parts, admission).run(request);
  while (!res.body.endsWith('ok replay slow 200\n')) {
    res.take(4096);
    await b.turn.ended();
  }
  await res.finished;
  const unread = res.writableLength;
  t.ok(unread > 2000, `${unread} bytes unread at the end`);
  // A sixth of it every 500 ms: slow, but something each time, 3 s in all.
  const step = Math.ceil(unread / 6);
  while (res.writableLength > 0) {
    await new Promise((resolve) => setTimeout(resolve, 500));
    t.equal(res.destroyed, false, `${res.writableLength} bytes left: not cut off`);
    res.take(step);
  }
  t.pass('read to the end');
});
