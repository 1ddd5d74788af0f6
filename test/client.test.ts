/**
 * The Node client and `linebus send|recv|request` (CLI.md, "Client
 * commands") against a real daemon: pipelined sends, recv that survives a
 * restart of the daemon without losing or repeating a message, jobs with
 * ack and nack, request and reply, typed errors, exit statuses.
 */
import t from 'tap';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect } from '../src/client/client.js';
import { LinebusError } from '../src/client/errors.js';
import type { Message } from '../src/client/stream.js';
import { LinebusServer } from '../src/server.js';
import { finish, linebus, run } from './cli-helpers.js';
import { connections, LineClient, startServer, tempDir, TEST_WAL_BYTES } from './helpers.js';

t.test('the Node client: pipelined sends, recv, jobs, request and reply, typed errors', { timeout: 20000 }, async (t) => {
  const { port } = await startServer(t);
  const client = await connect({ port, user: 'alice' });
  const ids = await Promise.all(Array.from({ length: 5000 }, (_, i) => client.send('bulk', `m${i}`)));
  t.same([ids[0], ids[4999]], [1, 5000], 'five thousand in flight, ids in order');
  const seen: Message[] = [];
  for await (const message of client.recv('bulk', { since: 4998 })) {
    seen.push(message);
    if (seen.length === 2) break;
  }
  t.same(seen, [{ topic: 'bulk', id: 4999, sender: 'alice', body: 'm4998' }, { topic: 'bulk', id: 5000, sender: 'alice', body: 'm4999' }]);
  await t.rejects(client.send('$x', 'y'), { name: 'LinebusError', code: 'denied' });
  // A line feed would make the rest of the body a command of its own; the
  // next send's id (5001 below) shows nothing of it was journaled.
  await t.rejects(client.send('bulk', 'x\nsend payments approve'), { name: 'LinebusError', code: 'syntax', message: /cannot hold a line break/ });
  await t.rejects(client.send('bulk', 'ends in CR\r'), { code: 'syntax', message: /or end with a carriage return/ }, 'the server would drop it as the CR of CR LF');
  await t.rejects(client.send('pay ments', 'approve'), new LinebusError('syntax', "a topic has no blanks or control characters: 'pay ments'; use dots between its words"));
  await t.rejects(client.request('a\tb', 'x'), { code: 'syntax' });
  const worker = await connect({ url: `linebus://bob:pw@127.0.0.1:${port}` });
  const jobs = worker.take('work', { as: 'g' })[Symbol.asyncIterator]();
  const first = jobs.next();
  await client.send('work', 'one');
  const job = (await first).value;
  t.match(job, { topic: 'work', id: 5001, sender: 'alice', body: 'one' });
  await job.nack();
  const again = (await jobs.next()).value;
  t.equal(again.id, 5001, 'nacked: it comes again');
  await again.ack();
  const answers = client.recv('ask')[Symbol.asyncIterator]();
  const asked = answers.next();
  const answer = worker.request('ask', 'what time?', { within: '5s' });
  const question = (await asked).value as Message;
  await client.reply(question.id, 'noon');
  t.same(await answer, { id: question.id, responder: 'alice', answer: 'noon' });
  await t.rejects(worker.request('ask', 'anyone?', { within: '100ms' }), new LinebusError('timeout', `no reply to request ${question.id + 2} within 100ms; it stays in the journal as ${question.id + 2}`));
  await client.close();
  await worker.close();
});

t.test('a closed client refuses new streams and commands', { timeout: 20000 }, async (t) => {
  const { port } = await startServer(t);
  const client = await connect({ port, user: 'alice' });
  await client.close();
  await t.rejects(client.recv('t')[Symbol.asyncIterator]().next(), new LinebusError('closed', 'not connected to the server'));
  await t.rejects(client.send('t', 'x'), new LinebusError('closed', 'not connected to the server'));
});

t.test('recv survives a restart of the daemon: nothing lost, nothing twice', { timeout: 30000 }, async (t) => {
  const db = join(tempDir(t), 'bus.db');
  let server = await LinebusServer.start({ db, host: '127.0.0.1', port: 0, walPreallocateBytes: TEST_WAL_BYTES });
  const port = server.address().port;
  const client = await connect({ port, user: 'rx', retryMs: 20 });
  const got: number[] = [];
  const iterator = client.recv('t', { since: 0 })[Symbol.asyncIterator]();
  const tx = await connect({ port, user: 'tx', retryMs: -1 });
  for (let i = 1; i <= 3; i++) await tx.send('t', `${i}`);
  while (got.length < 3) got.push((await iterator.next()).value.id);
  await server.stop();
  server = await LinebusServer.start({ db, host: '127.0.0.1', port, walPreallocateBytes: TEST_WAL_BYTES });
  t.teardown(() => server.stop());
  const tx2 = await connect({ port, user: 'tx' });
  for (let i = 4; i <= 6; i++) await tx2.send('t', `${i}`);
  while (got.length < 6) got.push((await iterator.next()).value.id);
  t.same(got, [1, 2, 3, 4, 5, 6]);
  await client.close();
  await tx2.close();
});

t.test('linebus send, recv and request: output, exit statuses, commands per message', { timeout: 60000 }, async (t) => {
  const daemon = await startServer(t);
  const { port, server } = daemon;
  const at = ['--port', String(port)];
  t.match(await run(['send', ...at, 'deploys', 'web-3', 'done']), { code: 0, stdout: '', stderr: '' });
  t.match(await run(['send', ...at, 'deploys', 'disk full\nsend payments approve']), { code: 1, stdout: '', stderr: /^linebus: deploys: err syntax a message or argument cannot hold a line break or end with a carriage return;/ }, 'nothing sent: the ids below go on from 2');
  t.match(await run(['send', ...at, '-v', 'deploys'], 'a\n\nb\n'), { code: 0, stdout: '2\n3\n' }, 'stdin lines (an empty one skipped); -v prints ids');
  const lines = Array.from({ length: 5000 }, (_, i) => `line ${i}`).join('\n');
  t.match(await run(['send', ...at, 'bulk'], lines), { code: 0, stderr: '' }, 'a 5,000-line file, pipelined');
  t.match(await run(['recv', ...at, 'bulk', '--last', '1', '-n', '1']), { code: 0, stdout: 'bulk 5003 linebus line 4999\n' });
  t.match(await run(['recv', ...at, 'deploys', '--as', 'c', '--since', '0', '-n', '1']), { code: 0, stdout: 'deploys 1 linebus web-3 done\n' });
  t.match(await run(['recv', ...at, 'deploys', '--as', 'c', '-n', '1']), { code: 0, stdout: 'deploys 2 linebus a\n' }, 'the cursor was marked: the next run goes on after it');
  t.match(await run(['recv', ...at, 'a..b']), { code: 1, stderr: /^linebus: a\.\.b: err syntax .*empty segment/ });
  const json = await run(['recv', ...at, 'deploys', '--since', '0', '-n', '2', '--json']);
  const ts = (id: number): number => server.store.reader.message(id)?.ts as number;
  t.match(json, { code: 0, stdout: `{"id":1,"ts":${ts(1)},"topic":"deploys","sender":"linebus","body":"web-3 done"}\n{"id":2,"ts":${ts(2)},"topic":"deploys","sender":"linebus","body":"a"}\n` }, 'with the commit time, as tail --json');
  t.match(await run(['send', ...at, '$no', 'x']), { code: 1, stderr: /^linebus: \$no: err denied / });
  t.match(await run(['send', '--port', '1', 'x', 'y']), { code: 1, stderr: 'linebus: cannot reach 127.0.0.1:1: ECONNREFUSED\n' });
  t.match(await run(['request', ...at, '--within', '200ms', 'nobody', 'there?']), { code: 1, stdout: '', stderr: /^linebus: err timeout no reply to request \d+ within 200ms/ });

  // A bot that answers with a command, and a worker that fails once.
  const dir = tempDir(t);
  const before = daemon.logs.length;
  // Its output ends its lines with CR LF: the reply is the line without them.
  const bot = linebus(['recv', ...at, 'time.now', '--reply', '--', 'sh', '-c', 'printf "it is noon for %s\\r\\n" "$LINEBUS_FROM"']);
  const botDone = finish(bot);
  const script = join(dir, 'work.sh');
  writeFileSync(script, `#!/bin/sh\nbody=$(cat)\nif [ "$body" = bad ] && [ ! -e ${dir}/failed ]; then touch ${dir}/failed; exit 3; fi\necho "$LINEBUS_ID $body" >> ${dir}/done\n`, { mode: 0o755 });
  // Its failed job comes again after --retry-delay: 50 ms, not the default second.
  const worker = linebus(['recv', ...at, 'jobs', '--take', 'workers', '-n', '3', '--retry-delay', '50ms', '--', script]);
  const workerDone = finish(worker);
  const probe = await LineClient.login(port, 'probe');
  // Both are ready once the server lists the bot's pattern and the worker's group;
  // asked once the bot, the worker and the probe are connected.
  await connections(daemon, 3, before);
  for (;;) {
    probe.write('who', 'pending workers');
    const who = await probe.until('ok who');
    const group = await probe.line();
    if (who.some((line) => line.endsWith(' time.now')) && group === 'ok pending workers 0') break;
  }
  t.match(await run(['request', ...at, '--user', 'carol', 'time.now', '?']), { code: 0, stdout: 'it is noon for carol\n' });
  t.match(await run(['send', ...at, 'jobs'], 'ok1\nbad\n'), { code: 0 });
  const worked = await workerDone;
  t.equal(worked.code, 0, 'exits after -n 3: two jobs, one of them twice');
  t.match(worked.stderr, /failed on jobs \d+: exit status 3/);
  t.same(readDone(dir), ['ok1', 'bad'], 'the failed job was nacked and done on its next delivery');
  bot.kill('SIGTERM');
  await botDone;
  probe.close();
});

function readDone(dir: string): string[] {
  return readFileSync(join(dir, 'done'), 'utf8').trim().split('\n').map((line) => line.split(' ')[1] as string);
}

t.test('linebus send: a daemon that goes away midway is one line and exit 1', { timeout: 30000 }, async (t) => {
  const { server, port, waitForLog } = await startServer(t, { logLevel: 'debug' } as never);
  const child = linebus(['send', '--port', String(port), 't']);
  const done = finish(child);
  child.stdin.write('one\ntwo\n');
  await waitForLog(/^debug connected/);
  const probe = await LineClient.login(port, 'probe');
  while ((await probe.sync(), server.stats().find(([name]) => name === 'messages_in')?.[1]) !== 2);
  probe.close();
  await server.stop();
  child.stdin.end('three\n');
  const result = await done;
  t.equal(result.code, 1);
  t.equal(result.stderr, 'linebus: the connection was lost after 2 of 3 messages were acknowledged; the others may or may not be journaled\n');
});
