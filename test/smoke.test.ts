/**
 * One smoke test per door, for `npm run test:quick`: one daemon listening
 * on TCP, TLS, HTTP and WebSocket, and a message in through each door
 * reaching a receiver on TCP. The doors' own files test them in depth.
 */
import t from 'tap';
import { readFileSync } from 'node:fs';
import { WebSocket } from 'ws';
import { makeCerts } from './certs.js';
import { LineClient, startServer, tempDir } from './helpers.js';

const certs = makeCerts(tempDir(t));
const { server, port } = await startServer(t, { tls: { port: 0, ...certs.server }, http: { port: 0 } });
const receiver = await LineClient.login(port, 'rx');
receiver.write('recv smoke');
if ((await receiver.line()) !== 'ok recv smoke') throw new Error('recv smoke was refused');
t.teardown(() => receiver.close());

t.test('TCP', async (t) => {
  const c = await LineClient.login(port, 'tcp');
  c.write('send smoke over tcp');
  t.equal(await c.line(), 'ok send 1');
  t.equal(await receiver.line(), 'msg smoke 1 tcp over tcp');
  c.close();
});

t.test('TLS', async (t) => {
  const c = await LineClient.tls((server.tlsAddress() as { port: number }).port, { ca: readFileSync(certs.ca) });
  c.write('login tls pw', 'send smoke over tls');
  t.same(await c.lines(3), ['hello linebus 1.0.0', 'ok login tls', 'ok send 2']);
  t.equal(await receiver.line(), 'msg smoke 2 tls over tls');
  c.close();
});

const base = `http://127.0.0.1:${(server.httpAddress() as { port: number }).port}`;

t.test('HTTP', async (t) => {
  const response = await fetch(`${base}/t/smoke`, { method: 'POST', body: 'over http\n' });
  t.equal(response.status, 200);
  t.equal(await response.text(), 'ok send 3\n');
  t.equal(await receiver.line(), 'msg smoke 3 anonymous over http');
  t.equal(await (await fetch(`${base}/t/smoke?poll=1&since=2`)).text(), 'msg smoke 3 anonymous over http\nok replay smoke 1\n');
});

t.test('WebSocket', async (t) => {
  const ws = new WebSocket(`${base.replace('http', 'ws')}/ws`);
  t.teardown(() => ws.close());
  const frames: string[] = [];
  const three = new Promise<void>((resolve) =>
    ws.on('message', (data: Buffer) => {
      if (frames.push(data.toString()) === 3) resolve();
    }),
  );
  await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
  ws.send('login ws pw\nsend smoke over ws');
  await three;
  t.same(frames, ['hello linebus 1.0.0', 'ok login ws', 'ok send 4']);
  t.equal(await receiver.line(), 'msg smoke 4 ws over ws');
});
