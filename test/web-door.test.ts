/**
 * The web door as a door of its own (web/): what it writes from the bus's
 * typed events, over real HTTP against a real daemon: commit times in JSON,
 * a POST sent whole or not at all, and its place among the connections.
 */
import t from 'tap';
import { LineClient, readUntil, startServer } from './helpers.js';
import type { Teardown } from './helpers.js';

async function web(t: Teardown, options: Parameters<typeof startServer>[1] = {}): Promise<Awaited<ReturnType<typeof startServer>> & { base: string }> {
  const started = await startServer(t, { http: { port: 0 }, ...options });
  return { ...started, base: `http://127.0.0.1:${(started.server.httpAddress() as { port: number }).port}` };
}

t.test('JSON carries the time the journal holds, for what was journaled and what comes live', { timeout: 15000 }, async (t) => {
  const { server, port, base } = await web(t);
  await (await fetch(`${base}/t/news`, { method: 'POST', body: 'before' })).text();
  const response = await fetch(`${base}/t/news?since=0&format=json`);
  const tcp = await LineClient.login(port, 'bob');
  tcp.write('send news live');
  await tcp.line();
  const rows = (await readUntil(response, (text) => text.split('\n').length > 2)).trim().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);
  t.same(
    rows,
    [1, 2].map((id) => {
      const row = server.store.reader.message(id);
      return { id, ts: row?.ts, topic: 'news', sender: row?.sender, body: row?.body };
    }),
  );
  tcp.close();
});

t.test('a POST is sent whole or not at all; a refusal answers in lines, even to JSON', { timeout: 15000 }, async (t) => {
  const { base } = await web(t, { maxLine: 64 });
  const long = 'x'.repeat(60);
  const tooLong = (line: number): string => `err toolong line ${line} of the body is over the 64-byte limit (--max-line, counted with 'send a ' before it); nothing was sent; send shorter lines\n`;
  let response = await fetch(`${base}/t/a`, { method: 'POST', body: `one\n${long}\ntwo\n` });
  t.same([response.status, await response.text()], [413, tooLong(2)]);
  response = await fetch(`${base}/t/a`, { method: 'POST', body: `${long}\nthree`, headers: { Accept: 'application/json' } });
  t.same([response.status, response.headers.get('content-type')], [413, 'text/plain; charset=utf-8'], 'a refusal answers in lines, even to JSON');
  t.equal(await response.text(), tooLong(1));
  response = await fetch(`${base}/t/a`, { method: 'POST', body: 'four\nfive', headers: { Accept: 'application/json' } });
  t.same([response.status, await response.json()], [200, [1, 2]], 'the refused bodies sent nothing');
  response = await fetch(`${base}/t/$dead.x`, { method: 'POST', body: 'six' });
  t.same([response.status, await response.text()], [403, "err denied topics starting with '$' belong to the server; clients may recv them but not send to them\n"]);
});

t.test('web streams are connections: who lists them, --max-connections counts them, a full server refuses a POST', { timeout: 15000 }, async (t) => {
  const { port, base } = await web(t, { maxConnections: 2 });
  const stream = await fetch(`${base}/t/news.*`);
  const tcp = await LineClient.login(port, 'bob');
  tcp.write('who');
  t.match(await tcp.until('ok who'), [/^conn \d+ anonymous 127\.0\.0\.1:\d+ http 0 news\.\*$/, /^conn \d+ bob .* tcp \d+$/, 'ok who 2']);
  const response = await fetch(`${base}/t/news.a`, { method: 'POST', body: 'x' });
  t.same([response.status, response.headers.get('content-type'), await response.text()], [503, 'text/plain; charset=utf-8', 'err busy the server is full (2 connections); try again later\n']);
  await (stream.body as ReadableStream<Uint8Array>).cancel();
  tcp.close();
});
