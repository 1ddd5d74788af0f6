/**
 * `linebus recv` as a shell user runs it (real processes against a real
 * daemon): queue groups that start where asked, a daemon restart it
 * survives, failed jobs retried with a growing delay, a command's output
 * passed through, control characters made visible on a terminal, a
 * password asked for at the terminal, and a typo answered in two lines.
 */
import t from 'tap';
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import type { AddressInfo, Socket } from 'node:net';
import { join } from 'node:path';
import type { Command } from 'commander';
import { program } from '../src/cli/main.js';
import { LinebusServer } from '../src/server.js';
import { hashPassword } from '../src/store/passwords.js';
import { BIN, finish, linebus, nodeCommand, run } from './cli-helpers.js';
import { connections, LineClient, startServer, tempDir, TEST_WAL_BYTES } from './helpers.js';
import type { Teardown } from './helpers.js';

/** Sends `line` and reads up to its `ok` or `err` reply. */
async function ask(probe: LineClient, line: string): Promise<string[]> {
  probe.write(line);
  const lines: string[] = [];
  for (;;) {
    const next = await probe.line();
    if (next === undefined) throw new Error(`closed while waiting for the reply to ${line}`);
    lines.push(next);
    if (next.startsWith('ok ') || next.startsWith('err ')) return lines;
  }
}

/** Asks again until `done` holds for the reply; the answers are round trips, not sleeps (a child's start is awaited first: connections()). */
async function askUntil(probe: LineClient, line: string, done: (lines: string[]) => boolean): Promise<string[]> {
  for (;;) {
    const lines = await ask(probe, line);
    if (done(lines)) return lines;
  }
}

const hasScript = spawnSync('sh', ['-c', 'command -v script']).status === 0;

/** Runs `linebus args` on a pseudo-terminal (script(1)), typing `keys` once `prompt` shows. */
async function onTerminal(args: string[], typing?: { prompt: RegExp; keys: string }): Promise<{ code: number | null; screen: string }> {
  const command = [...nodeCommand(), BIN, ...args].map((a) => `'${a}'`).join(' ');
  const child = spawn('script', ['-qec', command, '/dev/null']);
  let screen = '';
  let typed = false;
  child.stdout.setEncoding('utf8').on('data', (text: string) => {
    screen += text;
    if (typing && !typed && typing.prompt.test(screen)) {
      typed = true;
      child.stdin.write(typing.keys);
    }
  });
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  return { code, screen };
}

t.test('recv --take with --since or --last: a new group starts there, so jobs sent before it came', { timeout: 30000 }, async (t) => {
  for (const [start, group, expected] of [
    [['--since', '0'], 'from0', 'jobs 1 alice one\n'],
    [['--last', '1'], 'last1', 'jobs 2 alice two\n'],
  ] as const) {
    const daemon = await startServer(t);
    const { port } = daemon;
    const tx = await LineClient.login(port, 'alice');
    t.same(await ask(tx, 'send jobs one'), ['ok send 1']);
    t.same(await ask(tx, 'send jobs two'), ['ok send 2']);
    const worker = finish(linebus(['recv', '--port', String(port), 'jobs', '--take', group, ...start, '-n', '1']));
    // Once the group exists, a third job: the one a group started at new
    // messages would hand out, so the worker ends either way.
    await connections(daemon, 2);
    await askUntil(tx, `pending ${group}`, (lines) => (lines.at(-1) as string).startsWith('ok '));
    t.same(await ask(tx, 'send jobs three'), ['ok send 3']);
    const done = await worker;
    t.equal(done.code, 0);
    t.equal(done.stdout, expected, `${start.join(' ')}: the group began there`);
    tx.close();
  }
});

t.test('recv reconnects after err shutdown: a restarted daemon on the same port and journal', { timeout: 30000 }, async (t) => {
  const db = join(tempDir(t), 'bus.db');
  let server = await LinebusServer.start({ db, host: '127.0.0.1', port: 0, walPreallocateBytes: TEST_WAL_BYTES });
  const port = server.address().port;
  const tx = await LineClient.login(port, 'alice');
  t.same(await ask(tx, 'send t one'), ['ok send 1']);
  const child = linebus(['recv', '--port', String(port), 't', '--since', '0', '-n', '2']);
  const done = finish(child);
  await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
  await server.stop();
  server = await LinebusServer.start({ db, host: '127.0.0.1', port, walPreallocateBytes: TEST_WAL_BYTES });
  t.teardown(() => server.stop());
  const tx2 = await LineClient.login(port, 'alice');
  t.same(await ask(tx2, 'send t two'), ['ok send 2']);
  const result = await done;
  t.equal(result.stdout, 't 1 alice one\nt 2 alice two\n', 'the one before the restart, then the one after: none lost, none twice');
  t.equal(result.code, 0);
  t.equal(result.stderr, '');
  tx2.close();
});

t.test('a failed --take command is nacked with a delay: one try, then the job waits', { timeout: 30000 }, async (t) => {
  const daemon = await startServer(t);
  const { port } = daemon;
  const dir = tempDir(t);
  const runs = join(dir, 'runs');
  const worker = linebus(['recv', '--port', String(port), 'jobs', '--take', 'g', '--since', '0', '--retry-delay', '1h', '--', 'sh', '-c', `echo "$LINEBUS_ID" >> ${runs}; exit 1`]);
  const done = finish(worker);
  const tx = await LineClient.login(port, 'alice');
  t.same(await ask(tx, 'send jobs fails'), ['ok send 1']);
  // Once the job is back with the group (held by no one: `-`) or gone.
  await connections(daemon, 2);
  const listed = await askUntil(tx, 'pending g', (lines) => lines.at(-1) === 'ok pending g 0' || / - \d+ \d+$/.test(lines[0] as string));
  t.match(listed, [/^pending 1 jobs - \d+ 1$/, 'ok pending g 1'], 'delivered once, then delayed, not dead');
  t.equal(readFileSync(runs, 'utf8'), '1\n', 'the command ran once');
  worker.kill('SIGTERM');
  t.match((await done).stderr, /^linebus: sh failed on jobs 1: exit status 1\n/);
  tx.close();
});

/**
 * A peer that speaks just enough of the protocol to hand out one job
 * again each time it is nacked, and records the nack lines: the delays
 * the client asks for are its words, so they are asserted exactly.
 */
async function jobPeer(t: Teardown, deliveries: number, ackReply = 'ok ack 7'): Promise<{ port: number; nacks: Promise<string[]> }> {
  let resolveNacks: (lines: string[]) => void = () => {};
  const nacks = new Promise<string[]>((resolve) => (resolveNacks = resolve));
  const peers = new Set<Socket>();
  const server = createServer((peer) => {
    peers.add(peer);
    const seen: string[] = [];
    let partial = '';
    peer.write('hello linebus test\n');
    peer.setEncoding('utf8').on('data', (text: string) => {
      const lines = (partial + text).split('\n');
      partial = lines.pop() as string;
      for (const line of lines) {
        const [verb = ''] = line.split(' ', 1);
        if (verb === 'ping') peer.write('pong linebus\n');
        else if (verb === 'login') peer.write('ok login alice\n');
        else if (verb === 'take') peer.write('ok take jobs as g\n');
        else if (verb === 'nack') {
          seen.push(line);
          peer.write('ok nack 7\n');
        } else if (verb === 'ack') peer.write(`${ackReply}\n`);
        else if (verb === 'logoff') peer.end('ok logoff\n');
        if ((verb === 'take' || verb === 'nack') && seen.length < deliveries) peer.write('job jobs 7 alice work\n');
        if (seen.length === deliveries) resolveNacks(seen);
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => {
    for (const peer of peers) peer.destroy();
    server.close();
  });
  return { port: (server.address() as AddressInfo).port, nacks };
}

t.test('--retry-delay doubles for each failure of the same job, up to --retry-max', { timeout: 30000 }, async (t) => {
  const { port, nacks } = await jobPeer(t, 5);
  const worker = linebus(['recv', '--port', String(port), 'jobs', '--take', 'g', '--retry-delay', '500ms', '--retry-max', '3s', '-n', '5', '--', 'false']);
  const done = finish(worker);
  t.same(await nacks, ['nack 7 500ms', 'nack 7 1s', 'nack 7 2s', 'nack 7 3s', 'nack 7 3s']);
  t.equal((await done).code, 0);
});

t.test('an ack the server refuses is reported and recv goes on', { timeout: 30000 }, async (t) => {
  const { port } = await jobPeer(t, 1, 'err notfound job 7 is not held by this connection; its wait ran out');
  const worker = await run(['recv', '--port', String(port), 'jobs', '--take', 'g', '-n', '1', '--', 'true']);
  t.same(worker, { code: 0, signal: null, stdout: '', stderr: 'linebus: ack 7: err notfound job 7 is not held by this connection; its wait ran out\n' });
});

t.test('a port where nothing speaks: no greeting within --connect-timeout, one line', { timeout: 30000 }, async (t) => {
  const silent = createServer(() => {});
  const held = new Set<Socket>();
  silent.on('connection', (socket) => held.add(socket));
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  t.teardown(() => {
    for (const socket of held) socket.destroy();
    silent.close();
  });
  const port = (silent.address() as AddressInfo).port;
  t.same(await run(['send', '--port', String(port), '--connect-timeout', '1', 't', 'x']), { code: 1, signal: null, stdout: '', stderr: `linebus: no greeting from 127.0.0.1:${port} within 1s; is it a linebus port?\n` });
});

t.test("recv -- command: the command's output is passed through; with --reply, all but the reply", { timeout: 30000 }, async (t) => {
  const daemon = await startServer(t);
  const { port } = daemon;
  const at = ['--port', String(port)];
  const tx = await LineClient.login(port, 'alice');
  t.same(await ask(tx, 'send t hello'), ['ok send 1']);
  const echoed = await run(['recv', ...at, 't', '--since', '0', '-n', '1', '--', 'sh', '-c', 'echo "got $LINEBUS_ID:"; cat']);
  t.match(echoed, { code: 0, stdout: 'got 1:\nhello\n', stderr: '' });

  const bot = linebus(['recv', ...at, 'time.now', '-n', '1', '--reply', '--', 'sh', '-c', 'echo noon; echo "asked by $LINEBUS_FROM"']);
  const botDone = finish(bot);
  await connections(daemon, 3);
  await askUntil(tx, 'who time.now', (lines) => lines.at(-1) === 'ok who time.now 1');
  t.match(await run(['request', ...at, '--user', 'carol', 'time.now', 'when?']), { code: 0, stdout: 'noon\n' });
  t.match(await botDone, { code: 0, stdout: 'asked by carol\n' }, 'the first line was the reply; the rest is printed');
  tx.close();
});

t.test('recv on a terminal shows control characters escaped, as tail does; in a pipe, as they are', { timeout: 30000, skip: hasScript ? false : 'script(1) from util-linux is not installed' }, async (t) => {
  const { port } = await startServer(t);
  const tx = await LineClient.login(port, 'alice');
  t.same(await ask(tx, 'send t \u001b[31mred\u0007'), ['ok send 1']);
  const shown = await onTerminal(['recv', '--port', String(port), 't', '--since', '0', '-n', '1']);
  t.equal(shown.code, 0);
  t.match(shown.screen, 't 1 alice \\x1b[31mred\\x07');
  t.notMatch(shown.screen, '\u001b', 'no raw escape reached the terminal');
  const piped = await run(['recv', '--port', String(port), 't', '--since', '0', '-n', '1']);
  t.equal(piped.stdout, 't 1 alice \u001b[31mred\u0007\n');
  tx.close();
});

t.test('--user without a password on a terminal asks for it, without echo', { timeout: 30000, skip: hasScript ? false : 'script(1) from util-linux is not installed' }, async (t) => {
  const { server, port } = await startServer(t);
  server.store.users.put('alice', await hashPassword('s3cret'));
  const tx = await LineClient.login(port, 'alice', 's3cret');
  t.same(await ask(tx, 'send t for alice'), ['ok send 1']);
  const asked = await onTerminal(['recv', '--port', String(port), '--user', 'alice', 't', '--since', '0', '-n', '1'], { prompt: /password for alice at 127\.0\.0\.1:\d+: $/, keys: 's3cret\r' });
  t.equal(asked.code, 0);
  t.match(asked.screen, /password for alice at 127\.0\.0\.1:\d+: \r?\nt 1 alice for alice/);
  t.notMatch(asked.screen, /s3cret/, 'nothing typed is echoed');
  const piped = await run(['recv', '--port', String(port), '--user', 'alice', 't', '--since', '0', '-n', '1'], '');
  t.match(piped, { code: 1, stderr: /^linebus: 127\.0\.0\.1:\d+: err auth / }, 'stdin not a terminal: no prompt');
  tx.close();
});

t.test('a mistyped option: the error and one line naming the help, not the whole help', { timeout: 20000 }, async (t) => {
  t.match(await run(['recv', '--sinse', '0', 't']), { code: 1, stdout: '', stderr: "error: unknown option '--sinse'\n(Did you mean --since?)\n(see 'linebus recv --help')\n" });
  t.match(await run(['serve', '--port', 'seven']), { code: 1, stdout: '', stderr: "error: option '--port <port>' argument 'seven' is invalid. expected a port number from 0 to 65535.\n(see 'linebus serve --help')\n" });
  t.match(await run(['user', 'add']), { code: 1, stderr: "error: missing required argument 'name'\n(see 'linebus user add --help')\n" });
  t.match(await run(['recv', 't', '--retry-delay', 'soon']), { code: 1, stderr: /argument 'soon' is invalid\. expected a duration of at most 30d: a number and a unit, 500ms, 30s, 5m, 2h, 1d\.\n\(see 'linebus recv --help'\)\n$/ });
});

// The help text from the program itself, not from three `--help` children:
// what `linebus <command> --help` prints is this text (it has no added
// help text), and printing it is tested in cli.test.ts.
t.test('linebus.1 documents every option of send, recv and request', { timeout: 20000 }, async (t) => {
  const page = readFileSync(new URL('../../man/linebus.1', import.meta.url), 'utf8');
  const commands = program().commands;
  for (const command of ['send', 'recv', 'request']) {
    const help = (commands.find((c) => c.name() === command) as Command).helpInformation();
    for (const [, option] of help.matchAll(/(--[a-z-]+)/g)) {
      if (option === '--help') continue;
      t.match(page, (option as string).replace(/-/g, '\\-'), `${command} ${option}`);
    }
  }
});
