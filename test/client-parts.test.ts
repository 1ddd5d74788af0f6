/** The client's pure parts, table by table: endpoints, the retry delay, recv's line; and its tags against an older server's stand-in. */
import t from 'tap';
import { createServer } from 'node:net';
import { Client } from '../src/client/client.js';
import { endpoint } from '../src/client/endpoint.js';
import type { ConnectOptions, Endpoint } from '../src/client/endpoint.js';
import { LinebusError } from '../src/client/errors.js';
import { recvLine, retryDelay } from '../src/cli/recv.js';

t.test('endpoint: the URL wins over the options, TLS options survive linebuss://, no servername for an IP address', async (t) => {
  const ca = Buffer.from('ca');
  const cases: [ConnectOptions, Partial<Endpoint>][] = [
    [{}, { host: '127.0.0.1', port: 7667, password: undefined, tls: undefined, where: '127.0.0.1:7667' }],
    [{ host: 'bus.example', port: 1, user: 'u', password: 'p', tls: true }, { host: 'bus.example', port: 1, user: 'u', password: 'p', tls: { servername: 'bus.example' }, where: 'bus.example:1' }],
    [{ host: '10.0.0.1', tls: { ca } }, { tls: { ca }, where: '10.0.0.1:7667' }],
    [{ url: 'linebuss://alice:s%20cret@[::1]:7669', tls: { ca }, port: 9, user: 'bob' }, { host: '::1', port: 7669, user: 'alice', password: 's cret', tls: { ca }, where: '[::1]:7669' }],
    [{ url: 'linebuss://bus.example', tls: { ca, servername: 'other' }, user: 'bob', password: 'p' }, { host: 'bus.example', port: 7667, user: 'bob', password: 'p', tls: { servername: 'other', ca } }],
    [{ url: 'linebus://alice@bus.example:5', tls: true }, { user: 'alice', password: undefined, tls: { servername: 'bus.example' } }],
    [{ url: 'linebus://h:5' }, { host: 'h', port: 5, tls: undefined }],
  ];
  for (const [options, expected] of cases) t.match(endpoint(options), expected, JSON.stringify(options));
  for (const host of ['10.0.0.1', '::1']) t.same(endpoint({ host, tls: true }).tls, {}, `${host}: no servername (Node warns DEP0123)`);
  t.equal(endpoint({ url: 'linebus://h', user: undefined }).user, process.env.USER ?? 'linebus', 'no user: $USER');
});

t.test('endpoint: a bad URL is refused without repeating it', async (t) => {
  const cases: [string, string][] = [
    ['http://alice:s3cret@h:1', 'a http:// URL; use linebus://user:password@host:port (linebuss:// for TLS)'],
    ['linebus://alice:s3cret@[x', 'the URL is not one; use linebus://user:password@host:port (linebuss:// for TLS)'],
    ['linebus://alice:s3cret%zz@h', "the URL's user or password is badly %-encoded; use linebus://user:password@host:port (linebuss:// for TLS)"],
  ];
  for (const [url, message] of cases) t.throws(() => endpoint({ url }), new LinebusError('syntax', message), url);
});

t.test('retryDelay: the base, doubled for each failure before, at most the cap', async (t) => {
  const cases: [number, number, number, number][] = [
    [1, 1000, 60_000, 1000],
    [2, 1000, 60_000, 2000],
    [3, 1000, 60_000, 4000],
    [6, 1000, 60_000, 32_000],
    [7, 1000, 60_000, 60_000],
    [5000, 1000, 60_000, 60_000],
    [3, 0, 60_000, 0],
    [1, 5000, 1000, 1000],
  ];
  for (const [failures, base, max, expected] of cases) t.equal(retryDelay(failures, base, max), expected, `${failures} failures, ${base} ms, at most ${max}`);
});

t.test('recvLine: text or JSON; on a terminal, control characters visible wherever they are', async (t) => {
  const message = { topic: 't', id: 3, sender: 'ev\u001bil', body: 'a\tb\u001b[2Jc\r' };
  t.equal(recvLine(message, false, false), 't 3 ev\u001bil a\tb\u001b[2Jc\r\n');
  t.equal(recvLine(message, false, true), 't 3 ev\\x1bil a\tb\\x1b[2Jc\\r\n');
  t.equal(recvLine(message, true, true), '{"id":3,"topic":"t","sender":"ev\\u001bil","body":"a\\tb\\u001b[2Jc\\r"}\n');
});

t.test('stamped: @ts= lines give messages their time; a server without tags answers err and lines come without it', async (t) => {
  // A stand-in for linebus before `tags`, on loopback: it answers in order, as linebus does.
  const seen: string[] = [];
  const older = createServer((socket) => {
    socket.write('hello linebus 0.9.0\n');
    let partial = '';
    socket.on('data', (chunk) => {
      partial += chunk.toString();
      for (let lf = partial.indexOf('\n'); lf !== -1; lf = partial.indexOf('\n')) {
        const line = partial.slice(0, lf);
        partial = partial.slice(lf + 1);
        seen.push(line);
        if (line.startsWith('ping')) socket.write('pong linebus\n');
        else if (line.startsWith('login')) socket.write('ok login alice\n');
        else if (line === 'tags ts') socket.write("err syntax unknown command 'tags'; try help\n");
        else if (line.startsWith('recv')) socket.write('ok recv t\nmsg t 1 bob plain\n@ts=1700000000000 msg t 2 bob stamped\n');
        else if (line === 'logoff') socket.end('ok logoff\n');
      }
    });
  });
  await new Promise<void>((resolve) => older.listen(0, '127.0.0.1', resolve));
  t.teardown(() => older.close());
  const client = await Client.connect({ port: (older.address() as { port: number }).port, user: 'alice', stamped: true, retryMs: -1 });
  const got = [];
  for await (const message of client.recv('t')) {
    got.push(message);
    if (got.length === 2) break;
  }
  await client.close();
  t.same(seen.slice(0, 4), ['ping linebus', 'login alice -', 'tags ts', 'recv t'], 'asked for tags after the login, went on after its err');
  t.same(got, [
    { topic: 't', id: 1, sender: 'bob', body: 'plain' },
    { topic: 't', id: 2, sender: 'bob', body: 'stamped', ts: 1700000000000 },
  ]);
  t.equal(recvLine(got[1] as (typeof got)[number], true, false), '{"id":2,"ts":1700000000000,"topic":"t","sender":"bob","body":"stamped"}\n');
  t.equal(recvLine(got[0] as (typeof got)[number], true, false), '{"id":1,"topic":"t","sender":"bob","body":"plain"}\n', 'no ts: none in the JSON');
});
