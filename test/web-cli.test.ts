/**
 * `linebus serve`'s options of the web listener, as a user gives them: on
 * the command line, in the environment, in --config and again on SIGHUP;
 * the combinations it refuses at start with one line; and what a low
 * open-file limit does.
 */
import t from 'tap';
import { spawn } from 'node:child_process';
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { hashPassword } from '../src/store/passwords.js';
import { Store } from '../src/store/store.js';
import { tempDir } from './helpers.js';
import { BIN, finish, nodeCommand, run, serve } from './cli-helpers.js';
import { basic, call } from './web-helpers.js';

t.test('serve: --max-post-bytes, --max-post-lines, --http-host-name, --metrics-open and --http-body-timeout, reloaded by SIGHUP', { timeout: 30000 }, async (t) => {
  const dir = tempDir(t);
  const db = join(dir, 'bus.db');
  // A user for Basic auth, put as `linebus user add` puts one (that command is cli-users.test.ts's).
  const store = Store.open(db);
  store.users.put('alice', await hashPassword('pw'));
  store.close();
  const config = join(dir, 'linebus.conf');
  writeFileSync(config, 'max-post-lines 2\nhttp-body-timeout 30\n');
  const { child, stderr, logged } = await serve(['--db', db, '--http-port', '0', '--http-host-name', 'bus.example,Other.Example', '--metrics-open', '--config', config], { LINEBUS_MAX_POST_BYTES: '100' });
  // A test that fails half-way leaves no daemon behind.
  t.teardown(() => child.kill('SIGKILL'));
  const httpPort = Number(/HTTP on [^\s]+:(\d+)/.exec(stderr())?.[1]);
  const post = (body: string): Promise<{ status: number; text: string }> => call(httpPort, '/t/a', { method: 'POST', body, headers: { Authorization: basic('alice', 'pw') } });
  let answer = await post('1\n2\n3\n');
  t.same([answer.status, answer.text], [413, 'err toolong a body holds at most 2 lines (--max-post-lines); nothing was sent; post fewer lines at a time\n'], 'the file');
  answer = await post('x'.repeat(101));
  t.same([answer.status, answer.text], [413, 'err toolong a body is at most 100 bytes (--max-post-bytes); nothing was sent; post fewer lines at a time\n'], 'the environment');
  answer = await call(httpPort, '/t/a?poll=1', { headers: { Host: `other.example:${httpPort}`, Authorization: basic('alice', 'pw') } });
  t.equal(answer.status, 200, 'a name of --http-host-name');
  answer = await call(httpPort, '/metrics');
  t.equal(answer.status, 200, '--metrics-open: no credentials');
  writeFileSync(config, 'max-post-lines 3\nhttp-body-timeout 30\n');
  child.kill('SIGHUP');
  await logged(/SIGHUP: reloaded .*linebus\.conf: maxPostLines 2 -> 3 users=1/);
  answer = await post('1\n2\n3\n');
  t.same([answer.status, answer.text], [200, 'ok send 1\nok send 2\nok send 3\n'], 'a new --max-post-lines applies at once');
  const done = finish(child);
  child.kill('SIGTERM');
  t.equal((await done).code, 0);
});

t.test('serve: web and TLS options without what they need stop it with one line', { timeout: 30000 }, async (t) => {
  const db = join(tempDir(t), 'bus.db');
  const cases: [string[], string][] = [
    [['--metrics-open'], '--http-host, --http-origin, --http-host-name and --metrics-open need --http-port'],
    [['--http-host-name', 'bus.example'], '--http-host, --http-origin, --http-host-name and --metrics-open need --http-port'],
    [['--tls-host', '0.0.0.0'], '--tls-host needs --tls-port'],
    [['--http-port', '0', '--tls-ca', join(db, 'ca.pem')], '--tls-ca and --tls-verify on the web listener need HTTPS: give --tls-cert and --tls-key too'],
    [['--http-port', '0', '--tls-verify'], '--tls-verify needs --tls-ca, the CA that signs client certificates'],
    [['--max-post-lines', '0'], "option '--max-post-lines <n>' argument '0' is invalid. expected a positive whole number."],
  ];
  for (const [args, message] of cases) {
    const ran = await run(['serve', '--db', db, '--port', '0', ...args]);
    t.same([ran.code, ran.stderr.split('\n')[0]], [1, `${message.startsWith('option') ? 'error' : 'linebus'}: ${message}`], args.join(' '));
  }
});

t.test('under a low open-file limit: a warning at start; within it, idle web sockets hold places until --login-timeout, and TCP is told so', { timeout: 30000 }, async (t) => {
  const dir = tempDir(t);
  const start = (args: string): ChildProcessWithoutNullStreams => {
    const child = spawn('sh', ['-c', `ulimit -n 256 && exec ${nodeCommand().map((a) => `"${a}"`).join(' ')} "${BIN}" serve --port 0 --db "${join(dir, 'bus.db')}" ${args}`]);
    t.teardown(() => child.kill('SIGKILL'));
    return child;
  };
  const warned = await finishAfterReady(start(''));
  t.match(warned, /warn --max-connections 10000 needs about 10032 open files, over this process's limit of 256: past it no listener can accept; raise the limit \(ulimit -n, LimitNOFILE=\) or lower --max-connections/);
  const child = start('--max-connections 100 --login-timeout 1 --http-port 0');
  let stderr = '';
  const logged = (pattern: RegExp): Promise<void> =>
    new Promise((resolve) => {
      const check = (): void => {
        if (pattern.test(stderr)) resolve();
      };
      child.stderr.on('data', check);
      check();
    });
  child.stderr.setEncoding('utf8').on('data', (text: string) => (stderr += text));
  await logged(/listening on [^\s]+:\d+, HTTP on [^\s]+:\d+/);
  const [port, httpPort] = (/listening on [^\s]+:(\d+), HTTP on [^\s]+:(\d+)/.exec(stderr) as RegExpExecArray).slice(1).map(Number) as [number, number];
  t.notMatch(stderr, /open files/, 'within the limit: no warning');
  // More idle web sockets than places (not than files).
  const idle = Array.from({ length: 150 }, () => {
    const socket = connect(httpPort, '127.0.0.1');
    socket.on('error', () => {});
    // Read what comes (a 408, a 503), or the close is never seen.
    socket.resume();
    return new Promise<void>((resolve) => socket.on('close', () => resolve()));
  });
  await logged(/connection refused: server full/);
  t.equal(await firstLine(port), 'err busy the server is full (100 connections); try again later', 'idle web sockets hold every place: a TCP client is told the server is full');
  await Promise.all(idle);
  t.equal(await firstLine(port), 'hello linebus 1.0.0', 'once --login-timeout closed them, TCP gets in');
  const done = finish(child);
  child.kill('SIGTERM');
  t.equal((await done).code, 0);
});

/** stderr of a `serve` until it is ready, then stopped. */
async function finishAfterReady(child: ChildProcessWithoutNullStreams): Promise<string> {
  const done = finish(child);
  await new Promise<void>((resolve) => child.stderr.on('data', (text: Buffer) => /listening on/.test(text.toString()) && resolve()));
  child.kill('SIGTERM');
  return (await done).stderr;
}

/** The first line the line port says to a new connection. */
function firstLine(port: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    let text = '';
    socket.on('data', (chunk: Buffer) => {
      text += chunk.toString();
      if (!text.includes('\n')) return;
      socket.destroy();
      resolve(text.slice(0, text.indexOf('\n')));
    });
    socket.on('close', () => resolve(text));
  });
}
