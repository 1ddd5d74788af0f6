/**
 * Connections that outlive their clients (issue 19, item 2): a worker that
 * half-closed, or whose process was killed, can ack nothing more, so its
 * jobs go back at once and it is handed no more; a connection whose client
 * is gone leaves `who` and --max-connections. (A receiver whose process
 * died, found by the probe of half-closed sockets, is in netns.test.ts,
 * where the client's host may forget its closed sockets quickly.)
 */
import t from 'tap';
import { LineClient, startServer } from './helpers.js';
import { linebus } from './cli-helpers.js';

/** The users `who` lists, in order, and its count. */
async function who(client: LineClient): Promise<string[]> {
  client.write('who');
  return (await client.until('ok who')).map((line) => line.split(' ')[2] ?? line);
}

t.test('a worker that half-closes gives its job back at once and leaves the group and who', async (t) => {
  const { port } = await startServer(t);
  const quitter = await LineClient.login(port, 'quitter');
  quitter.write('take jobs as g');
  t.equal(await quitter.line(), 'ok take jobs as g');
  const producer = await LineClient.login(port, 'producer');
  producer.write('send jobs one');
  t.equal(await producer.line(), 'ok send 1');
  t.equal(await quitter.line(), 'job jobs 1 producer one');
  const steady = await LineClient.login(port, 'steady');
  steady.write('take jobs as g');
  t.equal(await steady.line(), 'ok take jobs as g');
  quitter.socket.end();
  t.same(await quitter.rest(), [], 'closed by the server once its replies were written');
  t.equal(await steady.line(), 'job jobs 1 producer one', 'its job went to the other worker at once, long before its 30 s wait');
  t.same(await who(producer), ['producer', 'steady', '2'], 'gone from who');
  for (const c of [producer, steady]) c.close();
});

t.test('a half-closed receiver stays and is delivered to, but is handed no job and holds none', async (t) => {
  const { port } = await startServer(t);
  const listener = await LineClient.login(port, 'listener');
  listener.write('recv news', 'take jobs as g');
  t.same(await listener.lines(2), ['ok recv news', 'ok take jobs as g']);
  listener.socket.end();
  const producer = await LineClient.login(port, 'producer');
  producer.write('send jobs one', 'send news hello');
  t.same(await producer.lines(2), ['ok send 1', 'ok send 2']);
  t.equal(await listener.line(), 'msg news 2 producer hello', 'printf ... | nc -N: it keeps receiving');
  producer.write('pending g');
  t.same(await producer.until('ok pending'), ['ok pending g 0'], 'the job was not handed out: it waits for a worker that can ack');
  t.same(await who(producer), ['listener', 'producer', '2']);
  for (const c of [listener, producer]) c.close();
});

t.test('kill -9 of linebus recv --take: its job comes back at once', { timeout: 30000 }, async (t) => {
  const { port } = await startServer(t);
  // Its own process group: the command it runs outlives it and is killed at teardown.
  const child = linebus(['recv', 'jobs', '--port', String(port), '--user', 'doomed', '--password', 'x', '--take', 'g', '--since', '0', '--', 'sh', '-c', 'echo working; exec sleep 60 >/dev/null 2>&1'], { detached: true });
  t.teardown(() => process.kill(-(child.pid as number), 'SIGKILL'));
  const working = new Promise<void>((resolve) => child.stdout.on('data', (chunk: Buffer) => chunk.toString().includes('working') && resolve()));
  const producer = await LineClient.login(port, 'producer');
  producer.write('send jobs one');
  t.equal(await producer.line(), 'ok send 1');
  await working;
  const steady = await LineClient.login(port, 'steady');
  steady.write('take jobs as g');
  t.equal(await steady.line(), 'ok take jobs as g');
  child.kill('SIGKILL');
  t.equal(await steady.line(), 'job jobs 1 producer one', 'not after the 30 s wait: at once');
  t.same(await who(producer), ['producer', 'steady', '2']);
  for (const c of [producer, steady]) c.close();
});
